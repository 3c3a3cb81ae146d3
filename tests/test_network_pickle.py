"""Network pickles: NVIDIA's state layout out, the same networks back in, and nothing executed on load."""

import copyreg
import importlib
import io
import os
import pickle
import pickletools
import struct
import sys
import types
import warnings

import numpy as np
import pytest

import dnnlib
import dnnlib.tflib as tflib
from dnnlib.tflib import network_pickle
from training import misc
from training import networks_stylegan2 as nets
from small_networks import SMALL_G, make_family_networks, make_networks

class _StateStub:
    """Independent reader for the test: record whatever state the pickle holds for each network."""

    def __setstate__(self, state):
        self.state = state


class _RecordingUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ('dnnlib.tflib.network', 'Network'):
            return _StateStub
        return super().find_class(module, name)


def test_pickle_has_nvidia_state_layout(tmp_path):
    G, D, Gs = make_networks()
    path = str(tmp_path / 'network-snapshot-000000.pkl')
    misc.save_pkl((G, D, Gs), path)
    with open(path, 'rb') as f:
        raw = f.read()
    # Protocol 4, and arrays through names every numpy version has: numpy 1.x has no numpy._core, numpy 2 warns
    # on numpy.core.
    opcodes = list(pickletools.genops(raw))
    assert opcodes[0][0].name == 'PROTO' and opcodes[0][1] == 4
    assert _globals_named(raw) == {('dnnlib.tflib.network', 'Network'), ('numpy', 'ndarray'), ('builtins', 'bytearray')}

    g, d, gs = _RecordingUnpickler(io.BytesIO(raw)).load()
    keys = {'version', 'name', 'static_kwargs', 'components', 'build_module_src', 'build_func_name', 'variables'}
    for stub, name, func in ((g, 'G', 'G_main'), (d, 'D', 'D_stylegan2'), (gs, 'Gs', 'G_main')):
        assert set(stub.state) == keys
        assert stub.state['version'] == 4 and stub.state['name'] == name and stub.state['build_func_name'] == func
        assert 'from training.networks_stylegan2 import *' in stub.state['build_module_src']
    assert g.state['static_kwargs'] == SMALL_G
    assert list(g.state['components']) == ['synthesis', 'mapping']
    syn = g.state['components']['synthesis'].state
    mapping = g.state['components']['mapping'].state
    assert syn['name'] == 'G_synthesis' and syn['build_func_name'] == 'G_synthesis_stylegan2'
    assert mapping['name'] == 'G_mapping' and mapping['static_kwargs'] == dict(SMALL_G, dlatent_broadcast=6)
    # Own variables only, as (name, float32 array) pairs, in creation order.
    assert [name for name, _ in g.state['variables']] == ['lod', 'dlatent_avg']
    syn_vars = dict(syn['variables'])
    assert [name for name, _ in syn['variables']][:6] == ['noise0', 'noise1', 'noise2', 'noise3', 'noise4', '4x4/Const/const']
    assert syn_vars['16x16/Conv0_up/weight'].shape == (3, 3, 16, 8) and syn_vars['16x16/Conv0_up/weight'].dtype == np.float32
    assert syn_vars['4x4/Conv/noise_strength'].shape == () and float(syn_vars['4x4/Conv/noise_strength']) == pytest.approx(0.3)
    np.testing.assert_array_equal(syn_vars['8x8/Conv1/weight'], G.get_var('G_synthesis/8x8/Conv1/weight'))


