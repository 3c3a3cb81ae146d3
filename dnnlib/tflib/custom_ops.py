"""Builds the compiled ops (fused_bias_act, upfirdn_2d) on first use, caches and loads them.

The sources are in dnnlib/tflib/ops/: *.h hold the math shared by the CPU and CUDA kernels, *.cc the
TensorFlow ops with their CPU kernels (and, built with -DSG2_CUDA, their GPU kernels), *.cu the CUDA
kernels. Two variants of the library exist; a process loads at most one, since both register the same
ops: 'cpu' (g++ only) and 'cuda' (CPU and GPU kernels; needs nvcc and is built where TensorFlow sees
a GPU).

The C++ kernels are compiled for the CPU they run on (-march=native: AVX2, AVX-512 or NEON, whatever it
has); $STYLEGAN2_OPS_MARCH names another target (e.g. haswell, x86-64-v3) or 'none' for the compiler's
default (SSE2 on x86-64).

The library is cached as <cache dir>/sg2ops-<variant>-<key>.so, the key being a hash of the sources,
the compiler commands, the TensorFlow version and the CPU (its model and feature flags), so that any
change rebuilds it and a cache dir shared by different machines never hands one a library built for
another's instructions. The cache dir is $STYLEGAN2_OPS_CACHE, or ~/.cache/stylegan2-tf2/ops. Builds run
in a temporary directory and the result is renamed into place; a lock file keeps two processes from
building the same library at once. $CXX picks the C++ compiler (default g++).
"""

import contextlib
import hashlib
import os
import platform
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from typing import List, NamedTuple

import tensorflow as tf

CACHE_ENV = 'STYLEGAN2_OPS_CACHE'
MARCH_ENV = 'STYLEGAN2_OPS_MARCH'
OPS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ops')
HEADERS = ('sg2_common.h', 'fused_bias_act.h', 'upfirdn_2d.h')
CC_SOURCES = ('fused_bias_act.cc', 'upfirdn_2d.cc')
CU_SOURCES = ('fused_bias_act.cu', 'upfirdn_2d.cu')
BUILD_TAG = 'sg2ops-v1'       # Part of the cache key: change it when the build changes in ways the key cannot see.
LOCK_TIMEOUT = 15 * 60        # Seconds to wait for another process's build before giving up.


class BuildError(RuntimeError):
    """The compiled ops could not be built or loaded; the message says why and what to do."""


class Library(NamedTuple):
    module: object            # What tf.load_op_library returned: .fused_bias_act, .up_fir_dn2d.
    variant: str              # 'cpu' or 'cuda'.
    path: str
    how: str                  # 'built in 12 s' or 'from the cache'.


def cache_dir() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser('~'), '.cache', 'stylegan2-tf2', 'ops')


def gpu_available() -> bool:
    """Whether TensorFlow sees a GPU, so that the CUDA kernels could run."""
    return bool(tf.config.list_physical_devices('GPU'))


# ----------------------------------------------------------------------------
# Build plans: the commands, and the cache file they produce.


class Plan(NamedTuple):
    variant: str
    sources: List[str]        # File names in OPS_DIR, copied into the build directory.
    compiles: List[List[str]]  # Run in parallel in the build directory.
    link: List[str]
    output: str               # The library's file name in the build directory.
    key: str

    def cache_path(self) -> str:
        return os.path.join(cache_dir(), f'sg2ops-{self.variant}-{self.key}.so')


def _tf_compile_flags() -> List[str]:
    # TensorFlow's headers as system headers: their many deprecation warnings would bury ours.
    return [f'-isystem{f[2:]}' if f.startswith('-I') else f for f in tf.sysconfig.get_compile_flags()]


def march_flags() -> List[str]:
    """The -march flag of the C++ compiles: native unless $STYLEGAN2_OPS_MARCH says otherwise ('none': no flag)."""
    march = os.environ.get(MARCH_ENV) or 'native'
    return [] if march == 'none' else [f'-march={march}']


def cpu_identity() -> str:
    """The CPU that -march=native compiles for: its model and feature flags from /proc/cpuinfo (Linux, x86 and
    ARM), else what Python's platform module knows."""
    try:
        with open('/proc/cpuinfo') as f:
            lines = f.read().splitlines()
    except OSError:
        return f'{platform.machine()} {platform.processor()}'
    first = {}
    for line in lines:
        key, _, value = line.partition(':')
        first.setdefault(key.strip(), value.strip())
    return '\n'.join(f'{key}: {first.get(key, "")}' for key in ('model name', 'flags', 'CPU implementer', 'CPU part', 'Features'))


