"""Network pickles: NVIDIA's state layout out, the same networks back in, and nothing executed on load."""

import io
import os
import pickle
import pickletools

import numpy as np
import pytest

import dnnlib
import dnnlib.tflib as tflib
from training import misc
from training import networks_stylegan2 as nets
from small_networks import SMALL_G, make_networks

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
    # Protocol 4 and numpy's array reconstructor under its numpy-1.x module name.
    opcodes = list(pickletools.genops(raw))
    assert opcodes[0][0].name == 'PROTO' and opcodes[0][1] == 4
    strings = [arg for op, arg, _ in opcodes if op.name in ('SHORT_BINUNICODE', 'BINUNICODE')]
    assert 'numpy.core.multiarray' in strings and 'numpy._core.multiarray' not in strings

    g, d, gs = _RecordingUnpickler(io.BytesIO(raw)).load()
    keys = {'version', 'name', 'static_kwargs', 'components', 'build_module_src', 'build_func_name', 'variables'}
    for stub, name, func in ((g, 'G', 'G_main'), (d, 'D', 'D_stylegan2'), (gs, 'Gs', 'G_main')):
        assert set(stub.state) == keys
        assert stub.state['version'] == 4 and stub.state['name'] == name and stub.state['build_func_name'] == func
        assert 'def G_synthesis_stylegan2(' in stub.state['build_module_src']
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
    (lambda s: s.update(version=9), 'unsupported pickle state version 9'),
    (lambda s: s['variables'].pop(), "Missing in the pickle: \\['Output/bias'\\]"),
    (lambda s: s['variables'].append(('Extra/weight', np.zeros(3, np.float32))), "not in the network: \\['Extra/weight'\\]"),
    (lambda s: s.update(variables=[(n, np.zeros([7]) if n == '4x4/Conv/bias' else v) for n, v in s['variables']]),
     'variable "4x4/Conv/bias" has shape \\[7\\] in the pickle, expected \\[32\\]'),
    (lambda s: s.update(build_module_src='def G_style(x):\n'), 'StyleGAN \\(v1\\) network'),
])
def test_bad_network_states_give_clear_errors(mutate, message):
    _, D, _ = make_networks()
    data = _pickle_with_state(D, mutate)
    with pytest.raises(ValueError, match=message):
        misc.load_pkl(io.BytesIO(data))


def test_plain_pickle_load_of_our_network_is_refused(tmp_path):
    G, _, _ = make_networks()
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
