"""Run a function by name in a fresh numbered run directory (plain local execution only).

submit_run() creates '<run_dir_root>/<%05d id>-<run_desc>', records the config there, copies all
console output into log.txt and calls the function; inside it, dnnlib.submit_config is the
config and make_run_dir_path() builds paths in the run directory.
"""

import copy
import enum
import getpass
import inspect
import os
import pathlib
import pickle
import platform
import pprint
import re
import time
import traceback
from typing import Optional

from .. import util
from ..util import EasyDict
from . import run_context
from .run_context import RunContext


class SubmitTarget(enum.Enum):
    """Where the run executes. Only LOCAL (this process) exists in this port."""
    LOCAL = 1


class PathType(enum.Enum):
    """Path style for get_path_from_template: WINDOWS, LINUX, or AUTO (this OS)."""
    WINDOWS = 1
    LINUX = 2
    AUTO = 3


class SubmitConfig(EasyDict):
    """Settings of a run. Set run_dir_root and run_desc (and num_gpus); submit_run fills in
    run_id, run_name, run_dir, run_func_name, run_func_kwargs, user_name and task_name."""

    def __init__(self):
        super().__init__()
        # Set by the caller.
        self.run_dir_root = ''           # results folder; may contain <USERNAME>
        self.run_desc = ''               # short description, becomes part of the run dir name
        self.run_dir_ignore = ['__pycache__', '*.pyproj', '*.sln', '*.suo', '.cache', '.idea', '.vs', '.vscode', '_cudacache']
        self.run_dir_extra_files = []    # kept for compatibility; sources are never copied
        self.submit_target = SubmitTarget.LOCAL
        self.num_gpus = 1
        self.print_info = False          # print the config before running
        self.ask_confirmation = False    # ask on the console before running
        self.nvprof = False
        self.local = EasyDict(do_not_copy_source_files=True)
        self.datasets = []
        # Filled in by submit_run.
        self.run_id = None
        self.run_name = None
        self.run_dir = None
        self.run_func_name = None
        self.run_func_kwargs = None
        self.user_name = None
        self.task_name = None
        self.host_name = 'localhost'
        self.platform_extras = EasyDict(data_reader_buffer_size=1 << 30, data_reader_process_count=0)


def get_user_name() -> str:
    """The login name of the current user ('unknown' if it cannot be determined)."""
    try:
        return getpass.getuser()
    except Exception:
        return 'unknown'


def get_path_from_template(path_template: str, path_type: PathType = PathType.AUTO) -> str:
    """Substitute <USERNAME> and format the path in Windows or POSIX style."""
    if path_type == PathType.AUTO:
        path_type = PathType.WINDOWS if platform.system() == 'Windows' else PathType.LINUX
    path = path_template.replace('<USERNAME>', get_user_name())
    if path_type == PathType.WINDOWS:
        return str(pathlib.PureWindowsPath(path))
    return str(pathlib.PurePosixPath(path))


def get_template_from_path(path: str) -> str:
    """Normalize separators to '/', the form templates are written in."""
    return path.replace('\\', '/')


def convert_path(path: str, path_type: PathType = PathType.AUTO) -> str:
    """Re-format a path in the given style (this OS by default)."""
    return get_path_from_template(get_template_from_path(path), path_type)


def make_run_dir_path(*paths: str) -> str:
    """os.path.join of the current run dir and paths; the current directory when no run is active."""
    config = run_context.active_config
    if config is None or config.run_dir is None:
        return os.path.join(os.getcwd(), *paths)
    return os.path.join(config.run_dir, *paths)


def get_next_run_id(run_dir_root: str) -> int:
    """1 + the largest number that starts a directory name in run_dir_root (0 if there is none)."""
    if not os.path.isdir(run_dir_root):
        return 0
    run_id = 0
    for name in os.listdir(run_dir_root):
        match = re.match(r'\d+', name)
        if match is not None and os.path.isdir(os.path.join(run_dir_root, name)):
            run_id = max(run_id, int(match.group()) + 1)
    return run_id


def locate_run_dir(run_dir_root: str, run_id: int) -> str:
    """The run directory '<run_id as %05d>-*' in run_dir_root; FileNotFoundError naming what was searched."""
    prefix = '%05d-' % run_id
    matches = sorted(name for name in (os.listdir(run_dir_root) if os.path.isdir(run_dir_root) else [])
                     if name.startswith(prefix) and os.path.isdir(os.path.join(run_dir_root, name)))
    if len(matches) != 1:
        raise FileNotFoundError(f'{"no" if not matches else len(matches)} run directories {prefix}* in {run_dir_root}.')
    return os.path.join(run_dir_root, matches[0])


_TASK_NAME_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.-]+$')
_MAX_RUN_DIR_ATTEMPTS = 1000


