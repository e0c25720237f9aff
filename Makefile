# torch_act — every target does its own set-up on a fresh machine.
#   make demo   create .venv if missing, install deps, build, run the demo
#   make test   ... then run the full test suite (pytest, and ctest for C++)
#   make test-cpp   build, then only the C++ tests and example (docs/cpp.md)
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

.PHONY: all venv deps build demo test test-py test-cpp cpp-check bench bench-cpp clean

all: build

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEPS_STAMP): | $(PY)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install "$(TORCH_SPEC)" $(PY_DEPS)
	$(PY) -m pip install --no-deps $(PY_TEST_DEPS) || echo "test-only packages not installed: their tests skip"
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
