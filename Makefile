# camposer: two commands on a fresh machine.
#   make demo   create .venv, install everything, run the main job on the synthetic building
#   make test   same set-up, then the test suite
# A second run reuses .venv (reinstalls only when setup.py / setup.cfg / package.xml change).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.camposer-installed
PREFIX := $(abspath $(VENV))
SHARE  := $(VENV)/share/camposer
PYTEST_ARGS ?= -n 2
DEMO_OUT ?= demo_output
# Free space a new .venv wants (torch's x86_64 build alone is ~5.5 GB), in KiB; below it: a warning.
VENV_NEEDS_KB := 8388608

# What ROS 2 needs at run time (also set by test/conftest.py for direct pytest runs).
export AMENT_PREFIX_PATH := $(PREFIX)$(if $(AMENT_PREFIX_PATH),:$(AMENT_PREFIX_PATH))
export ROS_LOG_DIR ?= $(abspath $(VENV))/ros_log
export FASTDDS_BUILTIN_TRANSPORTS ?= LARGE_DATA
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export MPLBACKEND ?= Agg

.PHONY: all install test demo bench clean-venv chromium

all: test

install: $(STAMP)

# The stamp is touched only after everything succeeded: a failed install is retried next time,
# and editing setup.py / setup.cfg / package.xml (new dependency, console script) reinstalls.
# Source edits need no reinstall (editable install).
$(STAMP): setup.py setup.cfg package.xml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "camposer needs Python >= 3.10, $(PYTHON) is " + sys.version.split()[0])'
	@if [ ! -x $(PY) ]; then \
	  free_kb=$$(df -Pk . | awk 'NR==2 {print $$4}'); \
	  if [ -n "$$free_kb" ] && [ "$$free_kb" -lt $(VENV_NEEDS_KB) ]; then \
	    echo "warning: $$((free_kb / 1048576)) GB free in $(abspath .); $(VENV) needs about 7 GB (torch)," \
	         "the install may stop with 'No space left on device'"; fi; \
	  echo "creating $(VENV)"; $(PYTHON) -m venv $(VENV) && \
	  $(PY) -m pip install --quiet --upgrade "pip>=24" "setuptools>=70" wheel; fi
	$(PY) -m pip install --quiet -e ".[ros,dev]"
	@# pip's editable install skips data_files: link the share files and the ament index
	@# marker into the venv so get_package_share_directory('camposer') works.
	mkdir -p $(SHARE) $(VENV)/share/ament_index/resource_index/packages
	@for d in launch config rviz package.xml; do rm -rf $(SHARE)/$$d; ln -s $(abspath .)/$$d $(SHARE)/$$d; done
	touch $(VENV)/share/ament_index/resource_index/packages/camposer
	touch $(STAMP)

test: $(STAMP) chromium
	$(PY) -m pytest $(PYTEST_ARGS)

# The browser test of `camposer serve` drives Debian's chromium through Playwright (Playwright's
# own browser download cannot work offline). Installed with apt when missing and possible; else
# that one test skips and says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium (apt) for the browser test"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
	      || echo "apt-get could not install chromium: the browser test will skip"; \
	  else echo "chromium missing and no root apt-get: the browser test will skip"; fi; }

demo: $(STAMP)
	$(VENV)/bin/camposer demo --out $(DEMO_OUT)

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
