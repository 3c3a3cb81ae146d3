"""The replicas of a training run: its tf.distribute strategy (GPUs, logical CPU devices, or workers named by
TF_CONFIG), which process is the chief, how a minibatch splits among the replicas, and which peer a multi-worker
run lost. train.py asks these before and after the run; the training loop and the trainer use them during it."""

import functools
import json
import os
import re
import socket

import tensorflow as tf


def make_strategy(num_gpus):
    """MirroredStrategy over num_gpus GPUs; without GPUs over num_gpus logical CPU devices; 1 = default; with
    TF_CONFIG set, MultiWorkerMirroredStrategy over its workers."""
    if 'TF_CONFIG' in os.environ:
        return _multi_worker_strategy()
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
                         f'call training.cluster.split_cpu({num_gpus}) before TensorFlow starts (train.py does).')
    return tf.distribute.MirroredStrategy([cpu.name for cpu in cpus[:num_gpus]])


@functools.cache
def _multi_worker_strategy():
    # One per process, kept to its end (train.py leaves with os._exit): when collected, TensorFlow's strategy joins
    # its cluster health-check thread, which sleeps 30 s between checks, so a finished run would wait that long.
    return tf.distribute.MultiWorkerMirroredStrategy()


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


def check_minibatch_split(minibatch_size, minibatch_gpu, num_replicas):
    """The number of rounds of minibatch_gpu images per replica that make a minibatch; a ValueError naming the flags
    when the minibatch is not a whole number of them."""
    per_round = minibatch_gpu * num_replicas
    if minibatch_size % per_round != 0:
        raise ValueError(f'--minibatch ({minibatch_size}) must be a multiple of --minibatch-gpu ({minibatch_gpu}) '
                         f'times --num-gpus ({num_replicas}).')
    return minibatch_size // per_round


def lost_peer(err):
    """For an error that ends a multi-worker run because a peer is gone (a collective whose connection broke, the
    coordination service's missed heartbeats), the peer TensorFlow names in it as 'worker 1 (host:port)'; None for
    any other error, and in runs without TF_CONFIG."""
    if 'TF_CONFIG' not in os.environ or not isinstance(err, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                                                             tf.errors.AbortedError, tf.errors.CancelledError)):
        return None
    config = json.loads(os.environ['TF_CONFIG'])
    me = (config['task']['type'], int(config['task'].get('index', 0)))
    for job, index in re.findall(r'/job:(\w+)/replica:\d+/task:(\d+)', str(err)):
        if (job, int(index)) != me:
            addresses = config['cluster'].get(job, [])
            return f'{job} {index}' + (f' ({addresses[int(index)]})' if int(index) < len(addresses) else '')
    return 'a peer (TensorFlow\'s error does not say which)'


def localhost_workers(n):
    """Addresses of n free ports on this machine, for a TF_CONFIG cluster of n workers on localhost (the tests and
    benchmarks of multi-worker runs)."""
    socks = [socket.socket() for _ in range(n)]
    for sock in socks:
        sock.bind(('127.0.0.1', 0))
    addresses = ['127.0.0.1:%d' % sock.getsockname()[1] for sock in socks]
    for sock in socks:
        sock.close()
    return addresses
