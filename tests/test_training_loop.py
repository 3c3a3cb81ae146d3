"""The training loop run in the test process on tiny data: progressive growing with Adam resets, the R1 reals,
averaged summaries and abort.txt; its own checks of unknown arguments and a diverged run. (train.py end to end, as a
user runs it, is in test_train_cli.py.)"""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import dnnlib
import train
from training import misc
from training.trainer import Trainer
from training.training_loop import _check_finite, training_loop


def test_training_loop_rejects_unknown_arguments():
    with pytest.raises(TypeError, match="unexpected keyword argument 'G_smoothing_kim'"):
        training_loop(G_smoothing_kim=1.0)


def test_non_finite_statistics_stop_the_run():
    stats = {'Loss/D/loss': float('nan'), 'TrainD/overflow_frequency': 1.0}  # A step whose update was skipped.
    with pytest.raises(FloatingPointError, match=r"Loss/D/loss.*not finite.*last good snapshot in /runs/00001-x"):
        _check_finite(stats, '/runs/00001-x')
    _check_finite({'Loss/G/loss': 1.5}, '/runs/00001-x')


def test_progressive_config_d_grows_through_two_levels_and_resets_adam_at_each_change(data_dir, tmp_path, monkeypatch):
    kwargs = train.build_run_kwargs('squares32', data_dir, str(tmp_path / 'results'), 'config-d', 1, total_kimg=0.080,
                                    gamma=None, mirror_augment=False, metrics=[], snapshot_ticks=100, minibatch=8,
                                    minibatch_gpu=4, fmap_base=64, fmap_max=16)
    # 8x8 for 24 images, fading in 16x16 over the next 8, 16x16 for 24, fading in 32x32 over 8, then 32x32; a new
    # schedule every minibatch of 8: lod 2, 2, 2, 1.5, 1, 1, 1, 0.5, 0, 0.
    kwargs.sched_args.update(lod_training_kimg=0.016, lod_transition_kimg=0.016)
    kwargs.minibatch_repeats = 1
    steps_before_reset, trainers = [], []
    real_reset = Trainer.reset_optimizers

    def reset(self):
        steps_before_reset.append(int(self.G_opt.step.numpy()))
        trainers.append(self)
        real_reset(self)
    monkeypatch.setattr(Trainer, 'reset_optimizers', reset)
    dnnlib.submit_run(**kwargs)
    # Resets before the first minibatch, whenever floor(lod) changes (2 -> 1.5, 1 -> 0.5) and whenever ceil(lod)
    # changes (1.5 -> 1, 0.5 -> 0). G's Adam steps in between: minibatches 0-2 (plus the path length step of
    # minibatch 0), 3, 4-6 (plus that of 4), 7.
    assert steps_before_reset == [0, 4, 1, 4, 1]
    # Each level ran its own steps, with reals at its resolution and the networks building only the levels it uses.
    assert {key[1] for key in trainers[0]._round_fns} == {0, 1, 2}
    G, _, Gs = misc.load_pkl(os.path.join(tmp_path, 'results', '00000-stylegan2-squares32-1gpu-config-d', 'network-final.pkl'))
    assert G.get_var('lod') == 0 and Gs.output_shape == [None, 3, 32, 32]


