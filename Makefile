# ditan — make run (set up and run the Beijing sample), make test (set up and run the tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= pipelines/configs/beijing_haidian.yaml
STAMP  := $(VENV)/.installed

# Debian packages the tests need: a browser for the map tests, a CJK font for the annex sheets.
SYSTEM_PACKAGES := chromium chromium-driver fonts-noto-cjk
SYSTEM_STAMP    := $(VENV)/.system-packages

.PHONY: run test venv units lint clean system-packages bench bench-quick

# Installs the Debian packages with apt-get when they are missing and we are root (as in CI);
# otherwise it says what to install and the tests that need them are skipped (they fail under CI=true).
system-packages: $(SYSTEM_STAMP)

$(SYSTEM_STAMP): $(BIN)/python
	@missing="$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done)"; \
	if [ -z "$$missing" ]; then touch $@; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing $$missing"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null && touch $@; \
	else echo "note: missing Debian packages ($$missing): run 'sudo apt-get install $$missing'; the map-browser and annex tests will be skipped"; fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/ditan run $(CONFIG)

test: $(STAMP) system-packages
	$(BIN)/python -m pytest -q

units: $(STAMP)
	$(BIN)/ditan units $(CONFIG) --out data/beijing_haidian_tsinghua/units.gpkg

# Benchmarks (not part of the tests): synthetic cities of 10k, 100k and 1M street nodes, stage timings and peak
# memory (benchmarks/results/bench.json, table in benchmarks/README.md), then the life-circle stage against
# pandana, cityseer, networkx and plain scipy, installed in their own venv (.venv-bench), never in ditan's.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_SIZES ?= 10000 100000 1000000
PEER_SIZES  ?= 10000 100000 1000000

$(BENCH_STAMP): pyproject.toml benchmarks/requirements-peers.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e . -r benchmarks/requirements-peers.txt
	touch $(BENCH_STAMP)

bench: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python benchmarks/run_bench.py --sizes $(BENCH_SIZES)
	$(BENCH_VENV)/bin/python benchmarks/compare_peers.py --sizes $(PEER_SIZES) --peer-max-nodes 100000 \
		--networkx-max-nodes 1000000 --json benchmarks/results/peers.json --readme benchmarks/README.md

# the 10k and 100k cities only (a few minutes)
bench-quick:
	$(MAKE) bench BENCH_SIZES="10000 100000" PEER_SIZES="10000 100000"

lint: $(STAMP)
	$(BIN)/ruff check spatial maps pipelines tests

clean:
	rm -rf out .pytest_cache test-artifacts
