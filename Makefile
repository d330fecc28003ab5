# dicomlab: `make demo` runs the main job on the embedded default; `make test` runs the whole suite.
# Both create .venv and install everything they need (as root, also the Debian packages).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check --quiet
APT    := DEBIAN_FRONTEND=noninteractive apt-get
ORTHANC          := /usr/sbin/Orthanc
ORTHANC_DICOMWEB := /usr/share/orthanc/plugins/libOrthancDicomWeb.so
CHROMIUM         := /usr/bin/chromium

.PHONY: demo test lint typecheck orthanc chromium bench clean

$(PY):
	@if ! $(PYTHON) -m venv $(VENV) 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    $(APT) update -qq && $(APT) install -y -qq python3-venv python3-pip >/dev/null && \
	    rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	  else \
	    echo "python3 -m venv failed: install Debian's python3-venv (sudo apt-get install python3-venv)"; \
	    exit 1; \
	  fi; \
	fi

$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PIP) install --upgrade pip
	$(PIP) install -e '.[notebook]'
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install --upgrade pip
	$(PIP) install -e '.[test]'
	@touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(PY) -m dicomlab demo --out demo-output --notebook notebooks/01_quickstart.ipynb

# lint-imports checks the layers (ARCHITECTURE.md) with the contracts in pyproject.toml.
lint: $(VENV)/.installed-test
	$(PY) -m ruff check dicomlab tests bench
	$(PY) -m ruff format --check dicomlab tests bench
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.installed-test
	$(PY) -m mypy

# The DICOMweb store tests run against a real Orthanc: installed from Debian when we are root.
orthanc:
	@if [ -x $(ORTHANC) ] && [ -f $(ORTHANC_DICOMWEB) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  $(APT) update -qq && $(APT) install -y -qq orthanc orthanc-dicomweb >/dev/null \
	    || echo "installing orthanc and orthanc-dicomweb failed: the Orthanc tests will be skipped"; \
	else \
	  echo "Orthanc is not installed and we are not root: the Orthanc tests will be skipped" \
	       "(sudo apt-get install orthanc orthanc-dicomweb to run them)"; \
	fi

# The browser test drives Debian's Chromium (Playwright never downloads a browser of its own).
chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  $(APT) update -qq && $(APT) install -y -qq chromium >/dev/null \
	    || echo "installing chromium failed: the browser test will be skipped"; \
	else \
	  echo "Chromium is not installed and we are not root: the browser test will be skipped" \
	       "(sudo apt-get install chromium to run it)"; \
	fi

test: lint typecheck orthanc chromium
	$(PY) -m pytest

# Every benchmark in turn, then one table: ours, floor, ratio, target, pass/fail.
bench: $(VENV)/.installed-test orthanc
	$(PY) bench/summary.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
