"""Small helpers shared across the project: EasyDict, Logger, format_time, looking objects up by
dotted name, and open_url (local paths, file:// URLs and cached http(s) downloads)."""

import argparse
import contextlib
import errno
import glob
import hashlib
import http.client
import importlib
import io
import numbers
import os
import re
import sys
import tempfile
import time
import types
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, List, Optional, Tuple, Union


# ------------------------------------------------------------------------------------------------
# EasyDict and Logger
# ------------------------------------------------------------------------------------------------

class EasyDict(dict):
    """A dict whose keys can also be read and written as attributes (`d.key` is `d['key']`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            # Must be AttributeError, not KeyError: pickle, copy and hasattr() probe for optional
            # attributes such as __getstate__ and rely on AttributeError to mean "not there".
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


class _StderrTee:
    """Forwards writes meant for stderr to the original stderr and to the Logger's file."""

    def __init__(self, logger: 'Logger', stream: Any):
        self._logger = logger
        self._stream = stream

    def write(self, text: str) -> None:
        self._logger._write(text, self._stream)

    def flush(self) -> None:
        self._logger._flush(self._stream)

    def __getattr__(self, name: str) -> Any:
        # encoding, isatty(), fileno() ... of the real stream, for code that asks for them.
        return getattr(self._stream, name)


class Logger:
    """Copies everything printed to stdout and stderr into a file, while still printing it.

    Installs itself as sys.stdout (and a small companion object as sys.stderr) until close().
    Usable as a context manager.
    """

    def __init__(self, file_name: Optional[str] = None, file_mode: str = 'w', should_flush: bool = True):
        self.file = None
        if file_name is not None:
            self.file = open(file_name, file_mode, encoding='utf-8')
        self.should_flush = should_flush
        self.stdout = sys.stdout
        self.stderr = sys.stderr
        self._stderr_tee = _StderrTee(self, self.stderr)
        sys.stdout = self
        sys.stderr = self._stderr_tee

    def __enter__(self) -> 'Logger':
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self.close()

    def _write(self, text: str, stream: Any) -> None:
        if len(text) == 0:
            # Some debuggers crash on an empty write followed by flush; nothing to do anyway.
            return
        if self.file is not None:
            self.file.write(text)
        if stream is not None:
            stream.write(text)
        if self.should_flush:
            self._flush(stream)

    def _flush(self, stream: Any) -> None:
        if self.file is not None:
            self.file.flush()
        if stream is not None:
            stream.flush()

    def write(self, text: str) -> None:
        """Write text to stdout and the file (flushing both if should_flush)."""
        self._write(text, self.stdout)

    def flush(self) -> None:
        """Flush stdout and the file."""
        self._flush(self.stdout)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names Logger lacks (encoding, isatty, fileno ...): answer as stdout would.
        if name in ('stdout', 'stderr', 'file', '_stderr_tee'):
            raise AttributeError(name)
        return getattr(self.stdout, name)

    def close(self) -> None:
        """Flush, restore sys.stdout/sys.stderr and close the file. Safe to call twice."""
        if self.file is not None and not self.file.closed:
            self.flush()
        # Restore only what is still ours: with nested Loggers closed out of order, a newer Logger
        # may have replaced us, and we must not unhook it.
        if sys.stdout is self:
            sys.stdout = self.stdout
        if sys.stderr is self._stderr_tee:
            sys.stderr = self.stderr
        if self.file is not None:
            self.file.close()


# ------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------

# ----------------------------------------------------------------------------
# Command lines: the scripts' error format and the values they share (argparse types).


def exit_with_error(message: str) -> None:
    """End a script on a user's mistake: one 'Error: ...' line on stderr, exit status 1, no traceback."""
    print(f'Error: {message}', file=sys.stderr)
    sys.exit(1)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the scripts' error format: a bad or missing argument is one 'Error: ...' line (exit status 2,
    argparse's), not a usage dump. Sub-command parsers inherit it."""

    def error(self, message: str) -> None:
        print(f'Error: {message} (see: {self.prog} --help)', file=sys.stderr)
        sys.exit(2)