def _create_run_dir_local(submit_config: SubmitConfig) -> str:
    """Create the next free '<%05d id>-<run_desc>' dir; sets run_id, run_name and run_dir."""
    run_dir_root = get_path_from_template(submit_config.run_dir_root)
    os.makedirs(run_dir_root, exist_ok=True)
    run_id = -1
    for _ in range(_MAX_RUN_DIR_ATTEMPTS):
        # Another process may take the same id between our listing and mkdir; mkdir fails then,
        # and we move on. max() guarantees progress even if the listing does not show the clash
        # (e.g. a plain file with that name).
        run_id = max(get_next_run_id(run_dir_root), run_id + 1)
        run_name = '%05d-%s' % (run_id, submit_config.run_desc)
        run_dir = os.path.join(run_dir_root, run_name)
        try:
            os.mkdir(run_dir)
        except FileExistsError:
            continue
        submit_config.run_id = run_id
        submit_config.run_name = run_name
        submit_config.run_dir = run_dir
        return run_dir
    raise RuntimeError('Could not create a new run dir in %s' % run_dir_root)


def _populate_run_dir(submit_config: SubmitConfig, run_dir: str) -> None:
    """Write submit_config.pkl and submit_config.txt (no source files are copied)."""
    with open(os.path.join(run_dir, 'submit_config.pkl'), 'wb') as f:
        pickle.dump(submit_config, f)
    with open(os.path.join(run_dir, 'submit_config.txt'), 'w') as f:
        pprint.pprint(submit_config, stream=f, indent=4, width=200, compact=False)


def run_wrapper(submit_config: SubmitConfig) -> SubmitConfig:
    """Run submit_config.run_func_name in its run dir, with output teed to log.txt."""
    run_dir = submit_config.run_dir
    # Created up front so that run.txt exists, with the true start time, for the whole run.
    # A context left open by earlier code belongs to another run: close it rather than reuse it.
    if run_context._run_context is not None:
        run_context._run_context.close()
    ctx = RunContext(submit_config)
    logger = util.Logger(file_name=os.path.join(run_dir, 'log.txt'), file_mode='w', should_flush=True)
    previous_config = run_context.active_config
    run_context.active_config = submit_config
    try:
        print('dnnlib: Running %s() on %s...' % (submit_config.run_func_name, submit_config.host_name))
        start_time = time.time()
        run_func = util.get_obj_by_name(submit_config.run_func_name)
        if not callable(run_func):
            raise TypeError('%s is not callable' % submit_config.run_func_name)
        if 'submit_config' in inspect.signature(run_func).parameters:
            run_func(submit_config=submit_config, **submit_config.run_func_kwargs)
        else:
            run_func(**submit_config.run_func_kwargs)
        print('dnnlib: Finished %s() in %s.' % (submit_config.run_func_name, util.format_time(time.time() - start_time)))
    except SystemExit:  # A deliberate exit with its own message (e.g. training stopped by SIGTERM).
        raise
    except BaseException:
        # The exception propagates to the caller, which prints it after the Logger is gone; copy
        # the traceback into log.txt now so the log tells why the run ended.
        if logger.file is not None:
            logger.file.write(traceback.format_exc())
        raise
    finally:
        open(os.path.join(run_dir, '_finished.txt'), 'w').close()
        ctx.close()
        if run_context._run_context is not None:  # one the run function made after closing ours
            run_context._run_context.close()
        run_context.active_config = previous_config
        logger.close()
    return submit_config


def submit_run(submit_config: SubmitConfig, run_func_name: str, **run_func_kwargs) -> Optional[str]:
    """Create a new run dir and run the named function there (locally, in this process).

    run_func_name is a dotted name such as 'training.training_loop.training_loop'; the function
    gets run_func_kwargs, plus submit_config if it has a parameter of that name.
    Returns the path of the run dir (None if ask_confirmation was declined). Exceptions of the
    function propagate, after _finished.txt and run.txt's stop_time are written.
    """
    submit_config = copy.deepcopy(submit_config)  # the caller's config stays untouched

    if submit_config.submit_target != SubmitTarget.LOCAL:
        raise ValueError('Only SubmitTarget.LOCAL is supported, got %r' % (submit_config.submit_target,))
    if not submit_config.num_gpus:
        raise RuntimeError('submit_config.num_gpus must be set to a non-zero value')
    if submit_config.user_name is None:
        submit_config.user_name = get_user_name()
    submit_config.run_func_name = run_func_name
    submit_config.run_func_kwargs = run_func_kwargs

    # Check the names before anything is created on disk.
    task_name = '%s-%05d-%s' % (submit_config.user_name, 0, submit_config.run_desc)
    if not _TASK_NAME_RE.match(task_name):
        raise ValueError('Invalid task name %r: user_name and run_desc may only use letters, digits, '
                         "'_', '.' and '-'" % task_name)

    if submit_config.print_info:
        print('\nSubmit config:\n')
        pprint.pprint(submit_config, indent=4, width=200, compact=False)
        print()
    if submit_config.ask_confirmation and not util.ask_yes_no('Continue submitting the job?'):
        return None

    run_dir = _create_run_dir_local(submit_config)
    submit_config.task_name = '%s-%05d-%s' % (submit_config.user_name, submit_config.run_id, submit_config.run_desc)
    _populate_run_dir(submit_config, run_dir)
    print('Local submit - run_dir: %s' % convert_path(run_dir), flush=True)
    run_wrapper(submit_config)
    return run_dir
