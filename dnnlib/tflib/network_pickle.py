"""Network pickles in NVIDIA's format, read without executing anything from the file and written
so that NVIDIA's readers (its TF1 code, stylegan2-ada-pytorch's legacy.py) accept them.

NVIDIA's pickles store each network as the state dict of `dnnlib.tflib.network.Network` (or
`tfutil.Network` for ProGAN), including the Python source of the build function, which the original
loader executes. We never do: the unpickler below resolves only an allow-list of harmless classes,
turns every network into a `NetworkState`, and the caller rebuilds it with its own build functions.
"""

import io
import pickle
from typing import Any, BinaryIO, Callable

import numpy as np

from .. import util

NETWORK_CLASSES = {('dnnlib.tflib.network', 'Network'), ('tfutil', 'Network')}


class NetworkState:
    """A network as stored in a pickle: its state dict, nothing executed."""

    def __init__(self, class_path: str = ''):
        self.class_path = class_path
        self.state = None

    def __setstate__(self, state: dict) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f'Network state must be a dict, got {type(state).__name__}.')
        self.state = state


def _network_state_factory(class_path: str):
    class _State(NetworkState):
        def __init__(self):
            super().__init__(class_path)
    return _State


def _numpy_core(name: str) -> Any:
    """numpy.core (numpy 1.x) was renamed numpy._core (numpy 2); both names appear in pickles."""
    core = getattr(np, '_core', None) or np.core
    return getattr(core.multiarray, name)


# Classes and functions a network pickle may name; anything else is refused before it is imported.
_SAFE_GLOBALS = {
    ('numpy', 'ndarray'): lambda: np.ndarray,
    ('numpy', 'dtype'): lambda: np.dtype,
    ('numpy.core.multiarray', '_reconstruct'): lambda: _numpy_core('_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'): lambda: _numpy_core('_reconstruct'),
    ('numpy.core.multiarray', 'scalar'): lambda: _numpy_core('scalar'),
    ('numpy._core.multiarray', 'scalar'): lambda: _numpy_core('scalar'),
    ('_codecs', 'encode'): lambda: __import__('codecs').encode,  # Bytes in protocol-2 pickles.
    ('collections', 'OrderedDict'): lambda: __import__('collections').OrderedDict,
    ('dnnlib.util', 'EasyDict'): lambda: util.EasyDict,
    ('dnnlib', 'EasyDict'): lambda: util.EasyDict,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that maps networks to NetworkState and refuses every class not on the allow-list."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in NETWORK_CLASSES:
            return _network_state_factory(f'{module}.{name}')
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[(module, name)]()
        raise pickle.UnpicklingError(
            f'Refusing to load "{module}.{name}" from the pickle: a network pickle holds only networks and '
            f'numpy arrays, and anything else could run code. The file is not a network pickle, or has been tampered with.')


def load_states(file: BinaryIO) -> Any:
    """Unpickle a file, with every network as a NetworkState."""
    try:
        return RestrictedUnpickler(file, encoding='latin1').load()
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise pickle.UnpicklingError(f'Not a readable network pickle: {err}') from err


def map_states(obj: Any, convert: Callable[[NetworkState], Any]) -> Any:
    """Replace every NetworkState in a tuple/list/dict structure by convert(state)."""
    if isinstance(obj, NetworkState):
        return convert(obj)
    if isinstance(obj, tuple):
        return tuple(map_states(x, convert) for x in obj)
    if isinstance(obj, list):
        return [map_states(x, convert) for x in obj]
    if isinstance(obj, dict):
        return type(obj)((k, map_states(v, convert)) for k, v in obj.items())
    return obj


# ----------------------------------------------------------------------------
# Writing.

PICKLE_PROTOCOL = 4  # The highest protocol NVIDIA's Python 3.6 code and older readers understand.


class _CompatPickler(pickle._Pickler):  # pylint: disable=protected-access
    """Pickler naming numpy's array reconstructor `numpy.core.multiarray`, as numpy 1.x expects.

    numpy 2 writes `numpy._core.multiarray`, which numpy 1.x (NVIDIA's environments) cannot import;
    numpy 2 still reads the old name, so the old name serves every reader.
    """

    def save_global(self, obj, name=None):
        for attr in ('_reconstruct', 'scalar'):
            if obj is _numpy_core(attr):
                self.save('numpy.core.multiarray')
                self.save(attr)
                self.write(pickle.STACK_GLOBAL)
                self.memoize(obj)
                return
        super().save_global(obj, name)


def dumps(obj: Any) -> bytes:
    buf = io.BytesIO()
    _CompatPickler(buf, protocol=PICKLE_PROTOCOL).dump(obj)
    return buf.getvalue()
