# torch_act — every target does its own set-up on a fresh machine.
#   make demo   create .venv if missing, install deps, build, run the demo
#   make test   ... then run the full test suite (pytest, and ctest for C++)
#   make test-cpp   build, then only the C++ tests and example (docs/cpp.md)
#   make test-sanitize   the CPU op library under AddressSanitizer + UBSan, a test subset (below)
#   make test-huge  the >2^31-element tests (tests/test_huge.py; up to 14 GiB of free memory)
# Variables: TORCH_SPEC (default "torch"), PYTHON (default python3), VENV (default .venv),
#            USE_CUDA / TORCH_CUDA_ARCH_LIST / MAX_JOBS (passed to setup.py).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.torch_act-deps
PY_DEPS := numpy pytest hypothesis matplotlib tqdm tensorboard expecttest ninja
# test-only: real clients of torch_act.fuse (tests skip cleanly without them);
# --no-deps so pip never replaces torch (torchvision 0.29 is built for torch 2.14)
PY_TEST_DEPS := torchvision==0.29.1 transformers==5.24.0 huggingface-hub==2.4.0 tokenizers==0.23.1 \
  safetensors==0.8.0 regex==2026.11.19 pyyaml==6.0.4 httpx2==2.16.2 httpcore2==2.16.2 anyio==4.16.0 \
  h11==0.16.0 idna==3.20 truststore==0.10.5
MAX_JOBS ?= 2
export MAX_JOBS
CPP_BUILD ?= build/cpp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all venv deps build demo test test-py test-cpp cpp-check bench bench-cpp clean \
  sanitize-build test-sanitize test-huge

all: build

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEPS_STAMP): | $(PY)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install "$(TORCH_SPEC)" $(PY_DEPS)
	$(PY) -m pip install --no-deps $(PY_TEST_DEPS) || echo "test-only packages not installed: their tests skip"
	@# torchvision's ops are built for one torch (0.29 for 2.14): with another torch (TORCH_SPEC=torch==2.13.0)
	@# it fails to import, and transformers with it; without it transformers works and torchvision's test skips
	@$(PY) -c "import torchvision.ops" 2>/dev/null || { echo "torchvision does not load with this torch: uninstalling it (its test skips)"; \
	  $(PY) -m pip uninstall -y -q torchvision; }
	touch $@

venv deps: $(DEPS_STAMP)

build: $(DEPS_STAMP)
	$(PY) -m pip install --no-build-isolation --no-deps -v -e . > $(VENV)/build.log 2>&1 || (tail -60 $(VENV)/build.log; exit 1)
	@$(PY) -c "import torch_act, json; print('built torch_act', json.dumps(torch_act.build_info()))"

demo: build
	$(PY) -m torch_act demo

test: build
	$(PY) -m pytest tests -q
	@$(MAKE) --no-print-directory cpp-check

test-cpp: build
	@$(MAKE) --no-print-directory cpp-check

# The C++ side on the current build: GoogleTest (Debian's libgtest-dev) and
# CMake, the example built as a user would (examples/cpp), then the tests
# (tests/cpp, which also run that example and check it needs no Python).
cpp-check:
	@dpkg -s libgtest-dev >/dev/null 2>&1 && command -v cmake >/dev/null || \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libgtest-dev cmake; }
	@set -e; \
	prefix="$$($(PY) -m torch_act info --cmake-prefix);$$($(PY) -c 'import torch;print(torch.utils.cmake_prefix_path)')"; \
	echo "CMAKE_PREFIX_PATH=$$prefix"; mkdir -p $(CPP_BUILD); \
	cmake -S examples/cpp -B $(CPP_BUILD)/examples -DCMAKE_PREFIX_PATH="$$prefix" > $(CPP_BUILD)/examples-configure.log 2>&1 || { cat $(CPP_BUILD)/examples-configure.log; exit 1; }; \
	cmake --build $(CPP_BUILD)/examples -j $(MAX_JOBS); \
	cmake -S tests/cpp -B $(CPP_BUILD)/tests -DCMAKE_PREFIX_PATH="$$prefix" \
	  -DTORCH_ACT_NET_EXE="$(CURDIR)/$(CPP_BUILD)/examples/net" > $(CPP_BUILD)/tests-configure.log 2>&1 || { cat $(CPP_BUILD)/tests-configure.log; exit 1; }; \
	cmake --build $(CPP_BUILD)/tests -j $(MAX_JOBS); \
	cmake -S examples/custom_activation -B $(CPP_BUILD)/custom_activation -DCMAKE_PREFIX_PATH="$$prefix" > $(CPP_BUILD)/custom-configure.log 2>&1 || { cat $(CPP_BUILD)/custom-configure.log; exit 1; }; \
	cmake --build $(CPP_BUILD)/custom_activation -j $(MAX_JOBS); \
	$(CPP_BUILD)/custom_activation/swish_demo; \
	cmake -S benchmarks/cpp -B $(CPP_BUILD)/bench -DCMAKE_PREFIX_PATH="$$prefix" > $(CPP_BUILD)/bench-configure.log 2>&1 || { cat $(CPP_BUILD)/bench-configure.log; exit 1; }; \
	cmake --build $(CPP_BUILD)/bench -j $(MAX_JOBS); \
	cd $(CPP_BUILD)/tests && ctest --output-on-failure

