"""StyleGAN2 training loop in TF2: tf.function phases, lazy regularization, Gs as the EMA of G,
minibatch accumulation, tf.distribute replicas, NVIDIA's schedule, log line, snapshots and images.

A minibatch runs the phases of Trainer.phases in NVIDIA's order: G step [+ G regularization every
G_reg_interval] -> Gs update -> D step [+ D regularization every D_reg_interval, on the D step's reals]. Each
accumulates gradients over minibatch_size / (minibatch_gpu * replicas) rounds per replica, then applies one Adam
update with their mean. Reals come as uint8 from tf.data, and are mapped to the network's range, mirrored and faded
inside the step (process_reals). The loop draws one seed per minibatch from a seeded numpy generator; every random
number of the minibatch (latents, labels, path length noise, mirroring, the networks' noise and style mixing) is a
stateless function of it. The generator's state, the dataset's position in its seeded image stream, the optimizer
state and pl_mean are saved with each snapshot, so a resumed run continues exactly where the snapshot was taken.
"""

import collections
import glob
import inspect
import json
import os
import re
import tempfile
import time

import numpy as np
import tensorflow as tf

import dnnlib
import dnnlib.tflib as tflib
from dnnlib.tflib import autosummary
from dnnlib.tflib.ops.upfirdn_2d import downsample_2d, upsample_2d
from dnnlib.tflib.optimizer import Optimizer
from training import dataset
from training import loss as loss_module
from training import misc
from training.images import adjust_dynamic_range, save_image_grid, setup_snapshot_image_grid

# ----------------------------------------------------------------------------
# Schedule: resolution (lod), minibatch, learning rate and tick length as a function of the image count.


def training_schedule(
        cur_nimg,
        training_set,
        lod_initial_resolution=None,    # Image resolution used at the beginning; None = no progressive growing.
        lod_training_kimg=600,          # Thousands of real images to show before doubling the resolution.
        lod_transition_kimg=600,        # Thousands of real images to show when fading in new layers.
        minibatch_size_base=32,         # Global minibatch size.
        minibatch_size_dict={},         # Resolution-specific overrides.
        minibatch_gpu_base=4,           # Images per replica and round.
        minibatch_gpu_dict={},          # Resolution-specific overrides.
        G_lrate_base=0.002,             # Learning rate of both networks (NVIDIA feeds it to D too).
        G_lrate_dict={},                # Resolution-specific overrides.
        D_lrate_base=0.002,             # NVIDIA's, accepted with no effect: its loop feeds G's rate to D as well.
        D_lrate_dict={},                # NVIDIA's, accepted with no effect (as D_lrate_base).
        lrate_rampup_kimg=0,            # Duration of learning rate ramp-up.
        tick_kimg_base=4,               # Default interval of progress snapshots.
        tick_kimg_dict={8: 28, 16: 24, 32: 20, 64: 16, 128: 12, 256: 8, 512: 6, 1024: 4}):
    del D_lrate_base, D_lrate_dict
    s = dnnlib.EasyDict()
    s.kimg = cur_nimg / 1000.0

    # Level of detail.
    phase_dur = lod_training_kimg + lod_transition_kimg
    phase_idx = int(np.floor(s.kimg / phase_dur)) if phase_dur > 0 else 0
    phase_kimg = s.kimg - phase_idx * phase_dur
    if lod_initial_resolution is not None:
        s.lod = training_set.resolution_log2 - np.floor(np.log2(lod_initial_resolution)) - phase_idx
        if lod_transition_kimg > 0:
            s.lod -= max(phase_kimg - lod_training_kimg, 0.0) / lod_transition_kimg
        s.lod = max(s.lod, 0.0)
    else:
        s.lod = 0.0
    s.resolution = 2 ** (training_set.resolution_log2 - int(np.floor(s.lod)))

    s.minibatch_size = minibatch_size_dict.get(s.resolution, minibatch_size_base)
    s.minibatch_gpu = minibatch_gpu_dict.get(s.resolution, minibatch_gpu_base)
    s.G_lrate = G_lrate_dict.get(s.resolution, G_lrate_base)
    if lrate_rampup_kimg > 0:
        rampup = min(s.kimg / lrate_rampup_kimg, 1.0)
        s.G_lrate *= rampup
    s.tick_kimg = tick_kimg_dict.get(s.resolution, tick_kimg_base)
    return s


# ----------------------------------------------------------------------------
# Training steps.


class Phase(collections.namedtuple('Phase', 'name net terms interval opt')):
    """One part of a minibatch: `name` is NVIDIA's optimizer name (TrainG, RegG, TrainD, RegD; Gs for the moving
    average), `net` the network it trains, `terms` what it minimizes ('loss', 'reg' or 'both'), `interval` how often it
    runs (every interval-th minibatch), `opt` its optimizer."""


