"""Benchmark: seconds from SIGTERM to the exit of train.py (every worker), and from the SIGKILL of one worker to the
exit of the other (a two-worker run on this machine, localhost).

Usage: python bench/preemption.py [--setups demo,256-config-f] [--cases term1,term2,kill2] [--after-ticks 1]

Cases: term1 = SIGTERM to a one-process run; term2 = SIGTERM to worker 1 of two; kill2 = SIGKILL of worker 1 of two.

Each setup draws a small dataset with dataset_tool.py create_demo and starts train.py as a user would; the signal
comes once the run has printed --after-ticks tick lines (so its steps are compiled and it is training). The
timings include finishing the minibatch in progress and the next one, the snapshot write and the exit.
--after-ticks 0 sends it at the 'Training for' line instead: while the first minibatch's phases are compiled.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from training.cluster import localhost_workers  # noqa: E402

# Demo: `make demo`'s training command. 256-config-f: full widths, one round of 4 images per minibatch.
SETUPS = {
    'demo': (32, ['--config', 'config-e', '--fmap-max', '32', '--minibatch', '32', '--minibatch-gpu', '16',
                  '--gamma', '1', '--mirror-augment', 'true']),
    '256-config-f': (256, ['--config', 'config-f', '--minibatch', '4', '--minibatch-gpu', '4']),
}


CASES = {'term1': (1, 0, signal.SIGTERM), 'term2': (2, 1, signal.SIGTERM), 'kill2': (2, 1, signal.SIGKILL)}


def start(args, workers=1):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
    if workers == 1:
        return [subprocess.Popen([sys.executable, 'train.py'] + args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)]
    hosts = localhost_workers(workers)
    return [subprocess.Popen([sys.executable, 'train.py'] + args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, env=dict(env, TF_CONFIG=json.dumps({'cluster': {'worker': hosts},
                                                                            'task': {'type': 'worker', 'index': i}})))
            for i in range(workers)]


def signal_after_ticks(procs, victim, signum, ticks):
    """Send signum to procs[victim] after its `ticks`-th tick line. Returns the time it was sent, each process's
    exit time and exit code, and the time each printed its 'Stopping' line (None if it did not)."""
    exits = [None] * len(procs)
    stops = [None] * len(procs)
    sent = [None]

    def watch(i):
        for line in procs[i].stdout:
            if line.startswith('Stopping'):
                stops[i] = time.time()
            if i == victim and line.startswith(('tick ', 'Training for')) and sent[0] is None:
                ticks_seen[0] += line.startswith('tick ')
                if ticks_seen[0] >= ticks:
                    procs[i].send_signal(signum)
                    sent[0] = time.time()
        procs[i].wait()
        exits[i] = time.time()

    ticks_seen = [0]
    threads = [threading.Thread(target=watch, args=(i,)) for i in range(len(procs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent[0], exits, [proc.returncode for proc in procs], stops


def stages(sent, exit_time, stop_time, result_dir):
    """Where one process's time from the signal to its exit went: the end of the image grid of the tick the signal
    came after (the newest fakes*.png of the run dir), the 'Stopping' line (snapshot written), the exit."""
    grids = [os.path.join(root, name) for root, _, names in os.walk(result_dir) for name in names
             if name.startswith('fakes') and name != 'fakes_init.png']
    marks = [('grid', max(map(os.path.getmtime, grids), default=None)), ('stopping line', stop_time),
             ('exit', exit_time)]
    return ', '.join('%s %.1f' % (label, t - sent) for label, t in marks if t is not None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--setups', default='demo,256-config-f')
    parser.add_argument('--cases', default='term1,term2,kill2')
    parser.add_argument('--after-ticks', type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.setups.split(','):
            resolution, flags = SETUPS[name]
            data = os.path.join(tmp, 'data', name)
            subprocess.run([sys.executable, 'dataset_tool.py', 'create_demo', data, '--num_images', '256', '--resolution',
                            str(resolution)], cwd=REPO, check=True, capture_output=True)
            common = ['--data-dir', os.path.dirname(data), '--dataset', name, '--total-kimg', '100', '--snapshot-ticks',
                      '1000', '--metrics', 'none'] + flags
            # Tick 0 comes after the first 4 minibatches, once the steps are compiled: the signal comes after it.
            for case in args.cases.split(','):
                workers, victim, signum = CASES[case]
                result_dir = os.path.join(tmp, 'results-%s-%d-%d' % (name, workers, signum))
                procs = start(common + ['--result-dir', result_dir], workers)
                sent, exits, codes, stops = signal_after_ticks(procs, victim, signum, args.after_ticks)
                what = {signal.SIGTERM: 'SIGTERM', signal.SIGKILL: 'SIGKILL'}[signum]
                print(f'{name:14s} workers {workers}  {what} to worker {victim}: exit codes {codes}, seconds to exit '
                      f'{", ".join("%.1f" % (t - sent) for t in exits)}; worker 0 seconds to: '
                      f'{stages(sent, exits[0], stops[0], result_dir)}', flush=True)


if __name__ == '__main__':
    main()