# ---------------------------------------------------------------- sanitizers
# make test-sanitize: the CPU op library and _C built with AddressSanitizer +
# UndefinedBehaviorSanitizer (setup.py TORCH_ACT_SANITIZE=1: -O1 -g
# -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all,
# USE_CUDA=0), objects in build/sanitize/temp.*, the package in build/sanitize/lib
# (the normal build, torch_act/*.so, is untouched), then SANITIZE_TESTS under it
# (libasan preloaded into python, with libstdc++ so that ASan's __cxa_throw
# interceptor finds it; leak checks off: CPython's own allocations) once
# per CPU ISA path this machine runs (TORCH_ACT_CPU_ISA=amx/avx512/avx2/portable),
# the fuzz with SANITIZE_FUZZ_EXAMPLES examples per path.  Any sanitizer report
# aborts the run.  The subset: every op's values, gradients and errors
# (test_ops, test_grad, test_errors), the CPU kernels' shape/layout/thread sweep
# (test_cpu_isa, 60 hypothesis examples), the op boundary fuzz (test_fuzz), the
# modules (test_modules), higher order (test_higher_order*), the save="mask"
# kernels and policies (test_save_policy), mlp_flat and MLP(flat=True)
# (test_mlp_flat); user activations (the plugin of tests/plugins.py is
# loaded from build/plugin-cache, built by `make test`, or built under the
# sanitizer when missing).
SAN_DIR := build/sanitize
SANITIZE_TESTS ?= tests/test_ops.py tests/test_grad.py tests/test_errors.py tests/test_cpu_isa.py \
  tests/test_fuzz.py tests/test_modules.py tests/test_higher_order.py tests/test_higher_order_glu_lce.py \
  tests/test_save_policy.py tests/test_mlp_flat.py tests/test_pytorch_samples.py
SANITIZE_FUZZ_EXAMPLES ?= 500
SANITIZE_HYPOTHESIS_EXAMPLES ?= 60
ASAN_OPTIONS_SAN ?= detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1:strict_init_order=1
UBSAN_OPTIONS_SAN ?= print_stacktrace=1:halt_on_error=1

sanitize-build: $(DEPS_STAMP)
	@mkdir -p $(SAN_DIR)
	@echo "building the sanitizer build in $(SAN_DIR) (log: $(SAN_DIR)/build.log)"
	TORCH_ACT_SANITIZE=1 USE_CUDA=0 $(PY) setup.py build --build-lib $(SAN_DIR)/lib > $(SAN_DIR)/build.log 2>&1 \
	  || (tail -60 $(SAN_DIR)/build.log; exit 1)

# (run from $(SAN_DIR): `python -m` puts the working directory first on sys.path,
# and the source tree's torch_act must not be the one imported)
test-sanitize: sanitize-build
	@set -e; asan="$$(c++ -print-file-name=libasan.so) $$(c++ -print-file-name=libstdc++.so)"; \
	py="$(abspath $(PY))"; cd $(SAN_DIR); \
	run() { env LD_PRELOAD="$$asan" ASAN_OPTIONS="$(ASAN_OPTIONS_SAN)" UBSAN_OPTIONS="$(UBSAN_OPTIONS_SAN)" \
	  PYTHONPATH="$(CURDIR)/$(SAN_DIR)/lib" "$$@"; }; \
	run "$$py" -c "import torch_act; assert '$(SAN_DIR)/lib/' in torch_act.__file__, torch_act.__file__"; \
	isas="$$(run "$$py" -c 'import torch_act; print(*torch_act.supported_cpu_isas())')"; failed=""; \
	for isa in $$isas; do \
	  echo "== sanitizers, CPU path $$isa: $(SANITIZE_TESTS)"; \
	  run env TORCH_ACT_CPU_ISA=$$isa TORCH_ACT_FUZZ_EXAMPLES=$(SANITIZE_FUZZ_EXAMPLES) \
	    TORCH_ACT_HYPOTHESIS_EXAMPLES=$(SANITIZE_HYPOTHESIS_EXAMPLES) \
	    "$$py" -m pytest $(addprefix $(CURDIR)/,$(SANITIZE_TESTS)) -q -p no:cacheprovider || failed="$$failed $$isa"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-sanitize failed on:$$failed"; exit 1; fi

# The >2^31-element tests (tests/test_huge.py), when the machine has the memory.
test-huge: build
	TORCH_ACT_HUGE=1 $(PY) -m pytest tests/test_huge.py -q -m huge

bench: build
	$(PY) -m torch_act bench

# The Net's training step in C++ against the autograd engine's own cost
# (benchmarks/cpp/net_overhead.cpp); built by cpp-check.
bench-cpp: build
	@$(MAKE) --no-print-directory cpp-check
	$(CPP_BUILD)/bench/net_overhead

clean:
	rm -rf build torch_act/*.so torch_act/include csrc/build_config.h *.egg-info \
	  torch_act/share/cmake/TorchAct/TorchActConfigVersion.cmake torch_act/share/cmake/TorchAct/TorchActBuild.cmake