def find_nvcc() -> str:
    """Path of nvcc: on PATH, or under $CUDA_HOME / $CUDA_PATH / /usr/local/cuda; raises BuildError."""
    found = shutil.which('nvcc')
    for root in (os.environ.get('CUDA_HOME'), os.environ.get('CUDA_PATH'), '/usr/local/cuda'):
        if found is None and root and os.path.isfile(os.path.join(root, 'bin', 'nvcc')):
            found = os.path.join(root, 'bin', 'nvcc')
    if found is None:
        raise BuildError('nvcc not found (looked on PATH and in $CUDA_HOME, $CUDA_PATH, /usr/local/cuda): install the '
                         'CUDA toolkit or put its bin directory on PATH to build the CUDA kernels.')
    return found


def _cudart_static(nvcc: str) -> str:
    """The static CUDA runtime of nvcc's toolkit, under the TOP directory that nvcc reports in a dry run."""
    out = subprocess.run([nvcc, '--dryrun', '-c', '-x', 'cu', os.devnull, '-o', os.devnull],
                         capture_output=True, text=True).stderr
    top = re.search(r'^#\$ TOP=(.*)$', out, re.M)
    if top:
        targets = re.findall(r'^#\$ _TARGET_DIR_=(.+)$', out, re.M)
        for sub in [os.path.join(t, 'lib') for t in targets] + ['lib64', 'lib']:
            path = os.path.normpath(os.path.join(top.group(1), sub, 'libcudart_static.a'))
            if os.path.isfile(path):
                return path
    where = f'under {top.group(1)}' if top else 'nvcc --dryrun reported no TOP directory'
    raise BuildError(f'libcudart_static.a not found for {nvcc} ({where}); the CUDA toolkit looks incomplete.')


def _gpu_arch_flags() -> List[str]:
    """nvcc flags for the first GPU's architecture (SASS, plus PTX for newer GPUs); nvcc's default without a GPU."""
    gpus = tf.config.list_physical_devices('GPU')
    capability = tf.config.experimental.get_device_details(gpus[0]).get('compute_capability') if gpus else None
    if not capability:
        return []
    arch = f'{capability[0]}{capability[1]}'
    return [f'-gencode=arch=compute_{arch},code=[sm_{arch},compute_{arch}]']


def plan(variant: str) -> Plan:
    """The commands that build `variant` ('cpu' or 'cuda'); raises BuildError if nvcc is missing for 'cuda'."""
    if variant not in ('cpu', 'cuda'):
        raise ValueError(f"custom_ops: unknown variant {variant!r}; expected 'cpu' or 'cuda'.")
    cxx = os.environ.get('CXX') or 'g++'
    # -fno-trapping-math lets the compiler turn float comparisons into vector selects (lrelu).
    cxx_flags = (['-O3'] + march_flags() + ['-fPIC', '-fno-trapping-math', '-Wall'] + (['-DSG2_CUDA'] if variant == 'cuda' else [])
                 + _tf_compile_flags())
    output = f'sg2ops-{variant}.so'
    sources = list(HEADERS + CC_SOURCES)
    objects = [name + '.o' for name in CC_SOURCES]
    compiles = [[cxx, '-c', name, '-o', name + '.o'] + cxx_flags for name in CC_SOURCES]
    runtime = []
    if variant == 'cuda':
        nvcc = find_nvcc()
        host = ['-ccbin', cxx] if os.environ.get('CXX') else []
        compiles += [[nvcc, '-c', name, '-o', name + '.o', '-O3', '-std=c++17', '-Xcompiler', '-fPIC'] + host + _gpu_arch_flags()
                     for name in CU_SOURCES]
        sources += CU_SOURCES
        objects += [name + '.o' for name in CU_SOURCES]
        # The CUDA runtime linked in statically and hidden, ahead of TensorFlow's libraries: TensorFlow
        # exports a runtime of its own CUDA version, which kernels built by this nvcc must not bind to.
        runtime = [_cudart_static(nvcc), '-Wl,--exclude-libs,libcudart_static.a', '-lrt', '-lpthread', '-ldl']
    link = [cxx, '-shared'] + objects + runtime + ['-o', output] + tf.sysconfig.get_link_flags()

    digest = hashlib.sha256()
    for part in [BUILD_TAG, tf.__version__, cpu_identity()] + [shlex.join(c) for c in compiles + [link]]:
        digest.update(part.encode() + b'\0')
    for name in sorted(sources):
        with open(os.path.join(OPS_DIR, name), 'rb') as f:
            digest.update(name.encode() + b'\0' + f.read() + b'\0')
    return Plan(variant, sources, compiles, link, output, digest.hexdigest()[:20])