def test_stored_module_source_gives_nvidia_loader_the_build_functions(tmp_path, monkeypatch):
    """NVIDIA's TF1 loader executes build_module_src in a fresh module and looks up build_func_name there: our
    source must hand it the functions of NVIDIA's training.networks_stylegan2 (a stand-in module here)."""
    G, D, _ = make_networks()
    nvidia = types.ModuleType('training.networks_stylegan2')
    for name in ('G_main', 'G_mapping', 'G_synthesis_stylegan2', 'D_stylegan2', 'nf_func'):
        setattr(nvidia, name, object())
    monkeypatch.setitem(sys.modules, 'training.networks_stylegan2', nvidia)
    for net in (G, G.components.synthesis, G.components.mapping, D):
        state = net.__getstate__()
        module = types.ModuleType('_tflib_network_import')
        exec(state['build_module_src'], module.__dict__)  # pylint: disable=exec-used
        assert getattr(module, state['build_func_name']) is getattr(nvidia, state['build_func_name'])


def test_save_load_round_trip_gives_same_outputs(tmp_path):
    G, D, Gs = make_networks(label_size=3, architecture='resnet')
    path = str(tmp_path / 'snap.pkl')
    misc.save_pkl((G, D, Gs), path)
    G2, D2, Gs2 = misc.load_pkl(path)
    for a, b in ((G, G2), (D, D2), (Gs, Gs2)):
        assert a.name == b.name and dict(a.static_kwargs) == dict(b.static_kwargs)
        assert list(a.vars) == list(b.vars)
        for name in a.vars:
            np.testing.assert_array_equal(a.get_var(name), b.get_var(name))
    z = np.random.RandomState(0).randn(4, 16)
    labels = np.eye(3)[[0, 1, 2, 0]]
    np.testing.assert_array_equal(Gs.run(z, labels, randomize_noise=False), Gs2.run(z, labels, randomize_noise=False))
    images = G.run(z, labels, truncation_psi=1.0, randomize_noise=False)
    np.testing.assert_array_equal(D.run(images, labels), D2.run(images, labels))
    assert not [f for f in os.listdir(tmp_path) if f != 'snap.pkl']  # No temporary files left behind.


def test_single_network_pickle_and_load_networks(tmp_path):
    import pretrained_networks
    G, _, _ = make_networks()
    path = str(tmp_path / 'g.pkl')
    misc.save_pkl(G, path)
    loaded = pretrained_networks.load_networks(path)
    assert isinstance(loaded, tflib.Network) and loaded.name == 'G'
    assert pretrained_networks.load_networks(path) is loaded  # Cached per process, like the original.


def _pickle_with_state(net, mutate):
    """Pickle a network whose state has been altered by mutate(state)."""
    state = net.__getstate__()
    mutate(state)
    net.__getstate__ = lambda: state  # Instance attribute: pickle asks the object for its state.
    return pickle.dumps(net, protocol=4)


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / 'pwned'

    class Exploit:
        def __reduce__(self):
            return (os.system, (f'touch {marker}',))

    path = tmp_path / 'evil.pkl'
    path.write_bytes(pickle.dumps((Exploit(),), protocol=4))
    with pytest.raises(pickle.UnpicklingError, match=r'Refusing to load "(posix|os|nt)\.system"'):
        misc.load_pkl(str(path))
    assert not marker.exists()


def test_build_module_src_is_never_executed(tmp_path):
    marker = tmp_path / 'executed'
    _, D, _ = make_networks()
    src = f"open({str(marker)!r}, 'w').write('x')\ndef D_stylegan2(*args, **kwargs):\n    pass\n"
    data = _pickle_with_state(D, lambda state: state.update(build_module_src=src))
    D2 = misc.load_pkl(io.BytesIO(data))
    assert not marker.exists()
    assert D2._build_func is nets.D_stylegan2  # Our own build function, picked by name.
    images = np.random.RandomState(1).randn(2, 3, 16, 16)
    np.testing.assert_array_equal(D.run(images, None), D2.run(images, None))


