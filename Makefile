# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

# llama-cpp-python compiles llama.cpp from source. By default it compiles for the exact CPU it is
# built on (-march=native), which crashed on prompts of more than one token on a VM whose CPU
# advertises AVX-512 and AMX. A portable AVX2 build runs on any x86-64 CPU of the last decade.
# The wheel is cached outside the project, keyed by version and flags, so a new checkout (or CI)
# on the same machine installs it in seconds.
LLAMA_CPP_VERSION := 0.3.36
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
else
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
endif
WHEEL_CACHE := $(HOME)/.cache/ragapp-wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(shell echo '$(LLAMA_CMAKE_ARGS)' | cksum | cut -d' ' -f1)

.PHONY: install dev run serve test clean-store chromium tesseract chroma

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.llama-cpp: | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	@if ! ls $(WHEEL_CACHE)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
		echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) ($(LLAMA_CMAKE_ARGS)); this takes several minutes once"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel --quiet --no-deps --no-cache-dir \
			-w $(WHEEL_CACHE) llama-cpp-python==$(LLAMA_CPP_VERSION); \
	fi
	$(BIN)/pip install --quiet --force-reinstall $(WHEEL_CACHE)/llama_cpp_python-*.whl
	touch $@

# Reinstall whenever pyproject.toml changes; the stamp files keep re-runs instant.
$(VENV)/.installed: pyproject.toml $(VENV)/.llama-cpp
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.llama-cpp
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

run: install
	$(BIN)/ingest data/sample
	$(BIN)/streamlit run ui/app.py --server.headless true --server.port $(PORT)

# The HTTP API (OpenAI-compatible chat, /v1/ask, documents) on this machine; started before the app,
# it lends its model to it (one model for the machine). See "The HTTP API" in the README.
API_PORT ?= 8000
serve: install
	$(BIN)/ragapp serve --port $(API_PORT)

# A Chroma server that several app hosts share (each sets RAGAPP_CHROMA_URL=http://HOST:$(CHROMA_PORT)),
# run with the very chromadb the app is pinned to. Loopback by default: Chroma has no sign-in of its
# own, so put an authenticating proxy in front before it listens on the network.
CHROMA_PATH ?= data/chroma
CHROMA_HOST ?= 127.0.0.1
CHROMA_PORT ?= 8000
chroma: install
	ANONYMIZED_TELEMETRY=False $(BIN)/chroma run --path $(CHROMA_PATH) --host $(CHROMA_HOST) --port $(CHROMA_PORT)

# The browser tests drive Debian's Chromium (test tools cannot download browsers here).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "warning: $(CHROMIUM) is missing and could not be installed: the browser tests will be skipped"

# OCR of scans and images: without it the product still runs, and says so in the outcome of a scan.
tesseract:
	@command -v tesseract >/dev/null || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr >/dev/null) || \
		echo "warning: tesseract is missing and could not be installed: scans and images cannot be read (OCR)"

test: dev chromium tesseract
	$(BIN)/python -m pytest

clean-store:
	rm -rf data/store data/uploads data/chroma
