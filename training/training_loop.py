"""The StyleGAN2 training loop in TF2: NVIDIA's schedule (resolution, minibatch, learning rate and tick length by
image count), then minibatches, ticks (log line, TensorBoard, abort.txt), image grids and network snapshots.

The phases of a minibatch and their compiled steps are in trainer.py, what a snapshot writes and reads in
snapshot.py, the replicas (tf.distribute strategy, chief, minibatch split) in cluster.py, the stop on SIGTERM (a
snapshot at the same minibatch on every worker) in preemption.py. The loop draws one seed
per minibatch from a seeded numpy generator; every random number of the minibatch is a stateless function of it.
The generator's state, the dataset's position in its seeded image stream, the optimizer state and the losses'
variables are saved with each snapshot, so a resumed run continues exactly where the snapshot was taken.
"""

import resource
import time

import numpy as np
import tensorflow as tf

import dnnlib
import dnnlib.tflib as tflib
from training import dataset
from training import misc
from training.images import save_image_grid, setup_snapshot_image_grid
from training.cluster import make_strategy
from training.preemption import PREEMPTED_EXIT_CODE, PreemptionWatch
from training.snapshot import restore_training_state, save_snapshot
from training.trainer import Trainer

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
            data_shape = dict(num_channels=training_set.shape[0], resolution=training_set.shape[1], label_size=training_set.label_size)
            G = tflib.Network('G', **data_shape, **G_args)
            D = tflib.Network('D', **data_shape, **D_args)
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
        loop_state = restore_training_state(resume_pkl, trainer, rnd, loop_state)
        training_set.position = loop_state.get('data_position', 0)

    grid_latents = np.random.RandomState(random_seed).randn(np.prod(grid_size), *G.input_shape[1:]).astype(np.float32)
    if loop_state['cur_tick'] < 0 and is_chief:
        grid_fakes = Gs.run(grid_latents, grid_labels, is_validation=True, minibatch_size=16)
        save_image_grid(grid_fakes, dnnlib.make_run_dir_path('fakes_init.png'), drange=drange_net, grid_size=grid_size)

    summary_writer = tf.summary.create_file_writer(run_dir) if is_chief else tf.summary.create_noop_writer()
    preemption = PreemptionWatch(strategy)  # SIGTERM from here on stops the run with a snapshot.
    print('Training for %d kimg...\n' % total_kimg, flush=True)
    run_context = dnnlib.RunContext.get()
    cur_nimg = loop_state['cur_nimg']
    cur_tick = loop_state['cur_tick']  # -1 on a fresh start: the first tick comes after the first minibatches.
    tick_start_nimg = loop_state.get('tick_start_nimg', cur_nimg)
    # The schedule is read once per minibatch_repeats minibatches, at sched_nimg; a SIGTERM may stop the run
    # between two of them, and the resumed run finishes that group on the same schedule.
    sched_nimg = loop_state.get('sched_nimg', cur_nimg)
    start_time = time.time() - loop_state['total_time']
    tick_start_time = time.time()
    maintenance_time = 0.0
    minibatch_counter = loop_state.get('minibatch_counter', 0)
    prev_lod = loop_state.get('prev_lod', -1.0)
    minibatches, minibatches_key = None, None

    def snapshot():
        state = dict(cur_nimg=cur_nimg, cur_tick=cur_tick, total_time=time.time() - start_time, prev_lod=prev_lod,
                     minibatch_counter=minibatch_counter, data_position=training_set.position,
                     rng=rnd.bit_generator.state, tick_start_nimg=tick_start_nimg, sched_nimg=sched_nimg)
        return save_snapshot(run_dir, cur_nimg // 1000, trainer, state, is_chief)

    try:
        while cur_nimg < total_kimg * 1000:
            sched = training_schedule(sched_nimg, training_set, **sched_args)
            if minibatches_key != (sched.minibatch_size, np.floor(sched.lod)):  # A new pipeline at the current position.
                minibatches = training_set.distributed_minibatches(strategy, sched.minibatch_size, sched.lod)
                minibatches_key = (sched.minibatch_size, np.floor(sched.lod))
            if reset_opt_for_new_lod and (np.floor(sched.lod) != np.floor(prev_lod) or np.ceil(sched.lod) != np.ceil(prev_lod)):
                trainer.reset_optimizers()
            prev_lod = sched.lod
            for net in (G, D):
                if 'lod' in net.vars:
                    net.set_var('lod', sched.lod)

            for _repeat in range((cur_nimg - sched_nimg) // sched.minibatch_size, minibatch_repeats):
                trainer.run_minibatch(minibatch_counter, next(minibatches), rnd.integers(1 << 62, size=2), sched.lod,
                                      sched.G_lrate, sched.minibatch_gpu)  # NVIDIA feeds G's learning rate to D as well.
                cur_nimg += sched.minibatch_size
                minibatch_counter += 1
                if preemption.after_minibatch(snapshot):
                    print('Stopping: SIGTERM received; snapshot written at %.3f kimg. Continue with --resume latest.'
                          % (cur_nimg / 1000.0), flush=True)
                    summary_writer.close()
                    raise SystemExit(PREEMPTED_EXIT_CODE)
            sched_nimg = cur_nimg

            # Tick: log, images and snapshots.
            done = cur_nimg >= total_kimg * 1000
            if cur_tick < 0 or cur_nimg >= tick_start_nimg + sched.tick_kimg * 1000 or done:
                cur_tick += 1
                tick_time = time.time() - tick_start_time
                total_time = time.time() - start_time
                kimg = cur_nimg / 1000.0
                sec_per_kimg = tick_time / max(kimg - tick_start_nimg / 1000.0, 1e-8)
                mem_name, mem_key, peak_mem = peak_memory_gb()
                print(('tick %-5d kimg %-8.1f lod %-5.2f minibatch %-4d time %-12s sec/tick %-7.1f sec/kimg %-7.2f '
                       'maintenance %-6.1f %s %.1f') % (
                    cur_tick, kimg, sched.lod, sched.minibatch_size, dnnlib.util.format_time(total_time), tick_time,
                    sec_per_kimg, maintenance_time, mem_name, peak_mem), flush=True)
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
                                       ('Timing/maintenance_sec', maintenance_time), (mem_key, peak_mem),
                                       ('Timing/total_hours', total_time / 3600.0), ('Timing/total_days', total_time / 86400.0)):
                        tf.summary.scalar(key, value)
                summary_writer.flush()

                if is_chief and image_snapshot_ticks is not None and (cur_tick % image_snapshot_ticks == 0 or done or abort):
                    grid_fakes = Gs.run(grid_latents, grid_labels, is_validation=True, minibatch_size=16)
                    save_image_grid(grid_fakes, dnnlib.make_run_dir_path('fakes%06d.png' % (cur_nimg // 1000)), drange=drange_net,
                                    grid_size=grid_size)
                if (network_snapshot_ticks is not None and (cur_tick % network_snapshot_ticks == 0 or done)) or abort:
                    tick_start_nimg = cur_nimg
                    pkl = snapshot()
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
    finally:
        preemption.close()

    if is_chief:
        misc.save_pkl((G, D, Gs), dnnlib.make_run_dir_path('network-final.pkl'))
    summary_writer.close()
    return G, D, Gs


# ----------------------------------------------------------------------------
# Helpers of the loop.


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


def peak_memory_gb():
    """(log name, TensorBoard key, GiB): with GPUs NVIDIA's gpumem, the peak of TensorFlow's allocator over the
    process's GPUs; without, the peak resident memory of the process (ru_maxrss), named for what it is."""
    gpus = tf.config.list_logical_devices('GPU')
    if gpus:
        peak = max(tf.config.experimental.get_memory_info(f'GPU:{i}')['peak'] for i in range(len(gpus)))
        return 'gpumem', 'Resources/peak_gpu_mem_gb', peak / 2 ** 30
    return 'peak_rss', 'Resources/peak_rss_gb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB.
