"""Network: a build function, its static arguments and its variables, pickled in NVIDIA's format.

A build function (e.g. `training.networks_stylegan2.G_main`) is plain TF2 code that asks for its
variables by name with `get_variable()` inside `variable_scope()`s, like NVIDIA's TF1 build functions
do with `tf.get_variable`. The Network traces the function once over symbolic inputs (the "template")
to create the variables, in creation order and under the original names; afterwards every call of
`get_output_for()` (eager or inside a `tf.function`) looks them up again by name.
"""

import contextlib
import copyreg
import inspect
import re
import sys
import threading
import types
from collections import OrderedDict
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import resource_variable_ops

from .. import util
from . import network_pickle, tfutil
from .ops.upfirdn_2d import downsample_2d

# The state layout a network's pickle gets, by the original that defined its build function: 4 = StyleGAN2 (also
# read by its legacy.py), 3 = StyleGAN, 2 = ProGAN. A module of build functions may say which (PICKLE_STATE_VERSION).
PICKLE_VERSION = 4

# ----------------------------------------------------------------------------
# Variable lookup for build functions.

_tls = threading.local()


class _BuildContext:
    """The network whose variables a build function is asking for, and the current scope."""

    def __init__(self, net: 'Network', is_template: bool):
        self.net = net
        self.is_template = is_template
        self.scopes = []


def _context_stack() -> list:
    if not hasattr(_tls, 'stack'):
        _tls.stack = []
    return _tls.stack


@contextlib.contextmanager
def _build_context(net: 'Network', is_template: bool):
    stack = _context_stack()
    stack.append(_BuildContext(net, is_template))
    try:
        yield
    finally:
        stack.pop()


@contextlib.contextmanager
def variable_scope(name: str):
    """Prefix the names of the variables requested inside the block with `name/`."""
    stack = _context_stack()
    if not stack:
        raise RuntimeError('variable_scope() is only meaningful inside a network build function.')
    stack[-1].scopes.append(name)
    try:
        with tf.name_scope(re.sub(r'[^A-Za-z0-9_.\-/]', '_', name)):
            yield
    finally:
        stack[-1].scopes.pop()


class NetworkVariable(resource_variable_ops.ResourceVariable):
    """A variable that can be a dict key, as TF1 variables could.

    NVIDIA's scripts write `tflib.set_vars({var: value for var in noise_vars})`; TF2 variables refuse
    to be hashed (their == compares values), so network variables hash by identity instead. Networks
    built under a tf.distribute strategy (training) get the strategy's mirrored variables instead.
    """

    def __hash__(self):
        return id(self)


def get_variable(name: str, shape: List[int] = None, initializer: Callable = None, trainable: bool = True) -> tf.Variable:
    """The variable `<scope>/<name>` of the network being built, created during the template trace."""
    stack = _context_stack()
    if not stack:
        raise RuntimeError('get_variable() is only meaningful inside a network build function.')
    ctx = stack[-1]
    local_name = '/'.join(ctx.scopes + [name])
    net = ctx.net
    if local_name in net.own_vars:
        var = net.own_vars[local_name]
        if shape is not None and var.shape.as_list() != list(shape):
            raise ValueError(f'Network "{net.name}": variable "{local_name}" has shape {var.shape.as_list()}, '
                             f'but the build function asks for {list(shape)}.')
        return var
    if not ctx.is_template:
        raise KeyError(f'Network "{net.name}" has no variable "{local_name}"; variables are created only '
                       f'while the network is first built.')
    if initializer is None:
        initializer = init_zeros()
    with tf.init_scope():  # Create real (eager) variables even while tracing the template.
        value = tf.convert_to_tensor(initializer(list(shape) if shape is not None else []), tf.float32)
        # State the networks update themselves (dlatent_avg) is averaged over replicas.
        aggregation = tf.VariableAggregation.NONE if trainable else tf.VariableAggregation.MEAN
        # Under a distribution strategy, tf.Variable is what the strategy intercepts to mirror it.
        var_class = tf.Variable if tf.distribute.has_strategy() else NetworkVariable
        var = var_class(value, trainable=trainable, name=local_name.replace('/', '.'), aggregation=aggregation)
    net._own_var_inits[local_name] = initializer
    net.own_vars[local_name] = var
    return var


