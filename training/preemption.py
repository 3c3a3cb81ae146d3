"""SIGTERM, the notice that preemptible VMs, Kubernetes and batch systems give before they kill a process: every
worker of the run finishes the same minibatch, the chief writes a snapshot of that moment, and the run ends with
PREEMPTED_EXIT_CODE; `train.py --resume latest` continues from there as if nothing had happened.

Built on TensorFlow's PreemptionCheckpointHandler: the worker that got the signal picks the minibatch to stop at
and waits until every worker has acknowledged it, through the coordination service of MultiWorkerMirroredStrategy
(in one process it decides alone). The handler's own checkpoint is not used: its save function writes the run's
snapshot (pickle, checkpoint, loop state), so a stop leaves the same files as a tick.
"""

import signal
import tempfile
import threading

import tensorflow as tf

PREEMPTED_EXIT_CODE = 42  # TensorFlow's TerminationConfig default on platforms other than Borg and GCP.


class PreemptionWatch:
    """Catches SIGTERM for the life of a training run (close() gives the previous handler back)."""

    def __init__(self, strategy):
        self._sigterm = threading.Event()
        self._previous_handler = signal.signal(signal.SIGTERM, lambda signum, frame: self._sigterm.set())
        self._save = None
        self.stopped = False
        # The handler restores and may write a checkpoint of its own through a manager: an empty one in a
        # temporary directory (save_fn replaces its writes), so nothing of it lands in the run dir.
        self._tmp = tempfile.TemporaryDirectory(prefix='stylegan2-preemption-')
        manager = tf.train.CheckpointManager(tf.train.Checkpoint(), self._tmp.name, max_to_keep=1)
        # Our own SIGTERM flag as the termination watcher: TensorFlow's default watches GCP's maintenance events
        # instead of SIGTERM on GCP GPU VMs. grace_period=0: stop at once rather than train on until the kill.
        config = tf.distribute.experimental.TerminationConfig(termination_watcher_fn=self._sigterm.is_set,
                                                              exit_fn=self._stop, grace_period=0,
                                                              save_fn=lambda: self._save())
        self._handler = tf.distribute.experimental.PreemptionCheckpointHandler(
            getattr(strategy, 'cluster_resolver', None), manager, termination_config=config)

    def after_minibatch(self, save):
        """Called by every worker after each minibatch. At the minibatch the workers agreed on after a SIGTERM,
        runs save() (every worker: the checkpoint write is collective) and returns True: the run stops."""
        self._save = save
        self._handler.save_checkpoint_if_preempted()
        return self.stopped

    def _stop(self):
        self.stopped = True

    def close(self):
        """Stop the handler's watcher threads (TensorFlow leaves that to the handler's __del__, which their
        references to it delay), give SIGTERM back to its previous handler."""
        self._handler.__del__()
        signal.signal(signal.SIGTERM, self._previous_handler)
        self._tmp.cleanup()
