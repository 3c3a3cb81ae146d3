"""The loop's own checks: unknown arguments, a diverged run. (The loop end to end runs in test_train_cli.py.)"""

import pytest

from training.training_loop import _check_finite, training_loop


def test_training_loop_rejects_unknown_arguments():
    with pytest.raises(TypeError, match="unexpected keyword argument 'G_smoothing_kim'"):
        training_loop(G_smoothing_kim=1.0)


def test_non_finite_statistics_stop_the_run():
    stats = {'Loss/D/loss': float('nan'), 'TrainD/overflow_frequency': 1.0}  # A step whose update was skipped.
    with pytest.raises(FloatingPointError, match=r"Loss/D/loss.*not finite.*last good snapshot in /runs/00001-x"):
        _check_finite(stats, '/runs/00001-x')
    _check_finite({'Loss/G/loss': 1.5}, '/runs/00001-x')