def init_normal(stddev: float = 1.0) -> Callable:
    """Initializer: N(0, stddev^2)."""
    return lambda shape: tf.random.normal(shape, stddev=stddev)


def init_zeros() -> Callable:
    return lambda shape: tf.zeros(shape)


# ----------------------------------------------------------------------------
# The Network class.


def _build_module_source(build_func: Callable) -> str:
    """What a pickle stores as the source of the build function's module (`build_module_src`, never executed here).

    NVIDIA's TF1 loader executes this text. A module of ours that defines NVIDIA's build functions says what to
    store in PICKLE_MODULE_SRC (an import of NVIDIA's module of the same name); any other module stores its source.
    """
    module = sys.modules.get(build_func.__module__)
    if isinstance(getattr(module, 'PICKLE_MODULE_SRC', None), str):
        return module.PICKLE_MODULE_SRC
    try:
        return inspect.getsource(module)
    except (OSError, TypeError):
        return ''


def _module_pickle_version(build_func: Callable) -> int:
    return getattr(sys.modules.get(build_func.__module__), 'PICKLE_STATE_VERSION', PICKLE_VERSION)


def _unwind_key(obj: Any) -> Any:
    """A hashable description of run() arguments: dicts sorted, functions by name."""
    if isinstance(obj, dict):
        return tuple((k, _unwind_key(v)) for k, v in sorted(obj.items()))
    if isinstance(obj, (list, tuple)):
        return tuple(_unwind_key(v) for v in obj)
    if callable(obj):
        return util.get_top_level_function_name(obj)
    return obj


def _apply_transform(transform: dict, tensors: list) -> list:
    kwargs = dict(transform)
    func = kwargs.pop('func')
    if isinstance(func, str):
        func = util.get_obj_by_name(func)
    result = func(*tensors, **kwargs)
    return [result] if tfutil.is_tf_expression(result) else list(result)


def _handle_legacy_output_transforms(output_transform: dict, dynamic_kwargs: dict) -> Tuple[dict, dict]:
    """Turn the old out_mul/out_add/out_shrink/out_dtype arguments into an output transform."""
    legacy = ['out_mul', 'out_add', 'out_shrink', 'out_dtype']
    if not any(kwarg in dynamic_kwargs for kwarg in legacy):
        return output_transform, dynamic_kwargs
    if output_transform is not None:
        raise ValueError('Network.run(): give either output_transform or the legacy out_* arguments, not both.')
    new_kwargs = dict(dynamic_kwargs)
    transform = {key: new_kwargs.pop(key) for key in legacy if key in dynamic_kwargs}
    transform['func'] = _legacy_output_transform_func
    return transform, new_kwargs


def _legacy_output_transform_func(*outputs, out_mul=1.0, out_add=0.0, out_shrink=1, out_dtype=None):
    if out_mul != 1.0:
        outputs = [x * out_mul for x in outputs]
    if out_add != 0.0:
        outputs = [x + out_add for x in outputs]
    if out_shrink > 1:
        outputs = [downsample_2d(x, factor=out_shrink) for x in outputs]  # Box filter.
    if out_dtype is not None:
        if tf.as_dtype(out_dtype).is_integer:
            outputs = [tf.round(x) for x in outputs]
        outputs = [tf.saturate_cast(x, out_dtype) for x in outputs]
    return outputs


