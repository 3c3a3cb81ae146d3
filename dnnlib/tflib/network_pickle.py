"""Network pickles in NVIDIA's format, read without executing anything from the file and written
so that NVIDIA's readers (its TF1 code, stylegan2-ada-pytorch's legacy.py) accept them.

NVIDIA's pickles store each network as the state dict of `dnnlib.tflib.network.Network` (or
`tfutil.Network` for ProGAN), including the Python source of the build function, which the original
loader executes. We never do: the unpickler below resolves only an allow-list of harmless classes,
turns every network into a `NetworkState`, and the caller rebuilds it with its own build functions.
"""

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


def _check_shape(shape: Any) -> tuple:
    if not isinstance(shape, tuple) or not all(isinstance(dim, int) and dim >= 0 for dim in shape):
        raise pickle.UnpicklingError('Malformed numpy array in the pickle.')
    return shape


def _safe_ndarray(shape: Any, dtype: Any, buffer: Any) -> np.ndarray:
    """The array constructor, as PortableArray writes it (and numpy.ndarray as the subtype of _reconstruct)."""
    if not isinstance(buffer, (bytes, bytearray, pickle.PickleBuffer)):
        raise pickle.UnpicklingError('Malformed numpy array in the pickle.')
    return np.ndarray(_check_shape(shape), _safe_dtype(dtype), buffer)


def _safe_reconstruct(subtype: Any, shape: Any, dtype_char: Any) -> np.ndarray:
    """numpy's array reconstructor (protocols 2-4); its data and dtype come in afterwards through __setstate__."""
    if subtype is not _safe_ndarray:
        raise pickle.UnpicklingError(f'Refusing to reconstruct {subtype!r}: only plain numpy arrays are allowed.')
    return _numpy_core('_reconstruct')(np.ndarray, shape, dtype_char)


def _safe_scalar(dtype: Any, *data) -> Any:
    """A numpy scalar (e.g. a float32 stored outside an array)."""
    return _numpy_core('scalar')(_plain_dtype(dtype), *data)


def _safe_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """An array from raw bytes: how numpy pickles contiguous arrays with protocol 5 (numpy.core.numeric._frombuffer)."""
    if not isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)) or order not in ('C', 'F'):
        raise pickle.UnpicklingError('Malformed numpy array in the pickle.')
    return np.frombuffer(buf, dtype=_plain_dtype(dtype)).reshape(_check_shape(shape), order=order)


def _safe_newobj(cls: Any, *args) -> Any:
    """copyreg.__newobj__, which protocols 0 and 1 name where later ones write NEWOBJ: networks only."""
    if not (isinstance(cls, type) and issubclass(cls, NetworkState)) or args:
        raise pickle.UnpicklingError(f'Refusing to create {cls!r}: only networks are created that way in a network pickle.')
    return cls.__new__(cls)


# Classes and functions a network pickle may name; anything else is refused before it is imported. numpy writes
# arrays through _reconstruct (+ __setstate__) with protocols 2-4 and non-contiguous arrays, through _frombuffer with
# protocol 5, and scalars through scalar; under the module names of numpy 1.x (numpy.core) or numpy 2 (numpy._core).
# This project writes arrays through the ndarray constructor on a bytearray (PortableArray).
_SAFE_GLOBALS = {
    ('numpy', 'ndarray'): _safe_ndarray,
    ('builtins', 'bytearray'): bytearray,
    ('__builtin__', 'bytearray'): bytearray,
    ('copyreg', '__newobj__'): _safe_newobj,
    ('copy_reg', '__newobj__'): _safe_newobj,
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
# Writing. Networks reduce themselves (Network.__reduce_ex__) to NVIDIA's class names and to the arrays below, so
# any pickler writes NVIDIA's format: save_pkl is a plain pickle.dump, and a user's own pickle.dump writes the
# same bytes for the same protocol.

PICKLE_PROTOCOL = 4  # save_pkl's default: the highest protocol NVIDIA's Python 3.6 code and older readers understand.


class PortableArray:
    """An array in a network's pickled state, written as `numpy.ndarray(shape, dtype, bytearray)`.

    numpy 2 pickles its arrays through `numpy._core`, which numpy 1.x (NVIDIA's environments) cannot import; the
    ndarray constructor has the same name in every numpy version. The bytearray makes the loaded array writable,
    as numpy's own unpickling does.
    """

    __slots__ = ('value',)

    def __init__(self, value: np.ndarray):
        self.value = np.asarray(value)

    def __reduce__(self):
        return np.ndarray, (self.value.shape, self.value.dtype.str, bytearray(self.value.tobytes()))
