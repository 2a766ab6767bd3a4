# netmeasure: `make demo` and `make test` set up everything they need on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo)
# Debian packages the tests use: the real iperf3, iputils' ping (latency where ICMP sockets
# are closed), nft for loss in the testbed, iproute2 for
# namespaces and tc, poppler-utils to rasterise reports; pango and harfbuzz-subset for
# WeasyPrint (the report's PDF).
SYSTEM_TOOLS := iperf3:iperf3 nft:nftables ip:iproute2 tc:iproute2 ss:iproute2 \
	pdftoppm:poppler-utils openssl:openssl runuser:util-linux \
	ping:iputils-ping setpriv:util-linux
# evaluate --engine spark (pyspark 4) needs a Java 17 runtime.
SYSTEM_TOOLS += java:openjdk-17-jre-headless
# R and its survey package: tests/test_r_survey.py checks the statistics against them.
SYSTEM_TOOLS += Rscript:r-base-core
# The http runner's tool (curl) and the shipped test server (nginx-light, probes/test-server);
# chrt runs the testbed's probes and server on SCHED_FIFO.
SYSTEM_TOOLS += curl:curl nginx:nginx-light chrt:util-linux
# The latency delay line's ground truth: a kernel capture on the client's device.
SYSTEM_TOOLS += tcpdump:tcpdump
SYSTEM_LIBS := libpango-1.0.so.0:libpango-1.0-0 libpangoft2-1.0.so.0:libpangoft2-1.0-0 \
	libharfbuzz-subset.so.0:libharfbuzz-subset0
# The dashboard's tests drive Debian's headless chromium (Playwright with executable_path).
# The collector's tests run a real PostgreSQL server (Debian's postgresql; its binaries are
# not on PATH, so they are looked for where Debian puts them).

.PHONY: test check demo lint typecheck bench system-deps venv clean lock

system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  tool=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$tool >/dev/null 2>&1 || [ -x /usr/sbin/$$tool ] || missing="$$missing $$pkg"; \
	done; \
	for pair in $(SYSTEM_LIBS); do \
	  lib=$${pair%%:*}; pkg=$${pair##*:}; \
	  /sbin/ldconfig -p | grep -q "$$lib" || missing="$$missing $$pkg"; \
	done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -d /usr/lib/R/site-library/survey ] || missing="$$missing r-cran-survey"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# constraints.txt is the lock file: CI installs what users install (README, Install).
LOCK := constraints.txt
$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c $(LOCK) -e '.[analysis,report,collector,dashboard,spark,dev]'
	touch $@

venv: $(VENV)/.installed

# tests/test_packaging.py builds the sdist and wheel and runs every command from the wheel
# installed with each extra in clean environments (kept in build/packaging).
test: system-deps venv
	$(PY) -m pytest

# The fast subset: every test that needs no external part (the markers in pyproject.toml,
# added by tests/conftest.py from the fixtures a test uses): no server, browser, JVM, R,
# PostgreSQL, namespace, root, wheel build or PDF rendering, and none of the slow scale
# tests. analysis/results/check_time.md has its time.
NOT_IN_CHECK := testbed or netns or root or server or postgres or browser or spark or r \
	or packaging or pdf or slow
check: system-deps venv
	$(PY) -m pytest -m "not ($(NOT_IN_CHECK))"

# Re-resolve the lock file with pip's own resolver (after a change of pyproject.toml).
lock: venv
	mkdir -p build
	$(PY) -m pip install -q --dry-run --ignore-installed --report build/lock.json '.[all,dev]'
	$(PY) tests/lockfile.py build/lock.json > $(LOCK)

# mypy --strict on src/ (pyproject's [tool.mypy]); on tests/ the same minus three checks a
# test gains nothing from: bare generics (`dict` for a JSON row), a returned Any (json.loads)
# and untyped decorators (hypothesis strategies built by helpers).
# tests/fixtures holds recorded third-party scripts, not our code.
MYPY_TESTS := --allow-any-generics --no-warn-return-any --allow-untyped-decorators \
	--exclude tests/fixtures
lint: venv
	$(VENV)/bin/ruff check src tests analysis
	$(VENV)/bin/ruff format --check src tests analysis
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy $(MYPY_TESTS) tests

typecheck: venv
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy $(MYPY_TESTS) tests

DEMO_DIR ?= demo-out
demo: system-deps venv
	bash probes/demo.sh $(DEMO_DIR)

bench: system-deps venv
	$(PY) analysis/probe_accuracy.py
	$(PY) analysis/probe_overhead.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) build dist .pytest_cache .mypy_cache .ruff_cache
