"""AlexNet Explorer's model package: spec, shape arithmetic, presets, builder, training.

``import alexnet`` stays light (no torch): the spec, the arithmetic and the presets
are plain Python.  ``alexnet.build_model`` imports torch on first use.
"""

from .arithmetic import analyze, summarize
from .presets import get_preset, get_spec, list_presets
from .spec import NetSpec, SpecError, as_spec

__all__ = ["NetSpec", "SpecError", "analyze", "as_spec", "build_model", "get_preset", "get_spec",
           "list_presets", "pytorch_code", "summarize"]
__version__ = "0.1.0"


def __getattr__(name):
    if name == "build_model":
        from .build import build_model

        return build_model
    if name == "pytorch_code":
        from .codegen import pytorch_code

        return pytorch_code
    raise AttributeError(f"module 'alexnet' has no attribute {name!r}")
