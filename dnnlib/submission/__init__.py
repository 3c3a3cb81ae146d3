"""Running functions in numbered run directories (NVIDIA's dnnlib.submission, local only)."""

from . import run_context
from . import submit
