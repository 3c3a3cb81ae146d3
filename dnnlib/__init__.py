"""Support library shared by the networks, training and tools (NVIDIA's dnnlib layout)."""

import os

# As NVIDIA's init_tf does: TensorFlow's info lines off, its warnings and errors on. It has an effect only where
# TensorFlow is imported after dnnlib, as the scripts do.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')

from . import keras_startup  # Before anything imports TensorFlow.
from . import util
from .util import EasyDict
from . import submission
from .submission.run_context import RunContext
from .submission.submit import (SubmitTarget, PathType, SubmitConfig, submit_run, get_path_from_template,
                                convert_path, make_run_dir_path)


def __getattr__(name: str):
    """dnnlib.submit_config: the SubmitConfig of the run function running now (None otherwise), as in NVIDIA's dnnlib."""
    if name == 'submit_config':
        return submission.run_context.active_config
    raise AttributeError(f"module 'dnnlib' has no attribute {name!r}")
