"""User activations for the test session: imported by conftest.py before the
activation lists are built, so every parametrised suite (values, gradcheck,
opcheck, compile, ISA paths, ...) runs them exactly as it runs the built-ins.

The example plugin (examples/custom_activation/swish.h, a C++ functor) is
built with torch_act.plugin.build into a cache under build/ (first run: about
a minute on 2 cores; later runs load it from the cache).
"""
import os

import torch_act

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TORCH_ACT_CACHE_DIR", os.path.join(ROOT, "build", "plugin-cache"))
SWISH_HEADER = os.path.join(ROOT, "examples", "custom_activation", "swish.h")

#: names of the user activations this session registered
USER_ACTIVATIONS = [torch_act.plugin.build(SWISH_HEADER, "example::Swish")]
