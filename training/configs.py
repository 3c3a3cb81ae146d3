"""The training setups by name (train.py --config): StyleGAN2's configs A-F and Table 2's architectures, and the
originals' own setups, StyleGAN's train.py (sgan, and sgan-<experiment> for its paper's tables) and ProGAN's v2
presets (pgan-preset-v2), as the arguments of training_loop()."""

import re

from dnnlib import EasyDict

VALID_CONFIGS = [
    'config-a', 'config-b', 'config-c', 'config-d', 'config-e', 'config-f',
    'config-e-Gorig-Dorig', 'config-e-Gorig-Dresnet', 'config-e-Gorig-Dskip',
    'config-e-Gresnet-Dorig', 'config-e-Gresnet-Dresnet', 'config-e-Gresnet-Dskip',
    'config-e-Gskip-Dorig', 'config-e-Gskip-Dresnet', 'config-e-Gskip-Dskip',
    'sgan', 'pgan-preset-v2',
]

# The StyleGAN paper's experiments, as StyleGAN's train.py selects them (its description suffixes): Table 1 (the
# steps from the tuned ProGAN baseline to the style-based generator), Table 2 (mixing regularization), Table 4
# (mapping depth), and WGAN-GP. --config sgan-<name>; plain sgan is the shipped setup (Table 1's last step).
_TRADITIONAL = dict(use_styles=False, use_pixel_norm=True, use_instance_norm=False, truncation_psi=None,
                    const_input_layer=False, style_mixing_prob=0.0, use_noise=False)
SGAN_EXPERIMENTS = {
    'tuned-baseline': dict(_TRADITIONAL, mapping_layers=0),
    'add-mapping-and-styles': dict(const_input_layer=False, style_mixing_prob=0.0, use_noise=False),
    'remove-traditional-input': dict(style_mixing_prob=0.0, use_noise=False),
    'add-noise-inputs': dict(style_mixing_prob=0.0),
    'mixing-regularization': {},
    'mix0': dict(style_mixing_prob=0.0), 'mix50': dict(style_mixing_prob=0.5),
    'mix90': dict(style_mixing_prob=0.9), 'mix100': dict(style_mixing_prob=1.0),
    'traditional-0': dict(_TRADITIONAL, mapping_layers=0), 'traditional-8': dict(_TRADITIONAL, mapping_layers=8),
    'stylebased-0': dict(mapping_layers=0), 'stylebased-1': dict(mapping_layers=1),
    'stylebased-2': dict(mapping_layers=2), 'stylebased-8': dict(mapping_layers=8),
    'wgangp': {},
}
VALID_CONFIGS += ['sgan-' + name for name in SGAN_EXPERIMENTS]

# Minibatch size by resolution for 1, 2, 4 and 8 GPUs (base size, resolution-specific sizes): StyleGAN's train.py
# and ProGAN's v2 presets. ProGAN's v2 presets also set the learning rates.
_ORIGINAL_MINIBATCHES = {
    1: (4, {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4}),
    2: (8, {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8}),
    4: (16, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16}),
    8: (32, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32}),
}
_PROGAN_V2_LRATES = {1: {1024: 0.0015}, 2: {512: 0.0015, 1024: 0.002}, 4: {256: 0.0015, 512: 0.002, 1024: 0.003},
                     8: {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}}
_PROGAN_FP32_MAX_MINIBATCH_PER_GPU = {256: 16, 512: 8, 1024: 4}
_STYLEGAN_LRATES = {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}