def _tensorboard_scalars(run_dir):
    """{(name, step): value} from the run's event file, read with TensorFlow's own event reader."""
    values = {}
    for path in glob.glob(os.path.join(run_dir, 'events.out.tfevents.*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                values[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
    return values


def test_loop_reuses_reals_for_r1_averages_summaries_per_step_and_stops_on_abort(data_dir, tmp_path, monkeypatch):
    kwargs = train.build_run_kwargs('squares', data_dir, str(tmp_path / 'results'), 'config-e', 1, total_kimg=1000,
                                    gamma=None, mirror_augment=True, metrics=[], snapshot_ticks=100, minibatch=8,
                                    minibatch_gpu=4, fmap_base=64, fmap_max=16)
    # A tick every 2 minibatches (tick 0 after the first), regularization every 2nd minibatch.
    kwargs.sched_args.update(tick_kimg_base=0.016, tick_kimg_dict={})
    kwargs.update(minibatch_repeats=1, G_reg_interval=2, D_reg_interval=2)
    run_dir = str(tmp_path / 'results' / '00000-stylegan2-squares-1gpu-config-e')
    calls = []  # (minibatch, phase, data, seed, stats averaged over the phase's rounds)
    real_run_phase = Trainer.run_phase

    def run_phase(self, phase, data, seed, lod, learning_rate, minibatch_gpu):
        name = phase.name
        before = len(self._pending_stats)
        real_run_phase(self, phase, data, seed, lod, learning_rate, minibatch_gpu)
        values = {}
        for stats in self._pending_stats[before:]:
            for key, value in stats.items():
                values.setdefault(key, []).append(float(value))
        minibatch = sum(1 for c in calls if c[1] == 'TrainG') - (name != 'TrainG')  # Every minibatch starts with TrainG.
        calls.append((minibatch, name, data, seed, {k: np.mean(v) for k, v in values.items()}))
        if minibatch == 3 and name == 'TrainD':  # The user asks to stop during minibatch 3 (tick 2 ends with minibatch 4).
            open(os.path.join(run_dir, 'abort.txt'), 'w').close()
    monkeypatch.setattr(Trainer, 'run_phase', run_phase)
    dnnlib.submit_run(**kwargs)

    # R1 runs on the reals of the D step just before it (NVIDIA's reg step reads the same fetched minibatch), with
    # the same seed, so with the same mirroring (test_training_step checks that the seed gives the same reals).
    d_phases = [c for c in calls if c[1] in ('TrainD', 'RegD')]
    regs = [i for i, c in enumerate(d_phases) if c[1] == 'RegD']
    assert regs and all(d_phases[i - 1][1] == 'TrainD' for i in regs)
    for i in regs:
        assert d_phases[i][2] is d_phases[i - 1][2] and np.array_equal(d_phases[i][3], d_phases[i - 1][3])
    seeds = [c[3].tobytes() for c in calls if c[1] == 'TrainD']
    assert len(set(seeds)) == len(seeds)  # Each minibatch has its own random numbers.

    # Stopped at tick 2 (minibatches 3-4), with a snapshot of that tick although snapshots come every 100 ticks.
    assert max(c[0] for c in calls) == 4
    with open(os.path.join(run_dir, 'network-snapshot-000000.json')) as f:
        assert json.load(f)['cur_tick'] == 2
    assert os.path.exists(os.path.join(run_dir, 'network-final.pkl'))

    # TensorBoard: NVIDIA's names, each the mean over the steps of the tick that produced it. Tick 1 (step 24
    # images) covers minibatches 1 and 2; only minibatch 2 ran the regularizers.
    scalars = _tensorboard_scalars(run_dir)
    names = {name for name, _ in scalars}
    # NVIDIA's peak GPU memory on a GPU; on a CPU the process's peak resident memory, under its own name.
    memory_key = 'Resources/peak_gpu_mem_gb' if tf.config.list_logical_devices('GPU') else 'Resources/peak_rss_gb'
    for name in ('Loss/scores/real', 'Loss/scores/fake', 'Loss/gradient_penalty', 'Loss/pl_lengths', 'Loss/pl_penalty',
                 'Progress/tick', 'Progress/kimg', 'Progress/lod', 'Progress/minibatch', 'Timing/total_sec',
                 'Timing/sec_per_tick', 'Timing/sec_per_kimg', 'Timing/maintenance_sec', 'Timing/total_hours',
                 'Timing/total_days', memory_key, 'TrainG/learning_rate', 'TrainD/learning_rate'):
        assert name in names, (name, sorted(names))
    tick1 = [c for c in calls if c[0] in (1, 2)]
    for name, phase in (('Loss/scores/real', 'TrainD'), ('Loss/gradient_penalty', 'RegD'), ('Loss/D/reg', 'RegD'),
                        ('Loss/pl_penalty', 'RegG'), ('Loss/G/loss', 'TrainG'), ('RegG/learning_rate', 'RegG')):
        produced = [c[4][name] for c in tick1 if c[1] == phase]
        assert len(produced) == (2 if phase.startswith('Train') else 1)
        assert scalars[(name, 24)] == pytest.approx(np.mean(produced), rel=1e-5), name
    assert scalars[('Progress/tick', 24)] == 1