def parse_bool(v: Any) -> bool:
    """yes/true/t/y/1 or no/false/f/n/0, as NVIDIA's scripts take booleans."""
    if isinstance(v, bool):
        return v
    if v.lower() in ('yes', 'true', 't', 'y', '1'):
        return True
    if v.lower() in ('no', 'false', 'f', 'n', '0'):
        return False
    raise argparse.ArgumentTypeError(f'expected a boolean (yes/no, true/false, 1/0), got {v!r}')


def parse_num_range(s: str) -> List[int]:
    """'a,b,c', an inclusive range 'a-c', or a mix of both ('1,5-7') as a list of ints."""
    values = []
    for part in s.split(','):
        match = re.fullmatch(r'\s*(\d+)\s*(?:-\s*(\d+)\s*)?', part)
        if not match:
            raise argparse.ArgumentTypeError(f"expected numbers like '1,5,9' or a range like '6600-6625', got {s!r}")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if last < first:
            raise argparse.ArgumentTypeError(f'the range {part.strip()!r} ends before it starts')
        values += list(range(first, last + 1))
    return values


def is_power_of_two(value: Any, minimum: int = 4) -> bool:
    """Whether value is an integer power of two >= minimum: the image sizes the networks and datasets take."""
    return isinstance(value, numbers.Integral) and value >= minimum and value & (value - 1) == 0


def check_power_of_two(value: Any, what: str, minimum: int = 4) -> int:
    """log2(value), or a ValueError that names `what` when value is not an integer power of two >= minimum."""
    if not is_power_of_two(value, minimum):
        raise ValueError(f'{what} must be a power of two >= {minimum}, got {value}.')
    return int(value).bit_length() - 1