# ----------------------------------------------------------------------------
# Building.


def _run_all(commands, cwd):
    """Runs the commands in parallel; raises BuildError with the first failure's command and output."""
    procs = []
    try:
        for argv in commands:
            try:
                procs.append((argv, subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)))
            except OSError as e:
                hint = ' (set CXX, or put g++ on PATH)' if argv[0] == (os.environ.get('CXX') or 'g++') else ''
                raise BuildError(f'cannot run the compiler {argv[0]!r}: {e.strerror}{hint}.') from None
        results = [(argv, proc.communicate()[0].decode(errors='replace'), proc.returncode) for argv, proc in procs]
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for argv, output, code in results:
        if code != 0:
            lines = output.strip().splitlines()
            shown = '\n'.join(lines[:60] + ([f'... ({len(lines) - 60} more lines)'] if len(lines) > 60 else []))
            raise BuildError(f'{os.path.basename(argv[0])} failed (exit code {code}):\n  {shlex.join(argv)}\n{shown}')


def build(p: Plan, path: str) -> None:
    """Runs the plan in a temporary directory next to `path` and renames the library into place."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix='.build-') as tmp:
        for name in p.sources:
            shutil.copyfile(os.path.join(OPS_DIR, name), os.path.join(tmp, name))
        _run_all(p.compiles, tmp)
        _run_all([p.link], tmp)
        os.replace(os.path.join(tmp, p.output), path)  # Atomic: readers see no file or a whole one.


@contextlib.contextmanager
def _lock(path):
    """Holds <path>.lock exclusively (the OS releases it if the process dies)."""
    try:
        import fcntl
    except ImportError:  # Not POSIX: no lock; the atomic rename still keeps the cache whole.
        yield
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + '.lock', 'a') as f:
        deadline, told = time.monotonic() + LOCK_TIMEOUT, False
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    print(f'Compiled ops: waiting for another process to finish building {path}', flush=True)
                    told = True
                if time.monotonic() > deadline:
                    raise BuildError(f'timed out after {LOCK_TIMEOUT} s waiting for {path}.lock, held by another process '
                                     f'building the same library; if no build is running, delete the lock file.') from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_and_load(variant: str) -> Library:
    """The library of `variant`, from the cache or built now; raises BuildError."""
    p = plan(variant)
    path = p.cache_path()
    with _lock(path):
        broken = None
        if os.path.isfile(path):
            try:
                return Library(tf.load_op_library(path), variant, path, 'from the cache')
            except Exception as e:  # tf.errors.NotFoundError for a truncated or foreign file.
                broken = f'the cached library {path} does not load ({_first_line(e)})'
                os.remove(path)
        start = time.monotonic()
        try:
            build(p, path)
        except BuildError as e:
            raise BuildError(f'{broken}; rebuilding it failed: {e}' if broken else str(e)) from None
        how = f'built in {time.monotonic() - start:.0f} s' + (', replacing a broken file' if broken else '')
        try:
            return Library(tf.load_op_library(path), variant, path, how)
        except Exception as e:
            raise BuildError(f'the library just built, {path}, does not load: {_first_line(e)} (is the compiler '
                             f'compatible with the one TensorFlow was built with?)') from None


def _first_line(error) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ----------------------------------------------------------------------------
# The process's library.

_library = None       # The loaded Library.
_failures = {}        # variant -> BuildError, so that a failed build is not retried on every op call.
_state_lock = threading.Lock()  # Replicas of a distribution strategy trace in parallel threads.


def get_library(gpu: bool) -> Library:
    """The process's op library, built or loaded on first use; with GPU kernels if `gpu`. Raises BuildError.

    Where TensorFlow sees a GPU, the 'cuda' variant is preferred even for the CPU kernels, since a
    process cannot load the other variant later.
    """
    with _state_lock:
        return _get_library(gpu)


def _get_library(gpu):
    global _library
    if gpu and not gpu_available():
        raise BuildError('no GPU is visible to TensorFlow.')
    if _library is not None:
        if gpu and _library.variant != 'cuda':
            raise BuildError(str(_failures['cuda']) if 'cuda' in _failures else
                             'this process already loaded the CPU-only library, which has no GPU kernels.')
        return _library
    variants = ['cuda'] if gpu else (['cuda', 'cpu'] if gpu_available() else ['cpu'])
    for variant in variants:
        if variant not in _failures:
            try:
                _library = build_and_load(variant)
                return _library
            except BuildError as e:
                _failures[variant] = e
    raise _failures[variants[-1]]
