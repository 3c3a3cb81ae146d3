"""Compiled ops (dnnlib/tflib/custom_ops.py and the sources in dnnlib/tflib/ops/): the CPU kernels against
the reference path over a grid of shapes (values, first and second derivatives), the CUDA sources through
nvcc, the build cache, and the fallback to the reference path when the compiler is broken.

The library is built once per test process, into the temporary cache dir that conftest.py sets up (unless
$STYLEGAN2_OPS_CACHE already names one).
"""

import ctypes
import itertools
import os
import platform
import select
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

import dnnlib.tflib.ops as ops
from dnnlib.tflib import custom_ops
from dnnlib.tflib.ops.fused_bias_act import fused_bias_act, activation_funcs
from dnnlib.tflib.ops.upfirdn_2d import upfirdn_2d
from small_networks import make_networks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='session')
def library():
    """The process's compiled library (built now, or already loaded by an earlier test)."""
    return custom_ops.get_library(gpu=False)


def close(got, expected, tol=2e-5):
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * max(1.0, float(np.abs(expected).max(initial=0))))


def derivatives(op, inputs, r):
    """Value, first and second derivatives of op w.r.t. all inputs, through a smooth non-linear map
    u(v) = v + v^2 / 2 of each input, so that every backward op meets a non-constant upstream gradient.

    First: g = d/dv [sum(r * y) + sum(y^2) / 2] (the upstream gradient r + y depends on v).
    Second: d/dv sum_i |g_i|^2.
    """
    vs = [tf.constant(v) for v in inputs]
    with tf.GradientTape() as outer:
        outer.watch(vs)
        with tf.GradientTape() as inner:
            inner.watch(vs)
            y = op(*[v + 0.5 * v * v for v in vs])
            loss = tf.reduce_sum(r * y) + 0.5 * tf.reduce_sum(y * y)
        first = inner.gradient(loss, vs, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        norm = tf.add_n([tf.reduce_sum(g * g) for g in first])
    second = outer.gradient(norm, vs, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return [y.numpy()] + [g.numpy() for g in first] + [g.numpy() for g in second]


def compare(op, inputs, tol=2e-5):
    """op(*tensors, impl) with the compiled CPU kernels equals the reference path, with derivatives."""
    rnd = np.random.RandomState(1)
    y = op(*[tf.constant(v) for v in inputs], impl='ref')
    r = tf.constant(rnd.randn(*y.shape).astype(np.float32))
    expected = derivatives(lambda *v: op(*v, impl='ref'), inputs, r)
    got = derivatives(lambda *v: op(*v, impl='cpu'), inputs, r)
    for name, g, e in zip(['value'] + [f'd1/d{i}' for i in range(len(inputs))] + [f'd2/d{i}' for i in range(len(inputs))],
                          got, expected):
        assert g.shape == e.shape, name
        try:
            close(g, e, tol)
        except AssertionError as error:
            raise AssertionError(f'{name}: {error}') from None


# ----------------------------------------------------------------------------
# The CPU kernels against the reference path.

RND = np.random.RandomState(7)
# Kernels 1..6 wide, separable (outer products) and not, square and not.
KERNELS = [np.outer(RND.rand(h), RND.rand(w)) for h, w in [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (4, 1), (2, 5)]]
KERNELS += [RND.rand(h, w) for h, w in [(2, 2), (3, 3), (4, 4), (6, 6), (1, 6), (5, 3)]]
PADS = [(0, 0, 0, 0), (2, 1, 1, 3), (-1, 2, 3, -2), (3, -1, -2, 1)]
SHAPES = [(1, 1, 1, 1), (1, 5, 3, 1), (2, 4, 6, 3), (3, 1, 7, 2), (1, 7, 1, 5)]
FACTORS = [1, 2, 4]


def upfirdn_cases(upx, upy, downx, downy):
    for k, pads, shape in itertools.product(KERNELS, PADS, SHAPES):
        out_h = (shape[1] * upy + pads[2] + pads[3] - k.shape[0]) // downy + 1
        out_w = (shape[2] * upx + pads[0] + pads[1] - k.shape[1]) // downx + 1
        if out_h >= 1 and out_w >= 1:
            yield k, pads, shape


@pytest.mark.parametrize('up,down', [((u, u), (d, d)) for u, d in itertools.product(FACTORS, FACTORS)] +
                         [((1, 2), (4, 1)), ((4, 1), (1, 2)), ((2, 4), (2, 1))])
def test_upfirdn_2d_cpu_equals_reference(library, up, down):
    cases = list(upfirdn_cases(*up, *down))
    assert len(cases) > 100
    for i, (k, pads, shape) in enumerate(cases):
        x = RND.randn(*shape).astype(np.float32)
        got = upfirdn_2d(x, k, *up, *down, *pads, impl='cpu').numpy()
        expected = upfirdn_2d(x, k, *up, *down, *pads, impl='ref').numpy()
        assert got.shape == expected.shape
        close(got, expected)
        if i % 7 == 0:  # Derivatives on a spread-out subset: each costs two nested tapes per impl.
            compare(lambda v, impl: upfirdn_2d(v, k, *up, *down, *pads, impl=impl), [x])


ACT_SHAPES = [([3, 4, 5, 2], 1), ([3, 4, 5, 2], 3), ([3, 4, 5, 2], -1), ([3, 4, 5, 2], 0), ([2, 6], 1), ([5], 0),
              ([1, 1, 1, 1], 1), ([2, 1, 3], 2), ([1, 3, 1, 4], 2)]


@pytest.mark.parametrize('act', sorted(activation_funcs))
def test_fused_bias_act_cpu_equals_reference(library, act):
    for (shape, axis), use_bias, custom in itertools.product(ACT_SHAPES, [True, False], [False, True]):
        x = RND.randn(*shape).astype(np.float32)
        # A custom alpha >= 0: NVIDIA's op picks lrelu's slope by the sign of its output.
        kwargs = dict(axis=axis, act=act, alpha=0.1 if custom else None, gain=0.7 if custom else None)
        if use_bias:
            b = RND.randn(shape[axis]).astype(np.float32)
            compare(lambda v, bb, impl: fused_bias_act(v, bb, impl=impl, **kwargs), [x, b])
        else:
            compare(lambda v, impl: fused_bias_act(v, impl=impl, **kwargs), [x])


def test_compiled_ops_in_graph_mode_and_dynamic_shapes(library):
    """Inside tf.function, with unknown batch and channel sizes (the fused NHWC modulated convolutions)."""
    x = RND.randn(2, 5, 6, 3).astype(np.float32)
    k = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0

    @tf.function(input_signature=[tf.TensorSpec([None, 5, 6, None])])
    def f(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            y = fused_bias_act(upfirdn_2d(v, k, 2, 2, 1, 1, 2, 1, 2, 1), tf.ones([3]), axis=3, act='lrelu')
        return y, tape.gradient(y, v)

    y, g = f(tf.constant(x))
    y_ref = fused_bias_act(upfirdn_2d(x, k, 2, 2, 1, 1, 2, 1, 2, 1, impl='ref'), tf.ones([3]), axis=3, act='lrelu', impl='ref')
    close(y.numpy(), y_ref.numpy())
    assert g.shape == x.shape


# ----------------------------------------------------------------------------
# Selection of the implementation.


def test_auto_selects_the_compiled_kernels_and_forcing_is_checked(library, monkeypatch):
    assert library.variant == 'cpu' and os.path.isfile(library.path)
    assert ops.select_impl('op', None, tf.float32) == 'cpu'
    assert ops.select_impl('op', None, tf.float64) == 'ref'   # Dtypes the kernels lack use the reference path.
    assert ops.select_impl('op', None, tf.float16) == 'ref'
    with pytest.raises(ValueError, match=r"impl='cpu' supports float32 tensors, not float64; use impl='ref'"):
        ops.select_impl('op', 'cpu', tf.float64)
    with pytest.raises(ValueError, match="impl='cuda' needs the compiled kernels, but they are unavailable: no GPU is "
                                         "visible to TensorFlow"):
        fused_bias_act(tf.ones([2, 3]), impl='cuda')
    monkeypatch.setenv('STYLEGAN2_OPS_IMPL', 'ref')
    assert ops.select_impl('op', None, tf.float32) == 'ref'
    assert ops.select_impl('op', 'cpu', tf.float32) == 'cpu'  # An explicit impl wins.
    monkeypatch.setenv('STYLEGAN2_OPS_IMPL', 'fast')
    with pytest.raises(ValueError, match="STYLEGAN2_OPS_IMPL='fast': expected auto, ref, cpu, cuda"):
        ops.select_impl('op', None, tf.float32)


@pytest.fixture(scope='module')
def generator():
    return make_networks(seed=3)[0]


def run_generator(G, impl):
    """Output of a small generator, with the ops' impl=None meaning `impl` (None: auto)."""
    z = tf.constant(np.random.RandomState(2).randn(3, 16).astype(np.float32))
    with pytest.MonkeyPatch.context() as mp:
        if impl:
            mp.setenv('STYLEGAN2_OPS_IMPL', impl)
        return G.get_output_for(z, tf.zeros([3, 0]), truncation_psi=0.7, randomize_noise=False).numpy()


def test_networks_use_the_compiled_ops_with_unchanged_output(library, generator):
    close(run_generator(generator, None), run_generator(generator, 'ref'), tol=1e-5)


# ----------------------------------------------------------------------------
# Failures: a broken compiler or cache falls back to the reference path, with one message.


@pytest.fixture
def fresh_process_state(monkeypatch, tmp_path):
    """custom_ops and ops as in a process that has not loaded the library yet, with an empty cache."""
    monkeypatch.setattr(custom_ops, '_library', None)
    monkeypatch.setattr(custom_ops, '_failures', {})
    monkeypatch.setattr(ops, '_auto', None)
    monkeypatch.setenv('STYLEGAN2_OPS_CACHE', str(tmp_path / 'cache'))
    monkeypatch.delenv('STYLEGAN2_OPS_IMPL', raising=False)
    return tmp_path / 'cache'


def test_without_compiler_the_networks_fall_back_to_the_reference_path(library, generator, fresh_process_state,
                                                                       monkeypatch, capfd):
    expected = run_generator(generator, 'ref')
    monkeypatch.delenv('CXX', raising=False)
    monkeypatch.setenv('PATH', str(fresh_process_state.parent))  # No g++ there.
    got = run_generator(generator, None)
    np.testing.assert_array_equal(got, expected)  # The reference path itself, so exactly.
    run_generator(generator, None)
    err = capfd.readouterr().err
    assert err.count('Custom ops:') == 1, err
    assert ("the compiled CPU kernels are unavailable, so impl=None runs the reference ops (impl='ref') instead. "
            "Reason: cannot run the compiler 'g++'") in err and 'set CXX, or put g++ on PATH' in err
    # Nothing half-built is left behind.
    assert [n for n in os.listdir(fresh_process_state) if not n.endswith('.lock')] == []
    # Forcing the compiled kernels is an error naming the cause, not a fallback.
    with pytest.raises(ValueError, match=r"impl='cpu' needs the compiled kernels, but they are unavailable: cannot run "
                                         r"the compiler 'g\+\+'"):
        fused_bias_act(tf.ones([2, 3]), tf.ones([3]), impl='cpu')
    monkeypatch.setenv('STYLEGAN2_OPS_IMPL', 'cpu')
    with pytest.raises(ValueError, match="impl='cpu' needs the compiled kernels"):
        upfirdn_2d(tf.ones([1, 4, 4, 1]), np.ones([2, 2]))


def test_compiler_errors_are_reported_with_the_command_and_output(library, fresh_process_state, monkeypatch, tmp_path):
    bad_cxx = tmp_path / 'bad-cxx'
    bad_cxx.write_text('#!/bin/sh\necho "fused_bias_act.cc:1: error: something is wrong" >&2\nexit 3\n')
    bad_cxx.chmod(0o755)
    monkeypatch.setenv('CXX', str(bad_cxx))
    with pytest.raises(custom_ops.BuildError) as info:
        custom_ops.get_library(gpu=False)
    message = str(info.value)
    assert 'bad-cxx failed (exit code 3)' in message and 'fused_bias_act.cc:1: error: something is wrong' in message
    assert f'{bad_cxx} -c fused_bias_act.cc -o fused_bias_act.cc.o' in message
    # Failures are remembered: the compiler does not run again on every op call.
    bad_cxx.write_text('#!/bin/sh\nexit 99\n')
    with pytest.raises(custom_ops.BuildError, match='exit code 3'):
        custom_ops.get_library(gpu=False)


def test_a_corrupt_cache_file_without_compiler_falls_back_and_names_the_file(library, fresh_process_state, monkeypatch, capfd):
    monkeypatch.setenv('CXX', str(fresh_process_state.parent / 'no-such-compiler'))
    path = custom_ops.plan('cpu').cache_path()
    os.makedirs(os.path.dirname(path))
    with open(path, 'wb') as f:
        f.write(b'\x7fELF truncated')
    assert ops.select_impl('fused_bias_act', None, tf.float32) == 'ref'
    err = capfd.readouterr().err
    assert f'the cached library {path} does not load' in err and 'rebuilding it failed: cannot run the compiler' in err
    assert not os.path.exists(path)  # The broken file is gone: the next process with a compiler rebuilds.


# ----------------------------------------------------------------------------
# The cache.


def test_cache_key_covers_sources_commands_and_tensorflow_version(monkeypatch, tmp_path):
    key = custom_ops.plan('cpu').key
    assert custom_ops.plan('cpu').key == key  # Deterministic.
    monkeypatch.setenv('CXX', 'g++-12')
    assert custom_ops.plan('cpu').key != key
    monkeypatch.delenv('CXX')
    monkeypatch.setattr(tf, '__version__', '0.0.1')
    assert custom_ops.plan('cpu').key != key
    monkeypatch.undo()
    sources = tmp_path / 'ops'
    shutil.copytree(custom_ops.OPS_DIR, sources)
    monkeypatch.setattr(custom_ops, 'OPS_DIR', str(sources))
    assert custom_ops.plan('cpu').key == key
    with open(sources / 'upfirdn_2d.h', 'a') as f:  # A header change rebuilds too.
        f.write('\n')
    assert custom_ops.plan('cpu').key != key
    assert custom_ops.plan('cpu').cache_path().startswith(os.environ['STYLEGAN2_OPS_CACHE'])


def test_kernels_are_built_for_this_cpu_and_the_cache_key_names_it(monkeypatch):
    monkeypatch.delenv(custom_ops.MARCH_ENV, raising=False)  # The default, whatever the caller's environment says.
    native = custom_ops.plan('cpu')
    assert all('-march=native' in command for command in native.compiles)
    # Another machine sharing the cache dir (its /proc/cpuinfo says so) gets a library of its own.
    with open('/proc/cpuinfo') as f:
        flags = [line.split(':', 1)[1].split() for line in f if line.startswith(('flags', 'Features'))][0]
    assert flags and all(flag in custom_ops.cpu_identity() for flag in flags)
    monkeypatch.setattr(custom_ops, 'cpu_identity', lambda: 'model name: another CPU\nflags: fpu sse sse2')
    assert custom_ops.plan('cpu').key != native.key
    monkeypatch.undo()
    monkeypatch.setenv(custom_ops.MARCH_ENV, 'x86-64-v3')
    avx2 = custom_ops.plan('cpu')
    assert all('-march=x86-64-v3' in command and '-march=native' not in command for command in avx2.compiles)
    assert avx2.key != native.key
    monkeypatch.setenv(custom_ops.MARCH_ENV, 'none')
    assert not [arg for command in custom_ops.plan('cpu').compiles for arg in command if arg.startswith('-march')]


SUBPROCESS_AVX2 = '''
import sys
sys.path.insert(0, {repo!r})
import numpy as np, tensorflow as tf
from dnnlib.tflib import custom_ops
from dnnlib.tflib.ops.fused_bias_act import fused_bias_act
from dnnlib.tflib.ops.upfirdn_2d import upfirdn_2d
lib = custom_ops.get_library(gpu=False)
rng = np.random.default_rng(1)

def value_and_grad(op, x, impl):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = op(x, impl)
    dy = tf.constant(np.random.default_rng(2).standard_normal(y.shape).astype(np.float32))  # The same for both impls.
    return y.numpy(), tape.gradient(y, x, output_gradients=dy).numpy()

# Odd sizes, so that every vector loop also runs its scalar tail.
k = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0
cases = [(lambda x, impl: fused_bias_act(x, tf.linspace(-1.0, 1.0, 37), act='lrelu', impl=impl), [3, 37, 5, 7]),
         (lambda x, impl: fused_bias_act(x, tf.linspace(-1.0, 1.0, 19), act='lrelu', axis=3, impl=impl), [2, 5, 7, 19]),
         (lambda x, impl: upfirdn_2d(x, k, upx=2, upy=2, padx0=2, padx1=1, pady0=2, pady1=1, impl=impl), [3, 13, 11, 5]),
         (lambda x, impl: upfirdn_2d(x, k, downx=2, downy=2, padx0=1, padx1=1, pady0=1, pady1=1, impl=impl), [3, 17, 19, 7])]
worst = 0.0
for op, shape in cases:
    x = rng.standard_normal(shape).astype(np.float32)
    for got, expected in zip(value_and_grad(op, x, 'cpu'), value_and_grad(op, x, 'ref')):
        worst = max(worst, float(np.abs(got - expected).max() / np.abs(expected).max()))
print('RESULT', lib.path, ' '.join(custom_ops.plan('cpu').compiles[0]), 'WORST', worst, flush=True)
'''


def test_kernels_built_for_avx2_only_cpus_equal_the_reference_path(library, tmp_path):
    """The library an AVX2-only machine builds (-march=x86-64-v3: AVX2 and FMA, no AVX-512), run here: its vector
    loops against the reference path. (The session's library, built for this CPU, is checked by the tests above.)
    On ARM, the baseline NEON build instead."""
    march = 'armv8-a' if platform.machine() in ('aarch64', 'arm64') else 'x86-64-v3'
    env = dict(os.environ, STYLEGAN2_OPS_CACHE=str(tmp_path / 'cache'), STYLEGAN2_OPS_MARCH=march, TF_CPP_MIN_LOG_LEVEL='3')
    out = subprocess.run([sys.executable, '-c', SUBPROCESS_AVX2.format(repo=REPO)], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = [ln for ln in out.stdout.splitlines() if ln.startswith('RESULT')][0].split()
    assert result[1].startswith(str(tmp_path / 'cache')) and result[1] != library.path
    assert f'-march={march}' in result and float(result[-1]) < 2e-5


def test_session_build_left_only_the_library_in_the_cache(library):
    names = sorted(os.listdir(os.path.dirname(library.path)))
    assert os.path.basename(library.path) in names
    assert not [n for n in names if n.startswith('.build-')]


def fake_compiler(directory, library_path):
    """A 'C++ compiler' that copies a prebuilt library as its link step: builds in milliseconds."""
    path = os.path.join(directory, 'fake-cxx')
    with open(path, 'w') as f:
        f.write(textwrap.dedent(f'''\
            #!{sys.executable}
            import shutil, sys
            args = sys.argv[1:]
            out = args[args.index('-o') + 1]
            if '-shared' in args:
                shutil.copyfile({library_path!r}, out)
            else:
                open(out, 'w').close()
            '''))
    os.chmod(path, 0o755)
    return path


def test_default_cache_dir_is_under_home(library, monkeypatch, tmp_path):
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.delenv('STYLEGAN2_OPS_CACHE')
    monkeypatch.setenv('CXX', fake_compiler(str(tmp_path), library.path))
    assert custom_ops.cache_dir() == str(tmp_path / '.cache' / 'stylegan2-tf2' / 'ops')
    p = custom_ops.plan('cpu')
    custom_ops.build(p, p.cache_path())
    assert os.path.dirname(p.cache_path()) == custom_ops.cache_dir()
    assert open(p.cache_path(), 'rb').read() == open(library.path, 'rb').read()


SUBPROCESS_LOAD = '''
import sys
sys.path.insert(0, {repo!r})
import numpy as np, tensorflow as tf
from dnnlib.tflib import custom_ops
from dnnlib.tflib.ops.fused_bias_act import fused_bias_act
lib = custom_ops.get_library(gpu=False)
y = fused_bias_act(tf.constant([[-1.0, 2.0]]), tf.constant([0.5, 0.5]), act='lrelu', impl='cpu').numpy()
print('RESULT', lib.how, '|', lib.path, '|', y.tolist(), flush=True)
'''


def test_a_second_process_waits_for_a_running_build_and_replaces_a_corrupt_file(library, tmp_path):
    """While one process holds the build lock, another waits; it then loads what the first left, here a
    corrupt file, which it rebuilds (with a fake compiler, so as not to pay for a real build)."""
    env = dict(os.environ, STYLEGAN2_OPS_CACHE=str(tmp_path / 'cache'), CXX=fake_compiler(str(tmp_path), library.path),
               TF_CPP_MIN_LOG_LEVEL='3')
    with pytest.MonkeyPatch.context() as mp:
        for name in ('STYLEGAN2_OPS_CACHE', 'CXX'):
            mp.setenv(name, env[name])
        path = custom_ops.plan('cpu').cache_path()
    lock = custom_ops._lock(path)
    lock.__enter__()
    try:
        proc = subprocess.Popen([sys.executable, '-c', SUBPROCESS_LOAD.format(repo=REPO)], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline, seen = time.monotonic() + 120, ''
        while 'waiting for another process' not in seen:
            ready = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]
            line = proc.stdout.readline() if ready else ''
            assert line, f'the second process did not wait for the lock; it printed:\n{seen}'
            seen += line
        with open(path, 'wb') as f:  # What "the other build" leaves: here, garbage.
            f.write(b'not a library')
    finally:
        lock.__exit__(None, None, None)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out
    result = [ln for ln in out.splitlines() if ln.startswith('RESULT')][0]
    assert 'replacing a broken file' in result and path in result, result
    assert '[[-0.14142' in result  # lrelu(-0.5) * sqrt(2) from the rebuilt library.
    assert sorted(os.listdir(os.path.dirname(path))) == sorted([os.path.basename(path), os.path.basename(path) + '.lock'])


# ----------------------------------------------------------------------------
# CUDA: the sources through nvcc (compile and link only, no GPU here), the kernels' math where a GPU is.


def test_missing_nvcc_is_a_clear_build_error(monkeypatch):
    """Without nvcc (none on PATH nor in the CUDA folders): a clear error for the CUDA build."""
    isfile = os.path.isfile
    monkeypatch.setattr(custom_ops.shutil, 'which', lambda name: None)
    monkeypatch.setattr(custom_ops.os.path, 'isfile', lambda path: not path.endswith(os.path.join('bin', 'nvcc')) and isfile(path))
    with pytest.raises(custom_ops.BuildError, match=r'nvcc not found \(looked on PATH and in \$CUDA_HOME'):
        custom_ops.find_nvcc()
    with pytest.raises(custom_ops.BuildError, match='nvcc not found'):
        custom_ops.plan('cuda')


def test_cuda_sources_compile_and_link_with_nvcc(tmp_path, capsys):
    try:
        nvcc = custom_ops.find_nvcc()
    except custom_ops.BuildError as e:  # The one allowed skip: a missing toolchain.
        pytest.skip(f'the CUDA kernels were not compiled in this run: {e}')
    check_cuda_build(nvcc, tmp_path, capsys)


def check_cuda_build(nvcc, tmp_path, capsys):
    """The CUDA sources compile and link into TF's op library and into the standalone harness (run where a GPU is)."""
    # The standalone harness (the kernels without TensorFlow, as on a GPU machine), built alongside.
    harness = str(tmp_path / 'harness.so')
    harness_build = subprocess.Popen(
        [nvcc, '-shared', '-O3', '-std=c++17', '-Xcompiler', '-fPIC', '-o', harness] +
        [os.path.join(custom_ops.OPS_DIR, n) for n in ('fused_bias_act.cu', 'upfirdn_2d.cu', 'cuda_harness.cu')],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    p = custom_ops.plan('cuda')
    assert any(c[0] == nvcc for c in p.compiles) and all('-DSG2_CUDA' in c for c in p.compiles if c[0] != nvcc)
    path = str(tmp_path / 'ops.so')
    custom_ops.build(p, path)  # Compile and link; loading would clash with the CPU library of this process.
    data = open(path, 'rb').read()
    for symbol in (b'fused_bias_act_cuda', b'upfirdn_2d_cuda', b'FusedBiasActGpuOp', b'UpFirDn2DGpuOp'):
        assert symbol in data, symbol

    assert harness_build.wait() == 0, harness_build.stdout.read()
    lib = ctypes.CDLL(harness)
    version = subprocess.run([nvcc, '--version'], capture_output=True, text=True).stdout.strip().splitlines()[-1]
    with capsys.disabled():
        print(f'\nCompiled and linked the CUDA ops with {nvcc} ({version}).')
        if lib.sg2_device_count() > 0:
            check_cuda_kernels(lib)
            print('Ran the CUDA kernels on the GPU: they match numpy.')
        else:
            print('No GPU here: the CUDA kernels were compiled, not run.')


def check_cuda_kernels(lib):
    """The CUDA kernels through the harness against the numpy references, float32 and float16."""
    from numpy_ops import np_upfirdn, NP_ACTS
    fp = ctypes.POINTER(ctypes.c_float)
    ptr = lambda a: None if a is None else a.ctypes.data_as(fp)  # a: a float32 array the caller keeps alive.  # noqa: E731
    lib.sg2_fused_bias_act.restype = lib.sg2_upfirdn_2d.restype = ctypes.c_char_p
    for half, tol in [(0, 1e-5), (1, 1e-2)]:
        for up, down in [((1, 1), (1, 1)), ((2, 2), (1, 1)), ((1, 1), (2, 2)), ((4, 1), (1, 2))]:
            for k, pads, shape in list(upfirdn_cases(*up, *down))[::5]:
                k = k.astype(np.float32)
                x = RND.randn(*shape).astype(np.float32)
                expected = np_upfirdn(x, k, *up, *down, *pads)
                y = np.zeros(expected.shape, np.float32)
                args = [*shape, *k.shape, *up, *down, *pads, half]
                error = lib.sg2_upfirdn_2d(ptr(x), ptr(k), ptr(y), *[ctypes.c_int(a) for a in args])
                assert error is None, error
                close(y, expected, tol)
        for act, (func, def_gain) in NP_ACTS.items():
            x = RND.randn(3, 4, 5).astype(np.float32)
            b = RND.randn(4).astype(np.float32)
            expected = func(x + b[:, None], 0.2) * def_gain
            y = np.zeros_like(x)
            error = lib.sg2_fused_bias_act(ptr(x), ptr(b), None, ptr(y), ctypes.c_longlong(x.size), ctypes.c_longlong(4),
                                           ctypes.c_longlong(5), activation_funcs[act].cuda_idx, 0, ctypes.c_float(0.2),
                                           ctypes.c_float(def_gain), half)
            assert error is None, error
            close(y, expected, tol)
