"""Support library shared by the networks, training and tools (NVIDIA's dnnlib layout)."""

from . import util
from .util import EasyDict
from . import submission
from .submission.run_context import RunContext
from .submission.submit import (SubmitTarget, PathType, SubmitConfig, submit_run, get_path_from_template,
                                convert_path, make_run_dir_path)

submit_config = None  # The active SubmitConfig, set only while a run function runs.