class Trainer:
    """The networks, optimizers and compiled phases of one run, on one tf.distribute strategy.

    A minibatch runs self.phases in order (NVIDIA's): TrainG (G loss), RegG (path length regularization, every
    G_reg_interval-th minibatch), Gs (moving average of G), TrainD (D loss), RegD (R1, every D_reg_interval-th
    minibatch, on the reals of TrainD). Without lazy regularization: TrainG and TrainD minimize loss and
    regularization together. StyleGAN and ProGAN (D_first) run TrainD and the Gs update first, then TrainG. Each phase accumulates gradients over the minibatch's rounds in every replica, then
    applies one Adam update with their mean.

    All random numbers of a minibatch (latents, random labels, path length noise, mirroring, the networks' noise and
    style mixing) are stateless, keyed on the minibatch's seed, the phase and the chunk of minibatch_gpu images
    (chunk = replica * rounds + round): a run draws the same numbers for the same images whatever the number of
    replicas, and a resumed run draws what the uninterrupted run would have drawn.
    """

    def __init__(self, *, strategy, G, D, Gs, G_opt_args, D_opt_args, G_loss_args, D_loss_args, lazy_regularization=True,
                 G_reg_interval=4, D_reg_interval=16, G_smoothing_kimg=10.0, G_smoothing_beta=None, D_first=False,
                 mirror_augment=False, drange_data=(0, 255), drange_net=(-1, 1), label_table=None):
        self.strategy = strategy
        self.G, self.D, self.Gs = G, D, Gs
        self.G_loss_args, self.D_loss_args = dict(G_loss_args), dict(D_loss_args)
        self.G_loss_func = dnnlib.util.get_obj_by_name(self.G_loss_args.pop('func_name'))
        self.D_loss_func = dnnlib.util.get_obj_by_name(self.D_loss_args.pop('func_name'))
        self.pl_minibatch_shrink = self.G_loss_args.get('pl_minibatch_shrink', 2)
        self.uses_pl = 'pl_mean' in inspect.signature(self.G_loss_func).parameters  # Path length regularization.
        self.G_smoothing_kimg, self.G_smoothing_beta = G_smoothing_kimg, G_smoothing_beta
        self.mirror_augment, self.drange_data, self.drange_net = mirror_augment, list(drange_data), list(drange_net)
        self.label_table = None  # Kept on the CPU in a variable, as in the original: it can be larger than a graph.
        if label_table is not None and np.shape(label_table)[1] > 0:
            with tf.device('/cpu:0'):
                self.label_table = tf.Variable(np.asarray(label_table, np.float32), trainable=False, name='label_table')
        self.resolution_log2 = int(np.log2(D.input_shape[-1]))

        # Lazy regularization: the main phases skip the regularizer, which runs every N minibatches with its weight
        # times N; learning rate and Adam betas are rescaled by N / (N + 1) to compensate.
        G_opt_args, D_opt_args = dict(G_opt_args), dict(D_opt_args)
        self.lrate_ratios = {}
        for args, interval, net in ((G_opt_args, G_reg_interval, 'G'), (D_opt_args, D_reg_interval, 'D')):
            ratio = interval / (interval + 1) if lazy_regularization else 1.0
            self.lrate_ratios[net] = ratio
            args['learning_rate'] = args.get('learning_rate', 0.001) * ratio
            for beta in ('beta1', 'beta2'):
                if beta in args:
                    args[beta] **= ratio

        with strategy.scope():
            self.pl_mean = tf.Variable(0.0, trainable=False, name='pl_mean', aggregation=tf.VariableAggregation.MEAN)
            self.G_opt = Optimizer(name='TrainG', **G_opt_args)
            self.D_opt = Optimizer(name='TrainD', **D_opt_args)
            self.G_opt.setup(list(G.trainables.values()))
            self.D_opt.setup(list(D.trainables.values()))
            self.G_reg_opt = self.D_reg_opt = None
            if lazy_regularization:
                self.G_reg_opt = Optimizer(name='RegG', share=self.G_opt, **G_opt_args)
                self.D_reg_opt = Optimizer(name='RegD', share=self.D_opt, **D_opt_args)
                self.G_reg_opt.setup()
                self.D_reg_opt.setup()

        # A loss has a regularizer when it computes one by default (compute_reg=True); only then is there a Reg phase.
        G_has_reg, D_has_reg = (inspect.signature(func).parameters['compute_reg'].default for func in (self.G_loss_func, self.D_loss_func))
        if lazy_regularization:
            G_phases = ([Phase('TrainG', 'G', 'loss', 1, self.G_opt)] +
                        ([Phase('RegG', 'G', 'reg', G_reg_interval, self.G_reg_opt)] if G_has_reg else []))
            D_phases = ([Phase('TrainD', 'D', 'loss', 1, self.D_opt)] +
                        ([Phase('RegD', 'D', 'reg', D_reg_interval, self.D_reg_opt)] if D_has_reg else []))
        else:
            G_phases, D_phases = [Phase('TrainG', 'G', 'both', 1, self.G_opt)], [Phase('TrainD', 'D', 'both', 1, self.D_opt)]
        Gs_phase = [Phase('Gs', 'Gs', None, 1, None)]
        self.phases = D_phases + Gs_phase + G_phases if D_first else G_phases + Gs_phase + D_phases
        self._round_fns = {}
        self._apply_fns = {phase.name: tflib.tfutil.function(phase.opt.apply_updates) for phase in self.phases if phase.opt}
        self._gs_update_fn = tflib.tfutil.function(self._update_gs)
        self._sum_fn = tflib.tfutil.function(self._sum)
        self._round_indices = []
        self._pending_stats = []

    # -- a minibatch ------------------------------------------------------------

    def run_minibatch(self, index, data, seed, lod, learning_rate, minibatch_gpu):
        """Run the phases due at minibatch number `index`.

        data: (images, labels) per replica, from TFRecordDataset.distributed_minibatches(): uint8 images at the
        resolution of floor(lod), rounds * minibatch_gpu of them per replica. seed: int [2], the minibatch's random
        numbers. learning_rate: the schedule's rate (NVIDIA feeds G's to D too); each phase scales it by its lazy
        regularization ratio. The phases' statistics stay on the device until pop_stats().
        """
        for phase in self.phases:
            if index % phase.interval == 0:
                self.run_phase(phase.name, data, seed, lod, learning_rate, minibatch_gpu)

    def run_phase(self, name, data, seed, lod, learning_rate, minibatch_gpu):
        """One phase of run_minibatch(): every round of its gradient accumulation, then its optimizer update."""
        images, labels = data
        per_replica = self.strategy.experimental_local_results(images)[0].shape
        if per_replica[0] % minibatch_gpu != 0:
            raise ValueError(f'{per_replica[0]} images per replica are not a whole number of rounds of minibatch_gpu={minibatch_gpu}.')
        rounds = per_replica[0] // minibatch_gpu
        if name == 'Gs':
            minibatch_size = per_replica[0] * self.strategy.num_replicas_in_sync
            beta = self.G_smoothing_beta
            if beta is None:
                beta = 0.5 ** (minibatch_size / max(self.G_smoothing_kimg * 1000.0, 1e-8))
            self.update_gs(beta)
            return
        phase_index = [phase.name for phase in self.phases].index(name)
        level = self.resolution_log2 - int(np.log2(per_replica[-1]))
        key = (phase_index, level, minibatch_gpu, rounds)
        if key not in self._round_fns:
            self._round_fns[key] = self._make_round_fn(phase_index, level, minibatch_gpu, rounds)
        seed, lod = tf.constant(seed, tf.int64), tf.constant(lod, tf.float32)
        while len(self._round_indices) < rounds:
            self._round_indices.append(tf.constant(len(self._round_indices), tf.int64))  # int64: oneDNN logs about int32.
        for round_index in self._round_indices[:rounds]:
            self._pending_stats.append(self._round_fns[key](seed, lod, round_index, images, labels))
        rate = learning_rate * self.lrate_ratios[self.phases[phase_index].net]
        with self.strategy.scope():
            applied = self._apply_fns[name](tf.constant(rate, tf.float32))
        self._pending_stats.append({f'{name}/learning_rate': rate, f'{name}/overflow_frequency': 1.0 - tf.cast(applied, tf.float32)})

    def pop_stats(self):
        """Each statistic of the minibatches run since the last call, averaged over the rounds that produced it."""
        sums, counts = {}, {}
        for stats in self._pending_stats:
            for key, value in stats.items():
                sums[key] = sums.get(key, 0.0) + float(value)
                counts[key] = counts.get(key, 0) + 1
        self._pending_stats = []
        return {key: value / counts[key] for key, value in sums.items()}

    def _make_round_fn(self, phase_index, level, minibatch_gpu, rounds):
        def round_fn(seed, lod, round_index, images, labels):
            def replica_fn(images, labels):
                replica = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.int64)
                chunk = replica * rounds + round_index
                part = slice(round_index * minibatch_gpu, (round_index + 1) * minibatch_gpu)
                images_part, labels_part = images[part], labels[part]
                # A static batch size lets shape arithmetic (minibatch stddev groups) fold at trace time.
                images_part.set_shape([minibatch_gpu] + images.shape[1:])
                labels_part.set_shape([minibatch_gpu] + labels.shape[1:])
                return self._accumulate(phase_index, seed, chunk, lod, level, minibatch_gpu, images_part, labels_part)
            stats = self.strategy.run(replica_fn, args=(images, labels))
            return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in stats.items()}
        return tflib.tfutil.function(round_fn)

    # -- per replica ------------------------------------------------------------

    def draw_inputs(self, phase_index, seed, chunk, lod, level, minibatch_gpu, images=None, labels=None):
        """The inputs of one chunk of a phase: an EasyDict of latents and labels (loss), pl_latents, pl_labels and
        pl_noise (path length regularization), reals and labels (D). Drawn first in the phase's random scope, so
        that a test can see what a phase computed with."""
        with self._random_scope(phase_index, seed, chunk):
            return self._draw_inputs(self.phases[phase_index], seed, chunk, lod, level, minibatch_gpu, images, labels)

    @staticmethod
    def _chunk_seed(seed, chunk):
        return tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), tf.cast(chunk, tf.int64))

    def _random_scope(self, phase_index, seed, chunk):
        return tflib.reproducible_random(tf.random.experimental.stateless_fold_in(self._chunk_seed(seed, chunk), phase_index + 1))

    def _draw_inputs(self, phase, seed, chunk, lod, level, n, images, labels):
        G = self.G
        inputs = dnnlib.EasyDict()
        if phase.net == 'D':
            # Keyed on the chunk only, not the phase: TrainD and RegD see the same mirrored reals.
            with tflib.reproducible_random(self._chunk_seed(seed, chunk)):
                inputs.reals = process_reals(images, lod, level, self.mirror_augment, self.drange_data, self.drange_net)
            inputs.labels = tf.cast(labels, tf.float32)
        if phase.terms in ('loss', 'both'):
            inputs.latents = tflib.random_normal([n] + G.input_shape[1:])
            if phase.net == 'G':
                inputs.labels = self._random_labels(n)
        if phase.terms in ('reg', 'both') and phase.net == 'G' and self.uses_pl:
            pl_n = max(n // self.pl_minibatch_shrink, 1)
            image_shape = G.output_shape[1:]
            inputs.pl_latents = tflib.random_normal([pl_n] + G.input_shape[1:])
            inputs.pl_labels = self._random_labels(pl_n)
            inputs.pl_noise = tflib.random_normal([pl_n] + image_shape) * loss_module.pl_noise_scale(image_shape)
        return inputs

    def _random_labels(self, n):
        """Labels of uniformly random dataset entries (NVIDIA's get_random_labels_tf); zero-width without labels."""
        if self.label_table is None:
            return tf.zeros([n, 0])
        index = tflib.random_uniform([n], 0, self.label_table.shape[0], dtype=tf.int64)
        return tf.gather(self.label_table, index)

    def _accumulate(self, phase_index, seed, chunk, lod, level, minibatch_gpu, images, labels):
        """One round in one replica: gradients of the mean loss (or regularizer) added to the phase's accumulators."""
        phase = self.phases[phase_index]
        net = self.G if phase.net == 'G' else self.D
        variables = list(net.trainables.values())
        with tf.GradientTape() as tape, self._random_scope(phase_index, seed, chunk), autosummary.collect() as reports:
            inputs = self._draw_inputs(phase, seed, chunk, lod, level, minibatch_gpu, images, labels)
            loss, reg = self._losses(phase, inputs, level)
            terms = []
            if loss is not None:
                terms.append(tf.reduce_mean(loss))
            if reg is not None:
                terms.append(tf.reduce_mean(reg * phase.interval))
            total = tf.add_n(terms)
        phase.opt.accumulate(tape.gradient(total, variables))
        # NVIDIA's values (Loss/scores/real, Loss/pl_lengths, ...), plus the loss and the regularization term as
        # a whole (Loss/G/loss, Loss/G/reg, Loss/D/loss, Loss/D/reg).
        stats = {name: tf.reduce_mean(tf.concat(values, axis=0)) for name, values in reports.items()}
        if loss is not None:
            stats[f'Loss/{phase.net}/loss'] = tf.reduce_mean(loss)
        if reg is not None:
            stats[f'Loss/{phase.net}/reg'] = tf.reduce_mean(reg)
        return stats

    def _losses(self, phase, inputs, level):
        compute = dict(compute_loss=phase.terms in ('loss', 'both'), compute_reg=phase.terms in ('reg', 'both'))
        # At level L (L <= lod < L + 1) the progressive networks skip the levels finer than resolution / 2**L.
        G, D = (self.G, self.D) if level == 0 else (_SkipFinerLevels(self.G, level), _SkipFinerLevels(self.D, level))
        if phase.net == 'G':
            kwargs = dict(self.G_loss_args, pl_mean=self.pl_mean) if self.uses_pl else self.G_loss_args
            return self.G_loss_func(G=G, D=D, inputs=inputs, **compute, **kwargs)
        return self.D_loss_func(G=G, D=D, inputs=inputs, **compute, **self.D_loss_args)

    # -- cross replica --------------------------------------------------------

    def any_replica(self, flag):
        """True if `flag` is true in any process of the run (e.g. abort.txt seen by the chief): all stop together."""
        if self.strategy.num_replicas_in_sync == 1:
            return bool(flag)
        with self.strategy.scope():
            value = self.strategy.experimental_distribute_values_from_function(lambda _ctx: tf.constant(float(flag)))
            return float(self._sum_fn(value)) > 0

    def _sum(self, per_replica):
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def _update_gs(self, beta):
        self.Gs.setup_as_moving_average_of(self.G, beta=beta)

    def update_gs(self, beta):
        with self.strategy.scope():
            self._gs_update_fn(tf.constant(beta, tf.float32))

    def reset_optimizers(self):
        """Forget Adam's moments and step counts (NVIDIA's reset_opt_for_new_lod when the resolution changes)."""
        with self.strategy.scope():
            for opt in (self.G_opt, self.D_opt):
                opt.reset_optimizer_state()

    def checkpoint_variables(self):
        """Everything a resumed run needs besides the pickled networks: optimizer state and pl_mean."""
        state = {'pl_mean': self.pl_mean}
        for opt in (self.G_opt, self.D_opt):
            state.update(opt.state_variables())
        return state


class _SkipFinerLevels:
    """A network whose calls build only the levels that a lod >= `level` uses (min_lod=level): the original's
    'recursive' structure, as one trace per level. The training step is traced per level anyway (its reals come at
    the level's resolution), so this costs no extra tracing and needs no tf.cond in the gradients."""

    def __init__(self, net, level):
        self.net, self.level = net, level

    def get_output_for(self, *in_expr, **kwargs):
        return self.net.get_output_for(*in_expr, min_lod=self.level, **kwargs)


def process_reals(x, lod, level, mirror_augment, drange_data, drange_net):
    """NVIDIA's process_reals, in the step: uint8 reals [N, C, h, h] at the resolution of level = floor(lod) to the
    network's range, mirrored at random (left-right, each image with probability 1/2), faded towards the next coarser
    level by lod - floor(lod), then nearest-upsampled by 2^level to full resolution."""
    x = adjust_dynamic_range(tf.cast(x, tf.float32), drange_data, drange_net)
    if mirror_augment:
        flip = tflib.random_uniform([tf.shape(x)[0], 1, 1, 1]) < 0.5
        x = tf.where(flip, tf.reverse(x, axis=[3]), x)
    coarse = upsample_2d(downsample_2d(x, data_format='NCHW'), data_format='NCHW')  # 2x2 box, then nearest.
    x = x + (coarse - x) * (lod - tf.floor(lod))
    return upsample_2d(x, factor=2 ** level, data_format='NCHW') if level > 0 else x


# ----------------------------------------------------------------------------
# Snapshots: NVIDIA's pickle plus a TF checkpoint with the rest of the training state.


def snapshot_paths(run_dir, kimg):
    base = os.path.join(run_dir, 'network-snapshot-%06d' % kimg)
    return base + '.pkl', base + '.ckpt', base + '.json'


def save_snapshot(run_dir, kimg, trainer, loop_state, is_chief=True):
    """Write the state and checkpoint first, the pickle last: a pickle exists only for complete snapshots.

    In a multi-worker run every worker writes the checkpoint (TF expects all workers to take part in saving) but
    only the chief keeps it; the others write it to a temporary directory, removed at once, and nothing else.
    """
    if not is_chief:
        with tempfile.TemporaryDirectory(prefix='stylegan2-worker-ckpt-') as tmp:
            tf.train.Checkpoint(**trainer.checkpoint_variables()).write(os.path.join(tmp, 'ckpt'))
        return None
    pkl, ckpt, state_json = snapshot_paths(run_dir, kimg)
    tf.train.Checkpoint(**trainer.checkpoint_variables()).write(ckpt)
    with dnnlib.util.atomic_write(state_json, 'w') as f:
        json.dump(loop_state, f)
    misc.save_pkl((trainer.G, trainer.D, trainer.Gs), pkl)
    return pkl


def find_latest_snapshot(run_dir):
    """The newest complete snapshot (pickle + checkpoint + state) in run_dir, or None."""
    candidates = []
    for pkl in glob.glob(os.path.join(run_dir, 'network-snapshot-*.pkl')):
        match = re.search(r'network-snapshot-(\d+)\.pkl$', pkl)
        _, ckpt, state_json = snapshot_paths(run_dir, int(match.group(1)))
        if os.path.exists(ckpt + '.index') and os.path.exists(state_json):
            candidates.append((int(match.group(1)), pkl))
    return max(candidates)[1] if candidates else None


# ----------------------------------------------------------------------------
# Main loop.


def training_loop(
        G_args={},                      # Options for the generator network.
        D_args={},                      # Options for the discriminator network.
        G_opt_args={},                  # Options for the generator optimizer.
        D_opt_args={},                  # Options for the discriminator optimizer.
        G_loss_args={},                 # Options for the generator loss.
        D_loss_args={},                 # Options for the discriminator loss.
        dataset_args={},                # Options for dataset.load_dataset().
        sched_args={},                  # Options for training_schedule().
        grid_args={},                   # Options for setup_snapshot_image_grid().
        metrics_callback=None,          # f(network_pkl, run_dir) -> {name: value}, run at every network snapshot (train.py's
                                        # --metrics; training/ does not import metrics/).
        tf_config={},                   # Options for tflib.init_tf().
        data_dir=None,                  # Directory to load datasets from.
        G_smoothing_kimg=10.0,          # Half-life of the running average of generator weights.
        G_smoothing=None,               # ProGAN's fixed beta of that running average (0.999); None = from G_smoothing_kimg.
        D_first=False,                  # StyleGAN and ProGAN: D step and Gs update first, then the G step.
        minibatch_repeats=4,            # Minibatches per schedule update.
        lazy_regularization=True,       # Perform regularization as a separate training step?
        G_reg_interval=4,               # How often the generator regularization step runs.
        D_reg_interval=16,              # How often the discriminator regularization step runs.
        reset_opt_for_new_lod=True,     # Reset optimizer internal state (e.g. Adam moments) when new layers are introduced?
        total_kimg=25000,               # Total length of the training, in thousands of real images.
        mirror_augment=False,           # Mirror the real images horizontally at random?
        drange_net=[-1, 1],             # Dynamic range used when feeding image data to the networks.
        image_snapshot_ticks=50,        # How often to save image snapshots (None = only at the start).
        network_snapshot_ticks=50,      # How often to save network snapshots (None = only at the end).
        save_tf_graph=False,            # NVIDIA's: the TF1 graph in the event file. Accepted, no effect (no TF1 graph).
        save_weight_histograms=False,   # NVIDIA's: weight histograms in the event file. Accepted, no effect.
        resume_pkl=None,                # Network pickle (ours with its checkpoint continues exactly) or None.
        resume_kimg=0.0,                # Image count to continue from when resume_pkl has no checkpoint.
        resume_time=0.0,                # Training time to continue from when resume_pkl has no checkpoint.
        resume_with_new_nets=False,     # Build new networks from G_args/D_args and copy the pickle's variables into them?
        num_gpus=1,                     # Number of replicas (GPUs, or logical CPU devices).
        random_seed=1000,               # Seed of all random inputs (latents, noise, mirroring).
        max_ticks=None):                # Stop after this many ticks (tests and benchmarks).
    """Train G and D; write snapshots, images and TensorBoard events to the run dir. Returns (G, D, Gs).

    Takes NVIDIA's arguments; the two that only change TensorBoard's content (save_tf_graph, save_weight_histograms)
    are accepted and do nothing. In a multi-worker run only the chief writes to the run dir; it stops when
    <run_dir>/abort.txt appears, at the next tick, after a network snapshot of that tick.
    """
    del save_tf_graph, save_weight_histograms
    run_dir = dnnlib.make_run_dir_path()
    tflib.init_tf(tf_config)
    rnd = np.random.default_rng(random_seed)
    strategy = make_strategy(num_gpus)
    is_chief = strategy.extended.should_checkpoint  # False only on the other workers of a multi-worker run.

    # Dataset.
    training_set = dataset.load_dataset(data_dir=dnnlib.convert_path(data_dir) if data_dir else None, verbose=True,
                                        **{'shuffle_seed': random_seed, **dataset_args})
    grid_size, grid_reals, grid_labels = setup_snapshot_image_grid(training_set, **grid_args)
    if is_chief:
        save_image_grid(grid_reals, dnnlib.make_run_dir_path('reals.png'), drange=training_set.dynamic_range, grid_size=grid_size)

    # Networks.
    loop_state = dict(cur_nimg=int(resume_kimg * 1000), cur_tick=-1, total_time=float(resume_time), prev_lod=-1.0)
    with strategy.scope():
        if resume_pkl is None or resume_with_new_nets:
            print('Constructing networks...')
            G = tflib.Network('G', num_channels=training_set.shape[0], resolution=training_set.shape[1], label_size=training_set.label_size, **G_args)
            D = tflib.Network('D', num_channels=training_set.shape[0], resolution=training_set.shape[1], label_size=training_set.label_size, **D_args)
            Gs = G.clone('Gs')
        if resume_pkl is not None:
            print('Loading networks from "%s"...' % resume_pkl)
            rG, rD, rGs = misc.load_pkl(resume_pkl)
            if resume_with_new_nets:
                G.copy_vars_from(rG)
                D.copy_vars_from(rD)
                Gs.copy_vars_from(rGs)
            else:
                G, D, Gs = rG, rD, rGs
            _check_networks_match_dataset(G, D, training_set, resume_pkl)
    G.print_layers()
    D.print_layers()
    trainer = Trainer(strategy=strategy, G=G, D=D, Gs=Gs, G_opt_args=G_opt_args, D_opt_args=D_opt_args, G_loss_args=G_loss_args,
                      D_loss_args=D_loss_args, lazy_regularization=lazy_regularization, G_reg_interval=G_reg_interval,
                      D_reg_interval=D_reg_interval, G_smoothing_kimg=G_smoothing_kimg, G_smoothing_beta=G_smoothing,
                      D_first=D_first, mirror_augment=mirror_augment,
                      drange_data=training_set.dynamic_range, drange_net=drange_net, label_table=training_set.label_table)
    if resume_pkl is not None:
        loop_state = _restore_training_state(resume_pkl, trainer, rnd, loop_state)
        training_set.position = loop_state.get('data_position', 0)

    grid_latents = np.random.RandomState(random_seed).randn(np.prod(grid_size), *G.input_shape[1:]).astype(np.float32)
    if loop_state['cur_tick'] < 0 and is_chief:
        grid_fakes = Gs.run(grid_latents, grid_labels, is_validation=True, minibatch_size=16)
        save_image_grid(grid_fakes, dnnlib.make_run_dir_path('fakes_init.png'), drange=drange_net, grid_size=grid_size)

    summary_writer = tf.summary.create_file_writer(run_dir) if is_chief else tf.summary.create_noop_writer()
    print('Training for %d kimg...\n' % total_kimg)
    run_context = dnnlib.RunContext.get()
    cur_nimg = loop_state['cur_nimg']
    cur_tick = loop_state['cur_tick']  # -1 on a fresh start: the first tick comes after the first minibatches.
    tick_start_nimg = cur_nimg
    start_time = time.time() - loop_state['total_time']
    tick_start_time = time.time()
    maintenance_time = 0.0
    minibatch_counter = loop_state.get('minibatch_counter', 0)
    prev_lod = loop_state.get('prev_lod', -1.0)
    minibatches, minibatches_key = None, None

    while cur_nimg < total_kimg * 1000:
        sched = training_schedule(cur_nimg, training_set, **sched_args)
        _check_rounds(sched, strategy.num_replicas_in_sync)
        if minibatches_key != (sched.minibatch_size, np.floor(sched.lod)):  # A new pipeline at the current position.
            minibatches = training_set.distributed_minibatches(strategy, sched.minibatch_size, sched.lod)
            minibatches_key = (sched.minibatch_size, np.floor(sched.lod))
        if reset_opt_for_new_lod and (np.floor(sched.lod) != np.floor(prev_lod) or np.ceil(sched.lod) != np.ceil(prev_lod)):
            trainer.reset_optimizers()
        prev_lod = sched.lod
        for net in (G, D):
            if 'lod' in net.vars:
                net.set_var('lod', sched.lod)

        for _repeat in range(minibatch_repeats):
            trainer.run_minibatch(minibatch_counter, next(minibatches), rnd.integers(1 << 62, size=2), sched.lod,
                                  sched.G_lrate, sched.minibatch_gpu)  # NVIDIA feeds G's learning rate to D as well.
            cur_nimg += sched.minibatch_size
            minibatch_counter += 1

        # Tick: log, images and snapshots.
        done = cur_nimg >= total_kimg * 1000
        if cur_tick < 0 or cur_nimg >= tick_start_nimg + sched.tick_kimg * 1000 or done:
            cur_tick += 1
            tick_time = time.time() - tick_start_time
            total_time = time.time() - start_time
            kimg = cur_nimg / 1000.0
            sec_per_kimg = tick_time / max(kimg - tick_start_nimg / 1000.0, 1e-8)
            peak_mem = _peak_memory_gb()
            print('tick %-5d kimg %-8.1f lod %-5.2f minibatch %-4d time %-12s sec/tick %-7.1f sec/kimg %-7.2f maintenance %-6.1f gpumem %.1f' % (
                cur_tick, kimg, sched.lod, sched.minibatch_size, dnnlib.util.format_time(total_time), tick_time,
                sec_per_kimg, maintenance_time, peak_mem), flush=True)
            maintenance_start = time.time()
            stats = trainer.pop_stats()
            _check_finite(stats, run_dir)
            # Creating <run_dir>/abort.txt asks the run to stop; every worker stops at the same tick.
            run_context.update('%.2f' % sched.lod, cur_epoch=cur_nimg // 1000, max_epoch=total_kimg)
            abort = trainer.any_replica(run_context.should_stop())
            with summary_writer.as_default(step=int(cur_nimg)):
                for key, value in stats.items():
                    tf.summary.scalar(key, value)
                for key, value in (('Progress/tick', cur_tick), ('Progress/kimg', kimg), ('Progress/lod', sched.lod),
                                   ('Progress/minibatch', sched.minibatch_size), ('Timing/total_sec', total_time),
                                   ('Timing/sec_per_tick', tick_time), ('Timing/sec_per_kimg', sec_per_kimg),
                                   ('Timing/maintenance_sec', maintenance_time), ('Resources/peak_gpu_mem_gb', peak_mem),
                                   ('Timing/total_hours', total_time / 3600.0), ('Timing/total_days', total_time / 86400.0)):
                    tf.summary.scalar(key, value)
            summary_writer.flush()

            if is_chief and image_snapshot_ticks is not None and (cur_tick % image_snapshot_ticks == 0 or done or abort):
                grid_fakes = Gs.run(grid_latents, grid_labels, is_validation=True, minibatch_size=16)
                save_image_grid(grid_fakes, dnnlib.make_run_dir_path('fakes%06d.png' % (cur_nimg // 1000)), drange=drange_net, grid_size=grid_size)
            if (network_snapshot_ticks is not None and (cur_tick % network_snapshot_ticks == 0 or done)) or abort:
                loop_state = dict(cur_nimg=cur_nimg, cur_tick=cur_tick, total_time=time.time() - start_time, prev_lod=prev_lod,
                                  minibatch_counter=minibatch_counter, data_position=training_set.position,
                                  rng=rnd.bit_generator.state)
                pkl = save_snapshot(run_dir, cur_nimg // 1000, trainer, loop_state, is_chief)
                if metrics_callback is not None and pkl is not None:
                    results = metrics_callback(pkl, run_dir)
                    with summary_writer.as_default(step=int(cur_nimg)):
                        for name, value in results.items():
                            tf.summary.scalar('Metrics/' + name, value)
                    summary_writer.flush()

            tick_start_nimg = cur_nimg
            maintenance_time = time.time() - maintenance_start
            tick_start_time = time.time()
            if abort:
                print('Stopping: abort.txt found in %s.' % run_dir, flush=True)
                break
            if max_ticks is not None and cur_tick + 1 >= max_ticks:
                break

    if is_chief:
        misc.save_pkl((G, D, Gs), dnnlib.make_run_dir_path('network-final.pkl'))
    summary_writer.close()
    return G, D, Gs


# ----------------------------------------------------------------------------
# Helpers of the loop.


def make_strategy(num_gpus):
    """MirroredStrategy over num_gpus GPUs; without GPUs over num_gpus logical CPU devices; 1 = default."""
    if 'TF_CONFIG' in os.environ:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if num_gpus == 1:
        return tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices('GPU')
    if gpus:
        if len(gpus) < num_gpus:
            raise ValueError(f'--num-gpus={num_gpus}, but only {len(gpus)} GPUs are visible.')
        return tf.distribute.MirroredStrategy([gpu.name for gpu in gpus[:num_gpus]])
    cpus = tf.config.list_logical_devices('CPU')
    if len(cpus) < num_gpus:
        raise ValueError(f'--num-gpus={num_gpus} on a machine without GPUs needs {num_gpus} logical CPU devices; '
                         f'call training_loop.split_cpu({num_gpus}) before TensorFlow starts (train.py does).')
    return tf.distribute.MirroredStrategy([cpu.name for cpu in cpus[:num_gpus]])


def is_chief_worker():
    """Whether this process writes the run's files: yes, except on the other workers of a multi-worker run.

    As in tf.distribute, the chief is the task of type 'chief' in TF_CONFIG or, when the cluster has none, worker 0.
    Reads only the environment, so it can be asked before TensorFlow starts.
    """
    if 'TF_CONFIG' not in os.environ:
        return True
    try:
        config = json.loads(os.environ['TF_CONFIG'])
        task, cluster = config.get('task', {}), config.get('cluster', {})
        if task.get('type') == 'chief':
            return True
        return 'chief' not in cluster and task.get('type') == 'worker' and int(task.get('index', 0)) == 0
    except (ValueError, AttributeError, TypeError) as err:
        raise ValueError(f'TF_CONFIG is not valid: {err}; expected JSON like {{"cluster": {{"worker": ["host1:12345", '
                         f'"host2:12345"]}}, "task": {{"type": "worker", "index": 0}}}}.') from err


def split_cpu(num_devices):
    """Split the physical CPU into num_devices logical devices, so MirroredStrategy runs on machines without GPUs."""
    cpus = tf.config.list_physical_devices('CPU')
    if not tf.config.list_physical_devices('GPU') and num_devices > 1:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * num_devices)


def _check_rounds(sched, num_replicas):
    per_round = sched.minibatch_gpu * num_replicas
    if sched.minibatch_size % per_round != 0:
        raise ValueError(f'The minibatch ({sched.minibatch_size}) must be a multiple of minibatch_gpu ({sched.minibatch_gpu}) '
                         f'times the number of replicas ({num_replicas}); change --minibatch or --minibatch-gpu.')


def _check_finite(stats, run_dir):
    bad = {k: float(v) for k, v in stats.items() if not np.isfinite(float(v))}
    if bad:
        raise FloatingPointError(f'Training diverged: {bad} is not finite. The last good snapshot in {run_dir} is kept; '
                                 f'resume from it with a lower learning rate or a higher --gamma.')


def _check_networks_match_dataset(G, D, training_set, pkl):
    expected = [None] + list(training_set.shape)
    if D.input_shape != expected:
        raise ValueError(f'Resume pickle {pkl}: its networks take images {D.input_shape[1:]}, '
                         f'but the dataset has {list(training_set.shape)}.')


def _restore_training_state(resume_pkl, trainer, rnd, loop_state):
    """Load optimizer state, pl_mean, image count and random state saved beside one of our snapshots."""
    match = re.search(r'network-snapshot-(\d+)\.pkl$', resume_pkl)
    if not match:
        return loop_state
    _, ckpt, state_json = snapshot_paths(os.path.dirname(resume_pkl), int(match.group(1)))
    if not (os.path.exists(ckpt + '.index') and os.path.exists(state_json)):
        print('No training state beside "%s": optimizer state starts fresh.' % resume_pkl)
        return loop_state
    with trainer.strategy.scope():
        tf.train.Checkpoint(**trainer.checkpoint_variables()).read(ckpt).assert_consumed()
    with open(state_json) as f:
        state = json.load(f)
    rnd.bit_generator.state = state.pop('rng')
    print('Resuming at %.1f kimg.' % (state['cur_nimg'] / 1000.0))
    return state


def _peak_memory_gb():
    try:
        return tf.config.experimental.get_memory_info('GPU:0')['peak'] / 2 ** 30
    except (ValueError, tf.errors.NotFoundError):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # Linux reports KiB.