@pytest.mark.parametrize('mutate,message', [
    (lambda s: s.update(build_func_name='os.system'), "unknown build function 'os.system'"),
    (lambda s: s.update(build_func_name='G_nonexistent'), "unknown build function 'G_nonexistent'"),
    # Public functions of the networks module that are not network build functions.
    (lambda s: s.update(build_func_name='nf_func'), "unknown build function 'nf_func'"),
    (lambda s: s.update(build_func_name='modulated_conv2d_layer'), "unknown build function 'modulated_conv2d_layer'"),
    (lambda s: s.update(version=9), 'unsupported pickle state version 9'),
    (lambda s: s['variables'].pop(), "Missing in the pickle: \\['Output/bias'\\]"),
    (lambda s: s['variables'].append(('Extra/weight', np.zeros(3, np.float32))), "not in the network: \\['Extra/weight'\\]"),
    (lambda s: s.update(variables=[(n, np.zeros([7]) if n == '4x4/Conv/bias' else v) for n, v in s['variables']]),
     'variable "4x4/Conv/bias" has shape \\[7\\] in the pickle, expected \\[32\\]'),
    # A StyleGAN (v1) module has no D_stylegan2; ProGAN networks come only as ProGAN's tfutil.Network.
    (lambda s: s.update(build_module_src='def G_style(x):\n'), "unknown build function 'D_stylegan2' for training.networks_stylegan"),
    (lambda s: s.update(build_module_src='def D_paper(x):\n', build_func_name='D_paper'), 'does not match the network built from it'),
])
def test_bad_network_states_give_clear_errors(mutate, message):
    _, D, _ = make_networks()
    data = _pickle_with_state(D, mutate)
    with pytest.raises(ValueError, match=message):
        misc.load_pkl(io.BytesIO(data))


def test_progan_pickle_has_progan_state_layout_and_class(tmp_path):
    """ProGAN's pickles hold tfutil.Network objects, created without __init__ (NEWOBJ), with state version 2, no
    components, and every variable of the network in creation order."""
    kwargs = dict(num_channels=3, resolution=8, label_size=2, fmap_base=32, fmap_max=8)
    G = tflib.Network('G', func_name='training.networks_progan.G_paper', latent_size=8, **kwargs)
    D = tflib.Network('D', func_name='training.networks_progan.D_paper', **kwargs)
    rnd = np.random.RandomState(2)
    for net in (G, D):
        for name, var in net.vars.items():
            var.assign(np.float32(rnd.randn(*var.shape.as_list())))
    path = str(tmp_path / 'pgan.pkl')
    misc.save_pkl((G, D, G.clone('Gs')), path)
    with open(path, 'rb') as f:
        raw = f.read()
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(raw) if op.name != 'MEMOIZE']
    at = ops.index(('SHORT_BINUNICODE', 'tfutil'))
    assert ops[at + 1] == ('SHORT_BINUNICODE', 'Network') and ops[at + 2][0] == 'STACK_GLOBAL'
    assert ('SHORT_BINUNICODE', 'dnnlib.tflib.network') not in ops and 'NEWOBJ' in [op for op, _ in ops]

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            return _StateStub if (module, name) == ('tfutil', 'Network') else super().find_class(module, name)
    g, d, gs = Unpickler(io.BytesIO(raw)).load()
    assert set(g.state) == {'version', 'name', 'static_kwargs', 'build_module_src', 'build_func_name', 'variables'}
    assert g.state['version'] == 2 and g.state['build_func_name'] == 'G_paper' and d.state['build_func_name'] == 'D_paper'
    assert 'from networks import *' in g.state['build_module_src']
    assert [name for name, _ in g.state['variables']] == ['lod', '4x4/Dense/weight', '4x4/Dense/bias', '4x4/Conv/weight',
                                                          '4x4/Conv/bias', 'ToRGB_lod1/weight', 'ToRGB_lod1/bias',
                                                          '8x8/Conv0_up/weight', '8x8/Conv0_up/bias', '8x8/Conv1/weight',
                                                          '8x8/Conv1/bias', 'ToRGB_lod0/weight', 'ToRGB_lod0/bias']
    np.testing.assert_array_equal(dict(d.state['variables'])['4x4/Dense1/weight'], D.get_var('4x4/Dense1/weight'))

    G2, D2, Gs2 = misc.load_pkl(path)
    z, labels = rnd.randn(4, 8), np.eye(2)[[0, 1, 1, 0]]
    np.testing.assert_array_equal(G2.run(z, labels), G.run(z, labels))
    for got, expected in zip(D2.run(G.run(z, labels)), D.run(G.run(z, labels))):
        np.testing.assert_array_equal(got, expected)
    assert Gs2.name == 'Gs' and not Gs2.components


