"""User activations as plugin libraries: build a functor into torch_act's kernels.

A plugin is a shared library holding one activation functor (see
``torch_act/activation.h``) compiled into every CPU ISA path of torch_act
(portable, AVX2, AVX-512, AMX: the same kernel templates the built-ins use,
each in its own translation unit with its own target) and, when torch_act
was built with CUDA, into its CUDA kernels.  Loading the library registers
the activation, so every op accepts its name.

* :func:`build` compiles a functor header (ninja, through
  ``torch.utils.cpp_extension``) into a cached plugin and loads it;
  ``torch_act.define_activation`` builds on it for expressions given in Python.
* :func:`load_library` loads a plugin built elsewhere (e.g. by CMake's
  ``torch_act_add_activation``) and raises if its registration failed.

The cache lives in ``$TORCH_ACT_CACHE_DIR`` (default
``~/.cache/torch_act/plugins``), one folder per plugin keyed by a hash of the
functor source, the functor name, the torch_act and torch versions and
whether CUDA is built; a second build of the same key in a new process only
loads the library.
"""
import hashlib
import os
import platform
import shutil

import torch

from . import ACTIVATIONS, _C, LIBRARY_PATH, __version__

_HERE = os.path.dirname(os.path.abspath(__file__))
_TEMPLATES = os.path.join(_HERE, "share", "plugin")
INCLUDE_DIR = os.path.join(_HERE, "include")
#: the CPU ISA paths a plugin can be compiled for on this platform
ISAS = ("portable", "avx2", "avx512", "amx") if platform.machine() in ("x86_64", "AMD64") else ("portable",)

__all__ = ["build", "load_library", "cache_dir", "generate_sources", "PluginBuildError"]


class PluginBuildError(RuntimeError):
    """A plugin failed to compile; ``.log`` holds the compiler output."""

    def __init__(self, message, log=""):
        super().__init__(message)
        self.log = log


def cache_dir():
    """Where plugins are built and cached ($TORCH_ACT_CACHE_DIR or ~/.cache/torch_act/plugins)."""
    d = os.environ.get("TORCH_ACT_CACHE_DIR")
    if not d:
        d = os.path.join(os.path.expanduser("~"), ".cache", "torch_act", "plugins")
    return d


def _with_cuda():
    return bool(_C.build_info()["with_cuda"]) and torch.version.cuda is not None


def _default_cuda():
    # CUDA kernels by default only where they can run (a GPU is present);
    # cuda=True builds them anyway (nvcc adds about a minute per plugin).
    return _with_cuda() and torch.cuda.is_available()


