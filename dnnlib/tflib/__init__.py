"""TensorFlow 2 helpers in NVIDIA's dnnlib.tflib layout: Network, custom ops and small utilities."""

from . import tfutil
from . import network
from . import ops
from . import autosummary

from .tfutil import (init_tf, is_tf_expression, set_vars, lerp, lerp_clip, default_data_format,
                     nchw_to, to_nchw, convert_images_to_uint8, set_input_shape,
                     reproducible_random, random_normal, random_uniform)
from .network import Network, get_variable, variable_scope, init_normal, init_zeros