def original_minibatches(num_gpus, max_minibatch_per_gpu={}):
    """(minibatch_size_dict, minibatch_gpu_dict) at 4x4...1024x1024 of StyleGAN's and ProGAN's tables: the minibatch
    split evenly among the GPUs, in one round, capped per GPU where asked (ProGAN's fp32 presets)."""
    base, table = _ORIGINAL_MINIBATCHES[num_gpus]
    sizes = {}
    for res in (2 ** r for r in range(2, 11)):
        size = table.get(res, base)
        sizes[res] = min(size - size % num_gpus, max_minibatch_per_gpu.get(res, size) * num_gpus)
    return sizes, {res: size // num_gpus for res, size in sizes.items()}


def training_setup(dataset, config_id, num_gpus, total_kimg=None, gamma=None, fmap_base=None, fmap_max=None,
                   minibatch=None, minibatch_gpu=None):
    """EasyDict(train, G, D, G_opt, D_opt, G_loss, D_loss, sched, grid, desc): the training_loop() arguments of a
    config (NVIDIA's table) with our overrides, and the run description; a ValueError names a value it does not take."""
    train = EasyDict(run_func_name='training.training_loop.training_loop')
    G = EasyDict(func_name='training.networks_stylegan2.G_main')
    D = EasyDict(func_name='training.networks_stylegan2.D_stylegan2')
    G_opt = EasyDict(beta1=0.0, beta2=0.99, epsilon=1e-8)
    D_opt = EasyDict(beta1=0.0, beta2=0.99, epsilon=1e-8)
    G_loss = EasyDict(func_name='training.loss.G_logistic_ns_pathreg')
    D_loss = EasyDict(func_name='training.loss.D_logistic_r1')
    sched = EasyDict()
    grid = EasyDict(size='8k', layout='random')
    sched.G_lrate_base = 0.002
    sched.minibatch_size_base = 32
    sched.minibatch_gpu_base = 4
    D_loss.gamma = 10

    if num_gpus not in (1, 2, 4, 8):
        raise ValueError(f'--num-gpus must be 1, 2, 4 or 8, got {num_gpus}.')
    if config_id not in VALID_CONFIGS:
        raise ValueError(f'--config must be one of {", ".join(VALID_CONFIGS)}, got {config_id!r}.')
    desc = f'stylegan2-{dataset}-{num_gpus}gpu-{config_id}'
    train.total_kimg = total_kimg if total_kimg is not None else (12000 if config_id == 'pgan-preset-v2' else 25000)

    # Configs A-E: the smaller networks of the original StyleGAN.
    if config_id != 'config-f':
        G.fmap_base = D.fmap_base = 8 << 10
    # Config E: gamma 100, and the architectures of Table 2 when named.
    if config_id.startswith('config-e'):
        D_loss.gamma = 100
        match = re.fullmatch(r'config-e-G(\w+)-D(\w+)', config_id)
        if match:
            G.architecture, D.architecture = match.group(1), match.group(2)
    # Configs A-D: progressive growing.
    if config_id in ('config-a', 'config-b', 'config-c', 'config-d'):
        sched.lod_initial_resolution = 8
        sched.G_lrate_base = 0.001
        sched.G_lrate_dict = {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}
        sched.minibatch_size_dict = {8: 256, 16: 128, 32: 64, 64: 32}
        sched.minibatch_gpu_dict = {8: 32, 16: 16, 32: 8, 64: 4}
        G.synthesis_func = 'G_synthesis_stylegan_revised'
        D.func_name = 'training.networks_stylegan2.D_stylegan'
    # Configs A-C: no path length regularization; A-B: no lazy regularization.
    if config_id in ('config-a', 'config-b', 'config-c'):
        G_loss = EasyDict(func_name='training.loss.G_logistic_ns')
    if config_id in ('config-a', 'config-b'):
        train.lazy_regularization = False
    if config_id == 'config-a':
        G = EasyDict(func_name='training.networks_stylegan.G_style')
        D = EasyDict(func_name='training.networks_stylegan.D_basic')

    # The originals' own setups: the StyleGAN paper's (StyleGAN's train.py) and ProGAN's v2 presets (its config.py).
    if config_id.startswith('sgan') or config_id == 'pgan-preset-v2':
        G_loss, D_loss, G, D, desc = _original_setup(config_id, dataset, num_gpus, train, sched, grid, gamma)
    elif gamma is not None:
        D_loss.gamma = gamma
    if fmap_base is not None:
        G.fmap_base = D.fmap_base = fmap_base
    if fmap_max is not None:
        G.fmap_max = D.fmap_max = fmap_max
    if minibatch is not None:
        sched.minibatch_size_base = minibatch
        sched.minibatch_size_dict = {}
    if minibatch_gpu is not None:
        sched.minibatch_gpu_base = minibatch_gpu
        sched.minibatch_gpu_dict = {}
    from training.cluster import check_minibatch_split  # Imports TensorFlow, which --help and bad flags do without.
    check_minibatch_split(sched.minibatch_size_base, sched.minibatch_gpu_base, num_gpus)  # The trainer checks each level's.
    return EasyDict(train=train, G=G, D=D, G_opt=G_opt, D_opt=D_opt, G_loss=G_loss, D_loss=D_loss, sched=sched, grid=grid,
                    desc=desc)


def _original_setup(config_id, dataset, num_gpus, train, sched, grid, gamma):
    """Losses, networks and run description of the StyleGAN and ProGAN setups; fills in train, sched and grid."""
    train.lazy_regularization = False
    train.D_first = True  # Their loops: D step and Gs update, then the G step.
    sched.tick_kimg_base = 160
    sched.G_lrate_base = 0.001
    if config_id.startswith('sgan'):
        experiment = config_id[len('sgan-'):]
        G = EasyDict(func_name='training.networks_stylegan.G_style', **SGAN_EXPERIMENTS.get(experiment, {}))
        D = EasyDict(func_name='training.networks_stylegan.D_basic')
        G_loss = EasyDict(func_name='training.loss.G_logistic_nonsaturating')
        D_loss = EasyDict(func_name='training.loss.D_logistic_simplegp', r1_gamma=10.0 if gamma is None else gamma)
        sched.lod_initial_resolution = 8
        sched.G_lrate_dict = dict(_STYLEGAN_LRATES)
        if experiment == 'wgangp':  # As StyleGAN's train.py: WGAN-GP with learning rates capped at 0.002.
            if gamma is not None:
                raise ValueError('--gamma is the R1 weight; sgan-wgangp trains with WGAN-GP and has no R1.')
            G_loss = EasyDict(func_name='training.loss.G_wgan')
            D_loss = EasyDict(func_name='training.loss.D_wgan_gp')
            sched.G_lrate_dict = {res: min(rate, 0.002) for res, rate in _STYLEGAN_LRATES.items()}
        sched.minibatch_size_dict, sched.minibatch_gpu_dict = original_minibatches(num_gpus)
        sched.tick_kimg_dict = {4: 160, 8: 140, 16: 120, 32: 100, 64: 80, 128: 60, 256: 40, 512: 30, 1024: 20}
        grid.size = '4k'
        return G_loss, D_loss, G, D, f'sgan-{dataset}-{num_gpus}gpu' + (f'-{experiment}' if experiment else '')
    if gamma is not None:
        raise ValueError('--gamma is the R1 weight; the ProGAN preset trains with WGAN-GP and has no R1.')
    G = EasyDict(func_name='training.networks_progan.G_paper')
    D = EasyDict(func_name='training.networks_progan.D_paper')
    G_loss = EasyDict(func_name='training.loss.G_wgan_acgan')
    D_loss = EasyDict(func_name='training.loss.D_wgangp_acgan')
    train.G_smoothing = 0.999
    sched.lod_initial_resolution = 4
    sched.G_lrate_dict = dict(_PROGAN_V2_LRATES[num_gpus])
    sched.minibatch_size_dict, sched.minibatch_gpu_dict = original_minibatches(num_gpus, _PROGAN_FP32_MAX_MINIBATCH_PER_GPU)
    sched.tick_kimg_dict = {4: 160, 8: 140, 16: 120, 32: 100, 64: 80, 128: 60, 256: 40, 512: 20, 1024: 10}
    grid.size = '1080p'
    return G_loss, D_loss, G, D, f'pgan-{dataset}-preset-v2-{num_gpus}gpu{"s" if num_gpus > 1 else ""}-fp32'
