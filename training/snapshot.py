"""What a network snapshot writes and reads: NVIDIA's (G, D, Gs) pickle, plus a TF checkpoint of the rest of the
training state (optimizer moments, the losses' variables such as pl_mean) and a JSON of the loop's state (image
count, tick, random state, position in the image stream), from which --resume continues exactly."""

import glob
import json
import os
import re
import tempfile

import tensorflow as tf

import dnnlib
from training import misc


def snapshot_paths(run_dir, kimg):
    """(pickle, checkpoint prefix, state JSON) of the snapshot at `kimg` in run_dir."""
    base = os.path.join(run_dir, 'network-snapshot-%06d' % kimg)
    return base + '.pkl', base + '.ckpt', base + '.json'


def save_snapshot(run_dir, kimg, trainer, loop_state, is_chief=True):
    """Write the checkpoint and the state first, the pickle last: a pickle exists only for complete snapshots.

    A snapshot of a kimg this run dir has already (a SIGTERM less than 1000 images after a tick's snapshot)
    replaces it, its pickle removed first: a kill during the rewrite leaves no pickle, never a mix of the two.
    In a multi-worker run every worker writes the checkpoint (TF expects all workers to take part in saving) but
    only the chief keeps it; the others write it to a temporary directory, removed at once, and nothing else.
    Returns the pickle's path (None on the other workers).
    """
    if not is_chief:
        with tempfile.TemporaryDirectory(prefix='stylegan2-worker-ckpt-') as tmp:
            tf.train.Checkpoint(**trainer.checkpoint_variables()).write(os.path.join(tmp, 'ckpt'))
        return None
    pkl, ckpt, state_json = snapshot_paths(run_dir, kimg)
    if os.path.exists(pkl):
        os.remove(pkl)
    tf.train.Checkpoint(**trainer.checkpoint_variables()).write(ckpt)
    with dnnlib.util.atomic_write(state_json, 'w') as f:
        json.dump(loop_state, f)
    misc.save_pkl((trainer.G, trainer.D, trainer.Gs), pkl)
    return pkl


def _snapshot_kimg(pkl):
    match = re.search(r'network-snapshot-(\d+)\.pkl$', pkl)
    return int(match.group(1)) if match else None


def _is_complete(run_dir, kimg):
    _, ckpt, state_json = snapshot_paths(run_dir, kimg)
    return os.path.exists(ckpt + '.index') and os.path.exists(state_json)


def find_latest_snapshot(run_dir):
    """The newest complete snapshot (pickle + checkpoint + state) in run_dir, or None."""
    candidates = [(_snapshot_kimg(pkl), pkl) for pkl in glob.glob(os.path.join(run_dir, 'network-snapshot-*.pkl'))]
    candidates = [(kimg, pkl) for kimg, pkl in candidates if _is_complete(run_dir, kimg)]
    return max(candidates)[1] if candidates else None


def restore_training_state(resume_pkl, trainer, rnd, loop_state):
    """Load the optimizer state, the losses' variables, the image count and the random state saved beside one of our
    snapshots into trainer and rnd; returns the loop's state (loop_state unchanged without a checkpoint)."""
    kimg = _snapshot_kimg(resume_pkl)
    if kimg is None:
        return loop_state
    run_dir = os.path.dirname(resume_pkl)
    if not _is_complete(run_dir, kimg):
        print('No training state beside "%s": optimizer state starts fresh.' % resume_pkl)
        return loop_state
    _, ckpt, state_json = snapshot_paths(run_dir, kimg)
    with trainer.strategy.scope():
        # Every variable of the trainer must be in the checkpoint; the checkpoint may hold more (pl_mean, which
        # earlier versions kept also for losses without path length regularization).
        tf.train.Checkpoint(**trainer.checkpoint_variables()).read(ckpt).assert_existing_objects_matched()
    with open(state_json) as f:
        state = json.load(f)
    rnd.bit_generator.state = state.pop('rng')
    print('Resuming at %.1f kimg.' % (state['cur_nimg'] / 1000.0))
    return state
