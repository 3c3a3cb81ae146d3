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
    """A network as stored in a pickle: its state dict, nothing executed. class_path: the class the file names."""

    class_path = ''
    state = None

    def __setstate__(self, state: dict) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f'Network state must be a dict, got {type(state).__name__}.')
        self.state = state


def _network_state_factory(class_path: str) -> type:
    # Unpickling creates the object without calling __init__ (NEWOBJ), so the class itself carries the path.
    return type('NetworkState', (NetworkState,), {'class_path': class_path})


def _numpy_core(name: str) -> Any:
    """numpy.core (numpy 1.x) was renamed numpy._core (numpy 2); both names appear in pickles."""
    core = getattr(np, '_core', None) or np.core
    return getattr(core.multiarray, name)


def _plain_dtype(dtype: Any) -> np.dtype:
    """The dtype, if it is a numpy dtype that holds no Python objects (object arrays unpickle arbitrary objects)."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError(f'Refusing to load an array of dtype {dtype!r}: network pickles hold numeric arrays only.')
    return dtype


def _safe_dtype(*args) -> np.dtype:
    return _plain_dtype(np.dtype(*args))


def _safe_reconstruct(subtype: Any, shape: Any, dtype_char: Any) -> np.ndarray:
    """numpy's array reconstructor (protocols 2-4); its data and dtype come in afterwards through __setstate__."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f'Refusing to reconstruct {subtype!r}: only plain numpy arrays are allowed.')
    return _numpy_core('_reconstruct')(subtype, shape, dtype_char)


def _safe_scalar(dtype: Any, *data) -> Any:
    """A numpy scalar (e.g. a float32 stored outside an array)."""
    return _numpy_core('scalar')(_plain_dtype(dtype), *data)


def _safe_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """An array from raw bytes: how numpy pickles contiguous arrays with protocol 5 (numpy.core.numeric._frombuffer)."""
    if not isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)) or order not in ('C', 'F') or \
            not isinstance(shape, tuple) or not all(isinstance(dim, int) and dim >= 0 for dim in shape):
        raise pickle.UnpicklingError('Malformed numpy array in the pickle.')
    return np.frombuffer(buf, dtype=_plain_dtype(dtype)).reshape(shape, order=order)


# Classes and functions a network pickle may name; anything else is refused before it is imported. numpy writes
# arrays through _reconstruct (+ __setstate__) with protocols 2-4 and non-contiguous arrays, through _frombuffer with
# protocol 5, and scalars through scalar; under the module names of numpy 1.x (numpy.core) or numpy 2 (numpy._core).
_SAFE_GLOBALS = {
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): _safe_dtype,
    ('_codecs', 'encode'): __import__('codecs').encode,  # Bytes in protocol-2 pickles,
    ('__builtin__', 'bytes'): bytes,  # and empty bytes (the data of an empty array) in protocols 2
    ('builtins', 'bytes'): bytes,  # and 3.
    ('collections', 'OrderedDict'): __import__('collections').OrderedDict,
    ('dnnlib.util', 'EasyDict'): util.EasyDict,
    ('dnnlib', 'EasyDict'): util.EasyDict,
}
for _core in ('numpy.core', 'numpy._core'):
    _SAFE_GLOBALS[(_core + '.multiarray', '_reconstruct')] = _safe_reconstruct
    _SAFE_GLOBALS[(_core + '.multiarray', 'scalar')] = _safe_scalar
    _SAFE_GLOBALS[(_core + '.numeric', '_frombuffer')] = _safe_frombuffer


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that maps networks to NetworkState and refuses every class not on the allow-list."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in NETWORK_CLASSES:
            return _network_state_factory(f'{module}.{name}')
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[(module, name)]
        raise pickle.UnpicklingError(
            f'Refusing to load "{module}.{name}" from the pickle: a network pickle holds only networks and '
            f'numpy arrays, and anything else could run code. The file is not a network pickle, or has been tampered with.')


def load_states(file: BinaryIO) -> Any:
    """Unpickle a file, with every network as a NetworkState."""
    try:
        return RestrictedUnpickler(file, encoding='latin1').load()
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
        raise pickle.UnpicklingError(f'Not a readable network pickle: {err}') from err
    except (RecursionError, MemoryError) as err:  # A hostile file can nest or size things to exhaust the reader.
        raise pickle.UnpicklingError(f'Not a readable network pickle: {type(err).__name__} while reading it.') from err


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


class ProGANNetworkClass:
    """Stands for ProGAN's `tfutil.Network` class, under which networks with ProGAN's state layout are written."""


class _CompatPickler(pickle._Pickler):  # pylint: disable=protected-access
    """Pickler that names classes as NVIDIA's readers expect.

    numpy's array reconstructor is written as `numpy.core.multiarray`: numpy 2 writes `numpy._core.multiarray`,
    which numpy 1.x (NVIDIA's environments) cannot import, and numpy 2 still reads the old name. ProGAN networks
    are written as `tfutil.Network`, the class of ProGAN's own pickles.
    """

    def save_global(self, obj, name=None):
        names = {_numpy_core(attr): ('numpy.core.multiarray', attr) for attr in ('_reconstruct', 'scalar')}
        names[ProGANNetworkClass] = ('tfutil', 'Network')
        if obj in names:
            for part in names[obj]:
                self.save(part)
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)
            return
        super().save_global(obj, name)

    def save_reduce(self, func, args, state=None, listitems=None, dictitems=None, state_setter=None, *, obj=None):
        # A network written as ProGAN's tfutil.Network is not an instance of that class, which the pickler checks
        # (and then memoizes the object: a network is written once per reference, which costs nothing here).
        if args and args[0] is ProGANNetworkClass:
            obj = None
        super().save_reduce(func, args, state, listitems, dictitems, state_setter, obj=obj)


def dumps(obj: Any) -> bytes:
    buf = io.BytesIO()
    _CompatPickler(buf, protocol=PICKLE_PROTOCOL).dump(obj)
    return buf.getvalue()