def test_plain_pickle_load_of_our_network_is_refused(tmp_path):
    for family in ('stylegan2', 'progan'):  # ProGAN's class name resolves to this project's stand-in tfutil.Network.
        G, _, _ = make_family_networks(family)
        data = pickle.dumps(G, protocol=4)
        with pytest.raises(TypeError, match='load_pkl'):
            pickle.loads(data)


def test_networks_vars_work_as_dict_keys_like_tf1():
    G, _, _ = make_networks()
    noise_vars = [var for name, var in G.components.synthesis.vars.items() if name.startswith('noise')]
    values = {var: np.full(var.shape.as_list(), i, np.float32) for i, var in enumerate(noise_vars)}
    tflib.set_vars(values)
    assert [float(v.numpy().mean()) for v in noise_vars] == list(range(len(noise_vars)))
    assert isinstance(dnnlib.EasyDict(a=1).a, int)


# ----------------------------------------------------------------------------
# Every way numpy writes arrays into a pickle: protocols 2-5, numpy 1.x and 2.x module names.

class _NumpySpellingPickler(pickle._Pickler):  # pylint: disable=protected-access
    """Pure-Python pickler that names numpy's reconstructors under numpy 1.x's `numpy.core` or numpy 2's
    `numpy._core`, whichever numpy is installed, as the numpy that wrote a user's file would have."""

    dispatch = dict(pickle._Pickler.dispatch)  # pylint: disable=protected-access
    dispatch[types.FunctionType] = lambda self, obj: self.save_global(obj)  # The base class bypasses overrides.

    def __init__(self, file, protocol, core):
        super().__init__(file, protocol=protocol)
        self.core = core

    def save_global(self, obj, name=None):
        module = getattr(obj, '__module__', '') or ''
        if not module.startswith(('numpy.core.', 'numpy._core.')) or obj is np.ndarray:
            return super().save_global(obj, name)
        module = self.core + '.' + module.split('.', 2)[2]
        if self.proto >= 4:
            self.save(module)
            self.save(obj.__name__)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f'{module}\n{obj.__name__}\n'.encode())
        self.memoize(obj)


def _dump(obj, protocol, core):
    buf = io.BytesIO()
    _NumpySpellingPickler(buf, protocol, core).dump(obj)
    return buf.getvalue()


def _globals_named(data):
    """(module, name) of every global a pickle references, as Python's own unpickler asks for them."""
    found = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            found.add((module, name))
            if (module, name) in network_pickle.NETWORK_CLASSES:
                return _StateStub
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', DeprecationWarning)  # numpy 2 on numpy.core names.
                return super().find_class(module, name)
    Recorder(io.BytesIO(data), encoding='latin1').load()
    return found


ARRAYS = {
    'c_order': np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7,
    'fortran_order': np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5),
    'zero_d': np.array(0.3, np.float32),
    'scalar': np.float32(-2.25),
    'strided': (np.arange(20, dtype=np.float64).reshape(4, 5) ** 2)[:, ::2],
    'int64': np.array([[1, -2], [3, 1 << 40]], np.int64),
    'empty': np.zeros([0, 3], np.float32),
}