def _fill(template, **values):
    with open(os.path.join(_TEMPLATES, template)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    return text


def generate_sources(header, functor, out_dir, *, symbol, origin, name, cuda=False, isas=ISAS):
    """Writes the plugin's translation units for ``functor`` (defined in the
    file ``header``) into ``out_dir``; returns their paths.  One per CPU ISA
    path in ``isas`` (default: all this platform has: a library to ship), one
    for CUDA (when ``cuda``), one that registers the activation."""
    unknown = [i for i in isas if i not in ISAS]
    if unknown or "portable" not in isas:
        raise ValueError(f"generate_sources: isas must include 'portable' and name only {ISAS}; got {list(isas)}")
    os.makedirs(out_dir, exist_ok=True)
    header = os.path.abspath(header)
    common = dict(HEADER=header, FUNCTOR=functor, SYMBOL=symbol, NAME=name)
    paths = []

    def write(fname, text):
        p = os.path.join(out_dir, fname)
        old = open(p).read() if os.path.exists(p) else None
        if old != text:
            with open(p, "w") as f:
                f.write(text)
        paths.append(p)

    for isa in isas:
        write(f"{name}_{isa}.cpp", _fill("isa.cpp.in", ISA=isa, **common))
    if cuda:
        write(f"{name}_cuda.cu", _fill("cuda.cu.in", **common))
    use = {f"USE_{i.upper()}": int(i in isas) for i in ("portable", "avx2", "avx512", "amx")}
    write(f"{name}_register.cpp",
          _fill("register.cpp.in", ORIGIN=origin, WITH_CUDA=int(bool(cuda)), **use, **common))
    return paths


def load_library(path):
    """Loads a plugin library and returns the names it registered; raises
    ValueError when its registration failed (e.g. a name that is taken)."""
    _C.take_registration_errors()  # forget older ones
    before = set(ACTIVATIONS)
    torch.ops.load_library(path)
    errors = _C.take_registration_errors()
    if errors:
        raise ValueError(f"torch_act: {path}: {errors[0]}")
    return [n for n in ACTIVATIONS if n not in before]


def _key(source, functor, cuda, isas):
    h = hashlib.sha256()
    # the kernel interface (ActKernels' layout) is part of a plugin's ABI
    abi = os.path.join(_HERE, "include", "torch_act", "kernels", "cpu", "kernel_table.h")
    abi_text = open(abi).read() if os.path.exists(abi) else ""
    for part in (source, functor, __version__, torch.__version__, str(cuda), platform.machine(), ",".join(isas),
                 abi_text):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def build(header, functor, *, name=None, cuda=None, isas=None, verbose=False, build_dir=None, source=None):
    """Compiles the activation functor ``functor`` (a qualified C++ name)
    defined in the header file ``header`` into a plugin, loads it, and returns
    the registered name.

    ``cuda``: also build its CUDA kernels (default: when torch_act was built
    with CUDA and a GPU is present).  ``isas``: the CPU paths to compile
    (default: those this machine runs, torch_act.supported_cpu_isas(); part of
    the cache key).  ``name`` only names the library files (default: the
    functor's last component).  The result is cached (see the module doc).
    Raises :class:`PluginBuildError` with the compiler's output when it does
    not compile, and ValueError when the name is taken.
    """
    if cuda is None:
        cuda = _default_cuda()
    if cuda and not _with_cuda():
        raise ValueError("torch_act.plugin.build: cuda=True needs torch_act built with CUDA")
    with open(header) as f:
        text = f.read() if source is None else source
    if isas is None:
        isas = [i for i in ISAS if i in _C.supported_cpu_isas()]
    isas = [i for i in ISAS if i in isas]
    key = _key(text, functor, cuda, isas)
    lib = f"torch_act_plugin_{key}"
    name = name or functor.split("::")[-1].lower()
    folder = build_dir or os.path.join(cache_dir(), f"{name}-{key}")
    so = os.path.join(folder, lib + ".so")
    stamp = os.path.join(folder, "stamp")
    origin = f"{name}:{key}"
    if os.path.exists(so) and os.path.exists(stamp) and open(stamp).read() == key:
        load_library(so)
        return _by_origin(origin, so)
    from torch.utils import cpp_extension  # (after the cache check: importing it takes ~1 s)

    os.makedirs(folder, exist_ok=True)
    local_header = os.path.join(folder, f"{name}_functor.h")
    with open(local_header, "w") as f:
        f.write(text)
    sources = generate_sources(local_header, functor, folder, symbol=f"ta_{key}", origin=origin,
                               name=name, cuda=cuda, isas=isas)
    pkg = os.path.dirname(LIBRARY_PATH)
    env_arch = os.environ.get("TORCH_CUDA_ARCH_LIST")
    if cuda and not env_arch:
        os.environ["TORCH_CUDA_ARCH_LIST"] = _C.build_info()["cuda_arch_list"] or "8.0;9.0"
    try:
        cpp_extension.load(
            name=lib,
            sources=sources,
            extra_include_paths=[INCLUDE_DIR],
            extra_cflags=["-O3", "-fvisibility-inlines-hidden"],
            extra_cuda_cflags=["-O3", "--expt-relaxed-constexpr"],
            extra_ldflags=[f"-L{pkg}", "-ltorch_act", f"-Wl,-rpath,{pkg}"],
            build_directory=folder,
            with_cuda=cuda,
            is_python_module=False,
            is_standalone=False,
            verbose=verbose,
        )
    except RuntimeError as e:
        log = str(e)
        raise PluginBuildError(f"torch_act.plugin.build: {functor} in {header} did not compile:\n"
                               f"{_first_error(log)}", log) from None
    except ValueError as e:  # registration refused (name taken, ...)
        raise ValueError(str(e)) from None
    finally:
        if cuda and not env_arch:
            os.environ.pop("TORCH_CUDA_ARCH_LIST", None)
    errors = _C.take_registration_errors()
    if errors:
        raise ValueError(f"torch_act: {errors[0]}")
    with open(stamp, "w") as f:
        f.write(key)
    return _by_origin(origin, so)


def _by_origin(origin, so):
    names = [n for n in ACTIVATIONS if ACTIVATIONS[n].origin == origin]
    if len(names) != 1:
        raise ValueError(f"torch_act: {so} registered {len(names)} activations, expected 1")
    return names[0]


def _first_error(log):
    """The first compiler error (with the lines that locate it) from a build log."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if "error" in line and (": error" in line or "error:" in line):
            return "\n".join(lines[max(0, i - 2):i + 4])
    return "\n".join(lines[-20:])
