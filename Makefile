# torch_act — every target does its own set-up on a fresh machine.
#   make demo   create .venv if missing, install deps, build, run the demo
#   make test   ... then run the full test suite (pytest, and ctest for C++)
# Variables: TORCH_SPEC (default "torch"), PYTHON (default python3), VENV (default .venv),
#            USE_CUDA / TORCH_CUDA_ARCH_LIST / MAX_JOBS (passed to setup.py).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.torch_act-deps
PY_DEPS := numpy pytest hypothesis matplotlib tqdm tensorboard expecttest ninja
MAX_JOBS ?= 2
export MAX_JOBS

.PHONY: all venv deps build demo test test-py test-cpp bench clean

all: build

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEPS_STAMP): | $(PY)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install "$(TORCH_SPEC)" $(PY_DEPS)
	touch $@

venv deps: $(DEPS_STAMP)

build: $(DEPS_STAMP)
	$(PY) -m pip install --no-build-isolation --no-deps -v -e . > $(VENV)/build.log 2>&1 || (tail -60 $(VENV)/build.log; exit 1)
	@$(PY) -c "import torch_act, json; print('built torch_act', json.dumps(torch_act.build_info()))"

demo: build
	$(PY) -m torch_act demo

test: build
	$(PY) -m pytest tests -q

bench: build
	$(PY) -m torch_act bench

clean:
	rm -rf build torch_act/*.so torch_act/include csrc/build_config.h *.egg-info