@pytest.mark.parametrize('protocol', [2, 3, 4, 5])
@pytest.mark.parametrize('core', ['numpy.core', 'numpy._core'])
def test_arrays_load_from_every_protocol_and_numpy_spelling(protocol, core):
    data = _dump(ARRAYS, protocol, core)
    names = _globals_named(data)
    assert not any(module.startswith('numpy.core' if core == 'numpy._core' else 'numpy._core') for module, _ in names)
    if protocol == 5:
        assert (core + '.numeric', '_frombuffer') in names  # How protocol 5 stores contiguous arrays.
    assert (core + '.multiarray', '_reconstruct' if protocol < 5 else 'scalar') in names
    loaded = network_pickle.load_states(io.BytesIO(data))
    assert sorted(loaded) == sorted(ARRAYS)
    for key, expected in ARRAYS.items():
        got = loaded[key]
        assert type(got) is type(expected) and got.dtype == expected.dtype and got.shape == expected.shape, key
        np.testing.assert_array_equal(got, expected, err_msg=key)
    assert loaded['fortran_order'].flags['F_CONTIGUOUS']


@pytest.mark.parametrize('protocol', [2, 4, 5])
@pytest.mark.parametrize('core', ['numpy.core', 'numpy._core'])
def test_network_pickles_load_from_every_protocol_and_numpy_spelling(protocol, core):
    G, D, Gs = make_networks()
    data = _dump((G, D, Gs), protocol, core)
    for original, loaded in zip((G, D, Gs), misc.load_pkl(io.BytesIO(data))):
        assert list(loaded.vars) == list(original.vars)
        for name, var in original.vars.items():
            np.testing.assert_array_equal(loaded.get_var(name), var.numpy(), err_msg=name)


@pytest.mark.parametrize('protocol', [2, 4, 5])
def test_object_arrays_are_refused(protocol):
    for obj in (np.array([1, 'a', None], dtype=object), np.zeros(2, dtype=[('a', 'f4'), ('b', 'O')])):
        with pytest.raises(pickle.UnpicklingError, match='dtype'):
            network_pickle.load_states(io.BytesIO(pickle.dumps({'x': obj}, protocol=protocol)))


def test_hostile_structures_give_the_not_a_pickle_error():
    nested = b'\x80\x04' + b']' * 300000 + b'a' * 299999 + b'.'  # A list nested 300000 deep: RecursionError.
    huge = b'\x80\x04\x8e' + struct.pack('<Q', 1 << 60) + b'.'  # Bytes of 2**60 announced: MemoryError.
    for data in (nested, huge):
        with pytest.raises(pickle.UnpicklingError, match='Not a readable network pickle'):
            misc.load_pkl(io.BytesIO(data))
    # numpy's reconstructor asked to build something other than an ndarray (here a dtype) is refused.
    evil = (b'\x80\x04\x8c\x15numpy.core.multiarray\x94\x8c\x0c_reconstruct\x94\x93\x94\x8c\x05numpy\x94\x8c\x05dtype'
            b'\x94\x93\x94K\x00\x85\x94C\x01b\x94\x87\x94R\x94.')
    with pytest.raises(pickle.UnpicklingError, match='only plain numpy arrays'):
        network_pickle.load_states(io.BytesIO(evil))


# ----------------------------------------------------------------------------
# A plain pickle.dump of any network writes NVIDIA's format, the bytes save_pkl writes.

class _Numpy1Unpickler(pickle.Unpickler):
    """An unpickler that sees what NVIDIA's readers with numpy 1.x see: no numpy._core (and, to be sure the file does
    not depend on numpy's private modules at all, no numpy.core either). Networks become _StateStubs."""

    def find_class(self, module, name):
        if module.startswith(('numpy.core', 'numpy._core')):
            raise pickle.UnpicklingError(f'numpy 1.x reader cannot use {module}.{name}')
        if (module, name) in network_pickle.NETWORK_CLASSES:
            return _StateStub
        return super().find_class(module, name)


@pytest.mark.parametrize('family, class_path, version', [('stylegan2', 'dnnlib.tflib.network.Network', 4),
                                                         ('stylegan', 'dnnlib.tflib.network.Network', 3),
                                                         ('progan', 'tfutil.Network', 2)])
