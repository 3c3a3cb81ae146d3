"""Support library shared by the networks, training and tools (NVIDIA's dnnlib layout)."""

import os

# As NVIDIA's init_tf does: TensorFlow's info lines off, its warnings and errors on. It has an effect only where
# TensorFlow is imported after dnnlib, as the scripts do.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')

from . import util
from .util import EasyDict
from . import submission
from .submission.run_context import RunContext
from .submission.submit import (SubmitTarget, PathType, SubmitConfig, submit_run, get_path_from_template,
                                convert_path, make_run_dir_path)

submit_config = None  # The active SubmitConfig, set only while a run function runs.