def format_time(seconds: Union[int, float]) -> str:
    """Seconds as a short human-readable string: '7s', '2m 05s', '3h 02m 05s', '2d 03h 04m'."""
    # round() rounds halves to even, like numpy.rint in the original, so the outputs agree.
    s = int(round(seconds))
    if s < 60:
        return '%ds' % s
    if s < 60 * 60:
        return '%dm %02ds' % (s // 60, s % 60)
    if s < 24 * 60 * 60:
        return '%dh %02dm %02ds' % (s // 3600, (s // 60) % 60, s % 60)
    return '%dd %02dh %02dm' % (s // 86400, (s // 3600) % 24, (s // 60) % 60)


def ask_yes_no(question: str) -> bool:
    """Ask on the console until the answer is yes or no."""
    while True:
        answer = input('%s [y/n] ' % question).strip().lower()
        if answer in ('y', 'yes', 't', 'true', 'on', '1'):
            return True
        if answer in ('n', 'no', 'f', 'false', 'off', '0'):
            return False


# ------------------------------------------------------------------------------------------------
# Objects and functions by dotted name ('training.training_loop.training_loop')
# ------------------------------------------------------------------------------------------------

_NAME_SHORTHANDS = (('np.', 'numpy.'), ('tf.', 'tensorflow.'))


def get_module_from_obj_name(obj_name: str) -> Tuple[types.ModuleType, str]:
    """Split a dotted name into an importable module and the object path inside it.

    Returns (module, local_name); local_name is '' when the name is the module itself.
    Tries the longest module prefix first. A module that exists but fails to import (a missing
    dependency, a syntax error) raises that error instead of being skipped silently.
    """
    for short, full in _NAME_SHORTHANDS:
        if obj_name.startswith(short):
            obj_name = full + obj_name[len(short):]
            break

    parts = obj_name.split('.')
    missing_attr = None
    for i in range(len(parts), 0, -1):
        module_name, local_name = '.'.join(parts[:i]), '.'.join(parts[i:])
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            # Only "this prefix is not a module" means: try a shorter prefix.
            if err.name is not None and (module_name == err.name or module_name.startswith(err.name + '.')):
                continue
            raise
        try:
            get_obj_from_module(module, local_name)
        except AttributeError as err:
            missing_attr = missing_attr or err
            continue
        return module, local_name

    if missing_attr is not None:
        raise AttributeError('Cannot find %r: %s' % (obj_name, missing_attr)) from missing_attr
    raise ImportError('Cannot find %r: no importable module in that name' % obj_name)


def get_obj_from_module(module: types.ModuleType, obj_name: str) -> Any:
    """Follow the dotted obj_name inside module ('' gives the module itself)."""
    obj = module
    if obj_name:
        for part in obj_name.split('.'):
            obj = getattr(obj, part)
    return obj


def get_obj_by_name(name: str) -> Any:
    """The Python object with the given dotted name, importing its module as needed."""
    module, obj_name = get_module_from_obj_name(name)
    return get_obj_from_module(module, obj_name)


def call_func_by_name(*args, func_name: str = None, **kwargs) -> Any:
    """Look up a function by dotted name and call it with the remaining arguments."""
    if func_name is None:
        raise ValueError('call_func_by_name() needs func_name')
    func_obj = get_obj_by_name(func_name)
    if not callable(func_obj):
        raise TypeError('%r is not callable' % func_name)
    return func_obj(*args, **kwargs)


def is_top_level_function(obj: Any) -> bool:
    """Whether obj is a callable reachable as <module>.<name> (so it can be found again by name)."""
    if not callable(obj) or not hasattr(obj, '__module__') or not hasattr(obj, '__name__'):
        return False
    module = sys.modules.get(obj.__module__)
    return module is not None and getattr(module, obj.__name__, None) is obj


def get_top_level_function_name(obj: Any) -> str:
    """The dotted name ('package.module.func') under which get_obj_by_name finds obj again."""
    if not is_top_level_function(obj):
        raise ValueError('%r is not a module-level function, so it cannot be referred to by name' % (obj,))
    return obj.__module__ + '.' + obj.__name__


# ------------------------------------------------------------------------------------------------
# Cache directory
# ------------------------------------------------------------------------------------------------

_dnnlib_cache_dir = None


def set_cache_dir(path: Optional[str]) -> None:
    """Override the default cache directory for this process (None: back to the default)."""
    global _dnnlib_cache_dir
    _dnnlib_cache_dir = path


def make_cache_dir_path(*paths: str) -> str:
    """A path inside the dnnlib cache directory (not created here).

    The directory is, in order of preference: set_cache_dir(), $DNNLIB_CACHE_DIR, ~/.cache/dnnlib,
    and <tempdir>/.cache/dnnlib when there is no home directory.
    """
    if _dnnlib_cache_dir is not None:
        return os.path.join(_dnnlib_cache_dir, *paths)
    if os.environ.get('DNNLIB_CACHE_DIR'):
        return os.path.join(os.environ['DNNLIB_CACHE_DIR'], *paths)
    home = os.path.expanduser('~')
    if home == '~':  # expanduser found neither HOME nor a password-database entry
        home = tempfile.gettempdir()
    return os.path.join(home, '.cache', 'dnnlib', *paths)


# ------------------------------------------------------------------------------------------------
# URLs
# ------------------------------------------------------------------------------------------------

def is_url(obj: Any, allow_file_urls: bool = False) -> bool:
    """Whether obj is a URL string ('scheme://host/...'); file:// URLs only if allow_file_urls."""
    if not isinstance(obj, str) or '://' not in obj:
        return False
    try:
        parsed = urllib.parse.urlparse(obj)
    except ValueError:
        return False
    if parsed.scheme == 'file':
        return allow_file_urls
    # Unlike NVIDIA's check we do not insist on a '.' in the host, so http://localhost:8000/... works.
    return bool(parsed.scheme) and bool(parsed.netloc)


def _file_url_to_path(url: str) -> str:
    parsed = urllib.parse.urlparse(url)
    if parsed.netloc not in ('', 'localhost'):
        raise ValueError('Cannot open %s: file URLs must point at this machine (file:///path)' % url)
    return urllib.request.url2pathname(parsed.path)


def _url_cache_name(url: str) -> str:
    """'<md5(url)>_<safe name>', the safe name made from the last component of the URL's path."""
    url_md5 = hashlib.md5(url.encode('utf-8'), usedforsecurity=False).hexdigest()
    name = urllib.parse.unquote(os.path.basename(urllib.parse.urlparse(url).path)) or 'download'
    return url_md5 + '_' + re.sub(r'[^0-9a-zA-Z-._]', '_', name)


# Retries wait 0.1 s, 0.2 s, 0.4 s ... up to 2 s: enough to ride out a hiccup, short enough that an
# offline machine fails within seconds instead of minutes.
_RETRY_DELAY = 0.1
_RETRY_DELAY_MAX = 2.0
_DOWNLOAD_TIMEOUT = 60.0  # seconds without progress before one attempt gives up


def _download_once(url: str) -> bytes:
    request = urllib.request.Request(url, headers={'User-Agent': 'dnnlib-tf2'})
    with urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT) as response:
        expected = response.headers.get('Content-Length')
        data = response.read()
    if len(data) == 0:
        raise IOError('no data received')
    if expected is not None and expected.isdigit() and len(data) != int(expected):
        raise IOError('truncated download: %d of %s bytes' % (len(data), expected))
    return data


def _is_retryable(err: Exception) -> bool:
    # A client error (404, 403 ...) or a malformed URL will not go away by asking again; timeouts,
    # dropped connections and throttling may.
    if isinstance(err, ValueError):
        return False
    if isinstance(err, urllib.error.HTTPError):
        return not (400 <= err.code < 500) or err.code in (408, 429)
    return True


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'wb'):
    """Write `path` through a temporary file beside it, flushed to disk and renamed over `path` only when the block
    succeeds (os.replace is atomic within a directory: readers see the old file or the whole new one). On an error
    the temporary file is removed and `path` is left as it was."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, mode) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp_path)
        raise


def open_url(url: str, cache_dir: str = None, num_attempts: int = 10, verbose: bool = True,
             return_filename: bool = False) -> Any:
    """Open a local path, file:// URL or http(s) URL as a binary file object.

    http(s) downloads are cached in cache_dir (default make_cache_dir_path(): $DNNLIB_CACHE_DIR or
    ~/.cache/dnnlib) as '<md5(url)>_<safe name>' and later opens read the cached file without
    touching the network. With return_filename=True the local file's path is returned instead.
    Raises FileNotFoundError for a missing local file, and OSError naming the URL and the cache path
    when a download fails after num_attempts tries.
    """
    if num_attempts < 1:
        raise ValueError('num_attempts must be at least 1')
    if isinstance(url, os.PathLike):
        url = os.fspath(url)

    # Local files: plain paths and file:// URLs.
    scheme = urllib.parse.urlparse(url).scheme if is_url(url, allow_file_urls=True) else ''
    if scheme in ('', 'file'):
        path = _file_url_to_path(url) if scheme == 'file' else url
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, 'No such file (expected a local path or an http(s):// '
                                    'or file:// URL)', path)
        return path if return_filename else open(path, 'rb')
    if scheme not in ('http', 'https', 'ftp'):
        raise ValueError('Cannot open %s: unsupported URL scheme %r' % (url, scheme))

    # Cached copy?
    if cache_dir is None:
        cache_dir = make_cache_dir_path()
    cache_file = os.path.join(cache_dir, _url_cache_name(url))
    if not os.path.isfile(cache_file):
        # NVIDIA named cache files after the Content-Disposition header or the whole URL; accept a
        # single such '<md5>_*' file left by the original code (temporary files start with '.').
        url_md5 = os.path.basename(cache_file).split('_', 1)[0]
        matches = glob.glob(os.path.join(glob.escape(cache_dir), url_md5 + '_*'))
        if len(matches) == 1:
            cache_file = matches[0]
    if os.path.isfile(cache_file):
        return cache_file if return_filename else open(cache_file, 'rb')

    # Download, retrying transient failures.
    if verbose:
        print('Downloading %s ...' % url, end='', flush=True)
    last_err, attempts = None, 0
    data = None
    while attempts < num_attempts:
        attempts += 1
        try:
            data = _download_once(url)
            break
        except (OSError, http.client.HTTPException, ValueError) as err:
            last_err = err
            if not _is_retryable(err) or attempts == num_attempts:
                break
            if verbose:
                print('.', end='', flush=True)
            time.sleep(min(_RETRY_DELAY * 2 ** (attempts - 1), _RETRY_DELAY_MAX))
    if data is None:
        if verbose:
            print(' failed', flush=True)
        raise OSError(
            'Could not download %s (%d attempt%s; last error: %s). This machine may be offline, or the '
            'URL may be wrong or unreachable. Download the file yourself and pass its local path instead '
            'of the URL, or place it at %s' % (url, attempts, '' if attempts == 1 else 's', last_err, cache_file)
        ) from last_err
    if verbose:
        print(' done', flush=True)

    # A crash or a concurrent reader never sees a half-written cache file.
    os.makedirs(cache_dir, exist_ok=True)
    with atomic_write(cache_file) as f:
        f.write(data)

    return cache_file if return_filename else io.BytesIO(data)