class Network(tf.Module):
    """A network: build function + static kwargs + variables, with NVIDIA's Network API.

    Args:
        name: Network name, e.g. 'G', 'D', 'Gs', 'G_synthesis'. Defaults to the build function's name.
        func_name: The build function, or its fully qualified name ('training.networks_stylegan2.G_main').
        static_kwargs: Keyword arguments for the build function, stored in pickles.
    """

    def __init__(self, name: str = None, func_name: Union[str, Callable] = None, **static_kwargs):
        build_func = util.get_obj_by_name(func_name) if isinstance(func_name, str) else func_name
        if not callable(build_func):
            raise ValueError(f'Network: func_name must name a build function, got {func_name!r}.')
        self._setup(name or build_func.__name__, build_func, static_kwargs, util.EasyDict(), _build_module_source(build_func),
                    _module_pickle_version(build_func))
        self._build_template()

    # -- construction ---------------------------------------------------------

    def _setup(self, name: str, build_func: Callable, static_kwargs: dict, components: dict, module_src: str,
               pickle_version: int) -> None:
        super().__init__(name=re.sub(r'\W', '_', name) or 'Network')
        self._self_setattr_tracking = False  # Keep plain dicts plain (no TF tracking wrappers).
        # The class is the one NVIDIA's pickles name for this state layout (pickle writes a NEWOBJ of the class).
        self.__class__ = ProGANNetwork if pickle_version == 2 else Network
        self._pickle_version = pickle_version
        self._net_name = name
        self._build_func = build_func
        self._build_func_name = build_func.__name__
        self._build_module_src = module_src
        self.static_kwargs = util.EasyDict(static_kwargs)
        self.components = util.EasyDict(components)
        self.own_vars = OrderedDict()
        self._own_var_inits = {}
        self._run_cache = {}
        self.input_names = [p.name for p in inspect.signature(build_func).parameters.values()
                            if p.kind == p.POSITIONAL_OR_KEYWORD and p.default is p.empty]
        if not self.input_names:
            raise ValueError(f'Network "{name}": build function {self._build_func_name} takes no inputs.')
        self.input_shapes = None
        self.output_shapes = None

    def _build_template(self) -> None:
        """Trace the build function once over symbolic inputs: creates the variables, records the shapes."""
        shapes = {}

        def template(*inputs):
            with _build_context(self, is_template=True):
                outputs = self._build_func(*inputs, components=self.components, is_template_graph=True, **self.static_kwargs)
            outputs = [outputs] if tfutil.is_tf_expression(outputs) else list(outputs)
            shapes['in'] = [x.shape.as_list() for x in inputs]
            shapes['out'] = [y.shape.as_list() for y in outputs]
            return outputs

        specs = [tf.TensorSpec(None, tf.float32, name=name) for name in self.input_names]
        tfutil.function(template).get_concrete_function(*specs)
        self.input_shapes = shapes['in']
        self.output_shapes = shapes['out']

    @classmethod
    def from_state(cls, state: dict, build_func: Callable, components: dict) -> 'Network':
        """Rebuild a network from a pickle state with our own build function; copy variables by name."""
        net = cls.__new__(cls)
        net._setup(state['name'], build_func, state['static_kwargs'], components, state.get('build_module_src', ''),
                   state['version'])
        net._build_template()
        net._assign_state_variables(state['variables'])
        return net

    def _assign_state_variables(self, variables: List[Tuple[str, np.ndarray]]) -> None:
        values = OrderedDict(variables)
        missing = [name for name in self.own_vars if name not in values]
        extra = [name for name in values if name not in self.own_vars]
        if missing or extra:
            raise ValueError(f'Network "{self.name}" ({self._build_func_name}, static_kwargs {dict(self.static_kwargs)}): '
                             f'the pickle does not match the network built from it. '
                             f'Missing in the pickle: {missing[:8]}; not in the network: {extra[:8]}.')
        for name, var in self.own_vars.items():
            value = np.asarray(values[name], dtype=np.float32)
            if list(value.shape) != var.shape.as_list():
                raise ValueError(f'Network "{self.name}": variable "{name}" has shape {list(value.shape)} in the pickle, '
                                 f'expected {var.shape.as_list()}.')
            var.assign(value)

    # -- pickling ---------------------------------------------------------------

    @property
    def pickle_version(self) -> int:
        """The state layout of this network's pickle: that of the pickle it was loaded from, otherwise that of the
        original its build function comes from."""
        return self._pickle_version

    def __getstate__(self) -> dict:
        """The state layout of NVIDIA's pickles: StyleGAN2 (4) and StyleGAN (3) store own variables and components,
        ProGAN (2) has no components and stores every variable."""
        state = {
            'version': self.pickle_version,
            'name': self.name,
            'static_kwargs': dict(self.static_kwargs),
            'components': dict(self.components),
            'build_module_src': self._build_module_src,
            'build_func_name': self._build_func_name,
            'variables': [(name, var.numpy()) for name, var in self.own_vars.items()],
        }
        if state['version'] == 2:
            if self.components:
                raise ValueError(f'Network "{self.name}": a ProGAN pickle (state version 2) cannot hold components.')
            del state['components']
        return state

    def __reduce_ex__(self, protocol):
        """Pickle as NVIDIA's class of the same layout (dnnlib.tflib.network.Network, or ProGAN's tfutil.Network),
        with arrays every numpy version reads: what any pickler writes, pickle.dump as well as save_pkl."""
        state = dict(self.__getstate__())
        state['variables'] = [(name, network_pickle.PortableArray(value)) for name, value in state['variables']]
        return copyreg.__newobj__, (type(self),), state

    def __setstate__(self, state: dict) -> None:
        raise TypeError('Network pickles are not read with pickle.load, which would run the code the file embeds: '
                        'read them with the application\'s load_pkl(), which rebuilds each network from its state.')

    # -- properties -------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._net_name

    @property
    def build_func_name(self) -> str:
        return self._build_func_name

    @property
    def scope(self) -> str:
        return self._net_name

    @property
    def num_inputs(self) -> int:
        return len(self.input_names)

    @property
    def num_outputs(self) -> int:
        return len(self.output_shapes)

    @property
    def input_shape(self) -> List[int]:
        return self.input_shapes[0]

    @property
    def output_shape(self) -> List[int]:
        return self.output_shapes[0]

    @property
    def vars(self) -> 'OrderedDict[str, tf.Variable]':
        """All variables, own first, then each component's as `<component name>/<local name>`."""
        result = OrderedDict(self.own_vars)
        for comp in self.components.values():
            for name, var in comp.vars.items():
                result[comp.name + '/' + name] = var
        return result

    @property
    def trainables(self) -> 'OrderedDict[str, tf.Variable]':
        return OrderedDict((name, var) for name, var in self.vars.items() if var.trainable)

    def get_output_for(self, *in_expr: tf.Tensor, return_as_list: bool = False, **dynamic_kwargs) -> Union[tf.Tensor, List[tf.Tensor]]:
        """Evaluate the network on tensors (eager or inside tf.function) with static + dynamic kwargs."""
        if len(in_expr) != self.num_inputs:
            raise ValueError(f'Network "{self.name}" takes {self.num_inputs} inputs ({", ".join(self.input_names)}), '
                             f'got {len(in_expr)}.')
        kwargs = dict(self.static_kwargs)
        kwargs.update(dynamic_kwargs)
        in_expr = [tf.cast(x, tf.float32) for x in in_expr]
        with _build_context(self, is_template=False):
            outputs = self._build_func(*in_expr, components=self.components, **kwargs)
        outputs = [outputs] if tfutil.is_tf_expression(outputs) else list(outputs)
        return outputs if return_as_list else (outputs[0] if len(outputs) == 1 else tuple(outputs))

    def run(self, *in_arrays: Union[np.ndarray, None], input_transform: dict = None, output_transform: dict = None,
            return_as_list: bool = False, print_progress: bool = False, minibatch_size: int = None,
            num_gpus: int = 1, assume_frozen: bool = False, **dynamic_kwargs):
        """Run the network on numpy arrays and return numpy arrays, in minibatches.

        `None` inputs become zeros (e.g. labels of an unconditional network). Transforms are dicts
        {'func': f, **kwargs} applied to the input/output tensors, e.g.
        output_transform=dict(func=tflib.convert_images_to_uint8, nchw_to_nhwc=True).
        """
        del assume_frozen  # Variables are read live inside the compiled function either way.
        if len(in_arrays) != self.num_inputs:
            raise ValueError(f'Network "{self.name}".run() takes {self.num_inputs} arrays '
                             f'({", ".join(self.input_names)}), got {len(in_arrays)}.')
        if all(arr is None for arr in in_arrays):
            raise ValueError(f'Network "{self.name}".run(): at least one input must be an array.')
        output_transform, dynamic_kwargs = _handle_legacy_output_transforms(output_transform, dynamic_kwargs)
        num_items = next(arr.shape[0] for arr in in_arrays if arr is not None)
        minibatch_size = minibatch_size or max(num_items, 1)
        func = self._get_run_function(input_transform, output_transform, num_gpus, dynamic_kwargs)

        out_arrays = None
        for begin in range(0, num_items, minibatch_size):
            if print_progress:
                print('\r%d / %d' % (begin, num_items), end='', flush=True)
            end = min(begin + minibatch_size, num_items)
            mb_in = [np.asarray(arr[begin:end], np.float32) if arr is not None
                     else np.zeros([end - begin] + [d or 0 for d in shape[1:]], np.float32)
                     for arr, shape in zip(in_arrays, self.input_shapes)]
            mb_out = [t.numpy() for t in func(*mb_in)]
            if out_arrays is None:
                out_arrays = [np.empty([num_items] + list(x.shape[1:]), x.dtype) for x in mb_out]
            for dst, src in zip(out_arrays, mb_out):
                dst[begin:end] = src
        if print_progress:
            print('\r%d / %d' % (num_items, num_items))
        if return_as_list:
            return out_arrays
        return out_arrays[0] if len(out_arrays) == 1 else tuple(out_arrays)

    def _get_run_function(self, input_transform, output_transform, num_gpus, dynamic_kwargs) -> Callable:
        key = repr(_unwind_key(dict(input_transform=input_transform, output_transform=output_transform,
                                    num_gpus=num_gpus, dynamic_kwargs=dynamic_kwargs)))
        if key in self._run_cache:
            return self._run_cache[key]
        devices = [None]
        if num_gpus > 1:
            gpus = tf.config.list_logical_devices('GPU')
            if len(gpus) < num_gpus:
                raise ValueError(f'Network.run(num_gpus={num_gpus}): only {len(gpus)} GPUs are visible.')
            devices = [gpu.name for gpu in gpus[:num_gpus]]

        def evaluate(*inputs):
            splits = list(zip(*[tf.split(x, len(devices)) for x in inputs])) if len(devices) > 1 else [inputs]
            results = []
            for device, part in zip(devices, splits):
                with tf.device(device):
                    part = list(part)
                    if input_transform is not None:
                        part = _apply_transform(input_transform, part)
                    outputs = self.get_output_for(*part, return_as_list=True, **dynamic_kwargs)
                    if output_transform is not None:
                        outputs = _apply_transform(output_transform, outputs)
                    results.append(outputs)
            return [tf.concat(parts, axis=0) if len(parts) > 1 else parts[0] for parts in zip(*results)]

        specs = [tf.TensorSpec([None] + shape[1:], tf.float32) for shape in self.input_shapes]
        func = tfutil.function(evaluate, input_signature=specs)
        self._run_cache[key] = func
        return func

    # -- variables --------------------------------------------------------------

    def find_var(self, var_or_local_name: Union[tf.Variable, str]) -> tf.Variable:
        if isinstance(var_or_local_name, tf.Variable):
            return var_or_local_name
        try:
            return self.vars[var_or_local_name]
        except KeyError:
            raise KeyError(f'Network "{self.name}" has no variable "{var_or_local_name}".') from None

    def get_var(self, var_or_local_name: Union[tf.Variable, str]) -> np.ndarray:
        return self.find_var(var_or_local_name).numpy()

    def set_var(self, var_or_local_name: Union[tf.Variable, str], new_value: Union[int, float, np.ndarray]) -> None:
        var = self.find_var(var_or_local_name)
        var.assign(np.asarray(new_value, dtype=var.dtype.as_numpy_dtype))

    def reset_own_vars(self) -> None:
        for name, var in self.own_vars.items():
            var.assign(self._own_var_inits[name](var.shape.as_list()))

    def reset_vars(self) -> None:
        self.reset_own_vars()
        for comp in self.components.values():
            comp.reset_vars()

    def copy_vars_from(self, src_net: 'Network') -> None:
        """Copy every variable whose name exists in both networks (components included)."""
        src_vars = src_net.vars
        for name, var in self.vars.items():
            if name in src_vars:
                var.assign(src_vars[name])

    def clone(self, name: str = None, **new_static_kwargs) -> 'Network':
        """A new network with the same build function and components structure, and copied variables."""
        static_kwargs = dict(self.static_kwargs)
        static_kwargs.update(new_static_kwargs)
        components = util.EasyDict({key: comp.clone() for key, comp in self.components.items()})
        net = Network.__new__(Network)
        net._setup(name or self.name, self._build_func, static_kwargs, components, self._build_module_src,
                   self._pickle_version)
        net._build_template()
        net.copy_vars_from(self)
        return net

    def __copy__(self) -> 'Network':
        """A clone, as copying NVIDIA's TF1 Network (through its state) made one: its own variables, same values."""
        return self.clone()

    def __deepcopy__(self, memo: dict) -> 'Network':
        return self.clone()

    def convert(self, new_func_name: str, new_name: str = None, **new_static_kwargs) -> 'Network':
        """A network of another build function that takes over every variable with a matching name."""
        static_kwargs = dict(self.static_kwargs)
        static_kwargs.update(new_static_kwargs)
        net = Network(name=new_name or self.name, func_name=new_func_name, **static_kwargs)
        net.copy_vars_from(self)
        return net

    def setup_as_moving_average_of(self, src_net: 'Network', beta: float = 0.99, beta_nontrainable: float = 0.0) -> None:
        """Move this network's variables towards src_net's: v <- src + (v - src) * beta.

        TF1 returned an op to run later; here the update happens when called (also inside tf.function).
        Non-trainable variables (noise maps, dlatent_avg, lod) use beta_nontrainable, i.e. are copied.
        """
        src_vars = src_net.vars
        for name, var in self.vars.items():
            if name in src_vars:
                cur_beta = beta if var.trainable else beta_nontrainable
                var.assign(tfutil.lerp(src_vars[name], var, cur_beta))

    # -- printing ---------------------------------------------------------------

    def list_layers(self) -> List[Tuple[str, int, List[int]]]:
        """(scope, parameter count, shape of its first variable) for each variable scope."""
        layers = OrderedDict()
        for name, var in self.vars.items():
            scope = name.rsplit('/', 1)[0] if '/' in name else name
            count, shape = layers.get(scope, (0, var.shape.as_list()))
            layers[scope] = (count + int(np.prod(var.shape.as_list())) if var.trainable else count, shape)
        return [(scope, count, shape) for scope, (count, shape) in layers.items()]

    def print_layers(self, title: str = None, hide_inputs_outputs: bool = False) -> None:
        """Print a table of layers: name, trainable parameter count, weight shape; and the total."""
        rows = [[title or self.name, 'Params', 'WeightShape'], ['---'] * 3]
        if not hide_inputs_outputs:
            rows += [[name, '-', str(shape)] for name, shape in zip(self.input_names, self.input_shapes)]
        rows += [[scope, str(count) if count else '-', str(shape)] for scope, count, shape in self.list_layers()]
        if not hide_inputs_outputs:
            rows += [['output%d' % i, '-', str(shape)] for i, shape in enumerate(self.output_shapes)]
        total = sum(int(np.prod(v.shape.as_list())) for v in self.trainables.values())
        rows += [['---'] * 3, ['Total', str(total), '']]
        widths = [max(len(row[col]) for row in rows) for col in range(3)]
        print()
        for row in rows:
            print('  '.join(cell + ' ' * (width - len(cell)) for cell, width in zip(row, widths)).rstrip())
        print()


# ProGAN's pickles name their networks' class `tfutil.Network` (ProGAN's top-level module tfutil.py). Networks with
# ProGAN's state layout are instances of this subclass, which carries that name; a module `tfutil` holding it is
# registered so that any pickler can write the name (pickle checks that it imports back to the same class). A real
# tfutil module imported before this one keeps its place, and pickling a ProGAN network then fails with pickle's
# own error.
ProGANNetwork = type('Network', (Network,), {'__module__': 'tfutil', '__qualname__': 'Network',
                                             '__doc__': 'A Network with ProGAN\'s pickle layout (state version 2).'})
_tfutil_module = types.ModuleType('tfutil', 'Stands for ProGAN\'s tfutil module in pickles: holds only Network.')
_tfutil_module.Network = ProGANNetwork
sys.modules.setdefault('tfutil', _tfutil_module)