def test_plain_pickle_dump_writes_what_save_pkl_writes(tmp_path, family, class_path, version):
    nets = make_family_networks(family)
    for protocol in (2, 4, 5):
        data = pickle.dumps(nets, protocol=protocol)
        path = str(tmp_path / f'p{protocol}.pkl')
        misc.save_pkl(nets, path, protocol=protocol)
        with open(path, 'rb') as f:
            assert f.read() == data
        assert (tuple(class_path.rsplit('.', 1))) in _globals_named(data)
        # What NVIDIA's readers get: the state of each network, its variables' values as stored.
        stubs = _Numpy1Unpickler(io.BytesIO(data)).load()
        for net, stub in zip(nets, stubs):
            assert stub.state['version'] == version and stub.state['name'] == net.name
            stored = dict(stub.state['variables'])
            for name, var in net.own_vars.items():
                assert stored[name].dtype == np.float32 and stored[name].flags.writeable
                np.testing.assert_array_equal(stored[name], var.numpy(), err_msg=name)
        # And this project's reader.
        for net, loaded in zip(nets, misc.load_pkl(io.BytesIO(data))):
            assert type(loaded) is type(net) and list(loaded.vars) == list(net.vars)
            for name, var in net.vars.items():
                np.testing.assert_array_equal(loaded.get_var(name), var.numpy(), err_msg=name)


@pytest.mark.parametrize('protocol', [0, 1])
def test_oldest_protocols_load_back(protocol):
    """Protocols 0 and 1 write copyreg.__newobj__ as a function call where later ones write NEWOBJ."""
    for family in ('stylegan2', 'progan'):
        nets = make_family_networks(family)
        for net, loaded in zip(nets, misc.load_pkl(io.BytesIO(pickle.dumps(nets, protocol=protocol)))):
            for name, var in net.vars.items():
                np.testing.assert_array_equal(loaded.get_var(name), var.numpy(), err_msg=name)


def test_copy_and_deepcopy_give_independent_networks():
    import copy
    for family in ('stylegan2', 'progan'):
        G, _, _ = make_family_networks(family)
        for copied in (copy.deepcopy(G), copy.copy(G)):
            assert type(copied) is type(G) and copied.name == G.name and copied.pickle_version == G.pickle_version
            name, var = next((n, v) for n, v in G.trainables.items() if v.shape.rank)
            expected = var.numpy()
            np.testing.assert_array_equal(copied.get_var(name), expected)
            copied.vars[name].assign(expected + 1)  # Its own variables: G keeps its values.
            np.testing.assert_array_equal(G.get_var(name), expected)


def _stylegan_repo_progan(label_size=2):
    """G and D as NVlabs/stylegan's training/networks_progan.py writes them: dnnlib Networks, state version 3, its
    whole module source stored (a stand-in here, with the function definitions the reader looks for)."""
    kwargs = dict(num_channels=3, resolution=8, label_size=label_size, fmap_base=32, fmap_max=8)
    G = tflib.Network('G', func_name='training.networks_progan_stylegan.G_paper', latent_size=8, **kwargs)
    D = tflib.Network('D', func_name='training.networks_progan_stylegan.D_paper', **kwargs)
    rnd = np.random.RandomState(4)
    nvidia_src = '"""Network architectures used in the ProGAN paper."""\ndef G_paper(\n    latents_in,\n    ...\ndef D_paper(\n'
    data = []
    for net in (G, D):
        for var in net.vars.values():
            var.assign(np.float32(rnd.randn(*var.shape.as_list())))
        data.append(_pickle_with_state(net, lambda s: s.update(build_module_src=nvidia_src)))
    return (G, D), data, nvidia_src


