"""What a snapshot writes, and which snapshot --resume latest picks when a process died while writing one."""

import json
import os

import pytest
import tensorflow as tf

from small_networks import make_networks
from training import misc
from training.snapshot import find_latest_snapshot, save_snapshot, snapshot_paths


class Trainer:
    """What save_snapshot reads of a trainer: the networks and the rest of the training state."""

    def __init__(self):
        self.G, self.D, self.Gs = make_networks()
        self.moment = tf.Variable([1.0, 2.0])

    def checkpoint_variables(self):
        return {'moment': self.moment}


def test_a_snapshot_of_a_kimg_already_there_replaces_it_and_a_crash_midway_leaves_none_to_resume(tmp_path, monkeypatch):
    run_dir, trainer = str(tmp_path), Trainer()
    save_snapshot(run_dir, 3, trainer, {'cur_nimg': 3000})
    save_snapshot(run_dir, 4, trainer, {'cur_nimg': 4000})
    assert find_latest_snapshot(run_dir) == snapshot_paths(run_dir, 4)[0]

    # A SIGTERM 500 images after the snapshot of kimg 4: the same name, the later state.
    trainer.moment.assign([5.0, 6.0])
    save_snapshot(run_dir, 4, trainer, {'cur_nimg': 4500})
    pkl, ckpt, state_json = snapshot_paths(run_dir, 4)
    with open(state_json) as f:
        assert json.load(f) == {'cur_nimg': 4500}
    assert tf.train.load_variable(ckpt, 'moment/.ATTRIBUTES/VARIABLE_VALUE').tolist() == [5.0, 6.0]
    assert [net.name for net in misc.load_pkl(pkl)] == ['G', 'D', 'Gs']

    # Killed (here: an error) while rewriting it again, in its checkpoint or in its pickle: no pickle of kimg 4 is
    # left, so --resume latest picks kimg 3, never a new checkpoint or state beside an old pickle.
    def fail(*args, **kwargs):
        raise KeyboardInterrupt
    for owner, name in ((tf.train.Checkpoint, 'write'), (misc, 'save_pkl')):
        save_snapshot(run_dir, 4, trainer, {'cur_nimg': 4500})
        with monkeypatch.context() as patch:
            patch.setattr(owner, name, fail)
            with pytest.raises(KeyboardInterrupt):
                save_snapshot(run_dir, 4, trainer, {'cur_nimg': 4800})
        assert not os.path.exists(pkl)
        assert find_latest_snapshot(run_dir) == snapshot_paths(run_dir, 3)[0]
