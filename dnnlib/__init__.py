"""Support library shared by the networks, training and tools (NVIDIA's dnnlib layout)."""

from . import util
from .util import EasyDict