def test_stylegan_repo_progan_pickles_load_and_resave_in_their_layout():
    (G, D), data, nvidia_src = _stylegan_repo_progan()
    for original, raw in zip((G, D), data):
        assert ('dnnlib.tflib.network', 'Network') in _globals_named(raw)
        loaded = misc.load_pkl(io.BytesIO(raw))
        assert type(loaded) is tflib.Network and loaded.pickle_version == 3
        assert loaded._build_func.__module__ == 'training.networks_progan_stylegan'
        for name, var in original.vars.items():
            np.testing.assert_array_equal(loaded.get_var(name), var.numpy(), err_msg=name)
        # Re-saved: NVlabs/stylegan's layout, key for key, with the source it came with.
        stub = _Numpy1Unpickler(io.BytesIO(pickle.dumps(loaded, protocol=4))).load()
        assert list(stub.state) == ['version', 'name', 'static_kwargs', 'components', 'build_module_src',
                                    'build_func_name', 'variables']
        assert stub.state['version'] == 3 and stub.state['components'] == {} and stub.state['build_module_src'] == nvidia_src
        assert [name for name, _ in stub.state['variables']] == list(original.own_vars)
    D2 = misc.load_pkl(io.BytesIO(data[1]))
    assert D2.input_names == ['images_in', 'labels_in'] and D2.output_shapes == [[None, 1]]


def test_progan_source_in_a_tfutil_network_is_progans_own_and_nothing_else_is():
    G, _, _ = make_family_networks('progan')
    loaded = misc.load_pkl(io.BytesIO(_pickle_with_state(G, lambda s: s.update(build_module_src='def G_paper(\n'))))
    assert type(loaded).__module__ == 'tfutil' and loaded._build_func.__module__ == 'training.networks_progan'
    bad = _pickle_with_state(G, lambda s: s.update(build_module_src='def G_main(\n', build_func_name='G_main'))
    with pytest.raises(ValueError, match='only ProGAN networks are tfutil.Networks'):
        misc.load_pkl(io.BytesIO(bad))


# The pickle format written out, independently of Network.__getstate__ / __reduce_ex__: each network a NEWOBJ of
# NVIDIA's class with its state dict in NVIDIA's key order, each array numpy.ndarray(shape, dtype, bytearray).
_LAYOUTS = {  # family: (build module, state version, class as pickled)
    'stylegan2': ('networks_stylegan2', 4, ('dnnlib.tflib.network', 'Network')),
    'stylegan': ('networks_stylegan', 3, ('dnnlib.tflib.network', 'Network')),
    'progan': ('networks_progan', 2, ('tfutil', 'Network')),
    'progan_stylegan': ('networks_progan_stylegan', 3, ('dnnlib.tflib.network', 'Network')),
}


def _expected_pickle(nets, family, protocol):
    module_name, version, (class_module, class_name) = _LAYOUTS[family]
    module = importlib.import_module('training.' + module_name)

    class Writer(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, np.ndarray):
                return np.ndarray, (obj.shape, obj.dtype.str, bytearray(obj.tobytes()))
            if not isinstance(obj, tflib.Network):
                return NotImplemented
            state = {'version': version, 'name': obj.name, 'static_kwargs': dict(obj.static_kwargs),
                     'components': dict(obj.components), 'build_module_src': module.PICKLE_MODULE_SRC,
                     'build_func_name': obj.build_func_name,
                     'variables': [(name, np.asarray(var.numpy())) for name, var in obj.own_vars.items()]}
            if version == 2:
                del state['components']
            return copyreg.__newobj__, (getattr(sys.modules[class_module], class_name),), state

    buf = io.BytesIO()
    Writer(buf, protocol=protocol).dump(nets)
    return buf.getvalue()


@pytest.mark.parametrize('family', list(_LAYOUTS))
def test_pickle_bytes_are_the_format_written_out(family):
    """Byte for byte, so that no change of the code that writes pickles alters the format unnoticed (the variables'
    names, shapes and order are checked against NVIDIA's in the network tests)."""
    nets = make_family_networks(family)
    for protocol in (2, 4, 5):
        assert pickle.dumps(nets, protocol=protocol) == _expected_pickle(nets, family, protocol), protocol
