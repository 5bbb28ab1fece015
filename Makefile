# ditan — make run (set up and run the Beijing sample), make test (set up and run the tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= pipelines/configs/beijing_haidian.yaml
STAMP  := $(VENV)/.installed

# Debian packages the tests need: a browser for the map tests, a CJK font for the annex sheets, LibreOffice
# (Writer, no GUI) for the PDF of `ditan report`.
SYSTEM_PACKAGES := chromium chromium-driver fonts-noto-cjk libreoffice-writer-nogui
SYSTEM_STAMP    := $(VENV)/.system-packages

.PHONY: run test venv units lint typecheck clean system-packages bench bench-quick postgres postgres-stop

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
	else echo "note: missing Debian packages ($$missing): run 'sudo apt-get install $$missing'; the map-browser, annex and report-PDF tests will be skipped"; fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# ditan with every extra, so that make run and make test do everything: cluster (dask: batch --workers/--scheduler),
# postgis (psycopg: database inputs and output.database), test (pytest, mypy, and osmnx/networkx, also the graph extra).
EXTRAS ?= test,cluster,postgis

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/ditan run $(CONFIG)

# The tests run against a throwaway PostgreSQL + PostGIS server (Debian's postgresql and postgresql-postgis), started on
# 127.0.0.1:$(PG_PORT) before pytest and stopped after it, even when tests fail (pytest's exit status is kept). When it
# cannot be installed or started, the PostGIS tests are skipped with the reason (under CI=true they fail).
test: $(STAMP) system-packages typecheck
	@was_running=0; $(PG_CTL_STATUS) && was_running=1; \
	$(MAKE) --no-print-directory postgres || echo "note: no PostGIS test server (see above); the PostGIS tests will be skipped"; \
	stop() { [ $$was_running = 1 ] || $(MAKE) --no-print-directory postgres-stop; }; trap 'stop; exit 130' INT TERM; \
	status=0; DITAN_TEST_DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest -q || status=$$?; \
	stop; exit $$status

# mypy on the public API: ditan's own modules (ditan/*.py) and spatial/; fails on any error. mypy cannot follow
# setuptools' package-dir, so the folders are linked under build/mypy/ditan as the installed package lays them out
# (pyproject.toml [tool.mypy] reads them there; pipelines/ and maps/ are read for their types, not reported).
MYPY_TREE := build/mypy

typecheck: $(STAMP)
	@rm -rf $(MYPY_TREE) && mkdir -p $(MYPY_TREE)/ditan && ln -s $(CURDIR)/ditan/*.py $(MYPY_TREE)/ditan/ && \
	for p in spatial maps pipelines; do ln -s $(CURDIR)/$$p $(MYPY_TREE)/ditan/$$p; done
	$(BIN)/mypy $$(for f in ditan/*.py; do m=$$(basename $$f .py); [ $$m = __init__ ] && echo "-m ditan" || echo "-m ditan.$$m"; done) -p ditan.spatial

units: $(STAMP)
	$(BIN)/ditan units $(CONFIG) --out data/beijing_haidian_tsinghua/units.gpkg

# Benchmarks (not part of the tests): synthetic cities of 10k, 100k and 1M street nodes (units on the central 47 %),
# and full-coverage cities of 100k and 1M (every block a unit), stage timings and peak memory
# (benchmarks/results/bench.json, table in benchmarks/README.md), then the life-circle stage against pandana,
# cityseer, networkx and plain scipy (setup and query times), installed in their own venv (.venv-bench), never in ditan's.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_SIZES ?= 10000 100000 1000000
BENCH_FULL_SIZES ?= 100000 1000000
PEER_SIZES  ?= 10000 100000 1000000

$(BENCH_STAMP): pyproject.toml benchmarks/requirements-peers.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e . -r benchmarks/requirements-peers.txt
	touch $(BENCH_STAMP)

bench: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python benchmarks/run_bench.py --sizes $(BENCH_SIZES) --full-sizes $(BENCH_FULL_SIZES)
	$(BENCH_VENV)/bin/python benchmarks/compare_peers.py --sizes $(PEER_SIZES) --peer-max-nodes 100000 \
		--networkx-max-nodes 1000000 --json benchmarks/results/peers.json --readme benchmarks/README.md

# the 10k and 100k cities and the full-coverage 100k city only (a few minutes)
bench-quick:
	$(MAKE) bench BENCH_SIZES="10000 100000" BENCH_FULL_SIZES="100000" PEER_SIZES="10000 100000"

# PostgreSQL + PostGIS for the tests: a cluster of its own in $(PG_DIR) (owned by the postgres OS user when run as root:
# initdb refuses root), listening on 127.0.0.1:$(PG_PORT) and a socket in $(PG_DIR), database $(PG_DB) with PostGIS.
# The superuser and the sample's roles ditan_reader (SELECT only: the layers) and ditan_writer (creates the results
# schema) connect over TCP without a password (local test server only); every other role needs its password.
PG_PORT     ?= 55432
PG_DIR      ?= /tmp/ditan-pg-$(PG_PORT)
PG_DB       ?= ditan_test
PG_URL      := postgresql://postgres@127.0.0.1:$(PG_PORT)/$(PG_DB)
PG_PACKAGES := postgresql postgresql-postgis
# the newest installed PostgreSQL with the PostGIS extension (Debian: /usr/lib/postgresql/<version>/bin)
PG_BINDIR    = $$(for c in $$(ls /usr/share/postgresql/*/extension/postgis.control 2>/dev/null | sort -V); do v=$${c\#/usr/share/postgresql/}; b=/usr/lib/postgresql/$${v%%/*}/bin; [ -x $$b/pg_ctl ] && echo $$b; done | tail -1)
PG_AS        = $$([ "$$(id -u)" != 0 ] || echo runuser -u postgres --)
PG_CTL_STATUS = { b=$(PG_BINDIR); [ -n "$$b" ] && [ -f $(PG_DIR)/data/PG_VERSION ] && $(PG_AS) $$b/pg_ctl -D $(PG_DIR)/data status >/dev/null 2>&1; }

postgres:
	@if [ -z "$(PG_BINDIR)" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing $(PG_PACKAGES)"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(PG_PACKAGES) >/dev/null || exit 1; \
		else echo "note: PostgreSQL with PostGIS is not installed: run 'sudo apt-get install $(PG_PACKAGES)'"; exit 1; fi; \
	fi
	@set -e; bin=$(PG_BINDIR); as="$(PG_AS)"; \
	if [ -z "$$bin" ]; then echo "no PostgreSQL server with PostGIS found under /usr/lib/postgresql"; exit 1; fi; \
	mkdir -p $(PG_DIR); [ -z "$$as" ] || chown postgres: $(PG_DIR); \
	if [ ! -f $(PG_DIR)/data/PG_VERSION ]; then \
		rm -rf $(PG_DIR)/data; \
		$$as $$bin/initdb -D $(PG_DIR)/data -U postgres -E UTF8 --no-locale --auth-local=trust --auth-host=scram-sha-256 >$(PG_DIR)/initdb.log; \
	fi; \
	printf '%s\n' "host all postgres,ditan_reader,ditan_writer 127.0.0.1/32 trust" "host all postgres,ditan_reader,ditan_writer ::1/128 trust" \
		"host all all 127.0.0.1/32 scram-sha-256" "host all all ::1/128 scram-sha-256" \
		"local all all trust" | $$as tee $(PG_DIR)/data/pg_hba.conf >/dev/null; \
	if ! $$as $$bin/pg_ctl -D $(PG_DIR)/data status >/dev/null 2>&1; then \
		$$as $$bin/pg_ctl -D $(PG_DIR)/data -l $(PG_DIR)/server.log -w -t 60 \
			-o "-p $(PG_PORT) -k $(PG_DIR) -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" start >/dev/null \
			|| { echo "PostgreSQL did not start (port $(PG_PORT) taken?); its log:"; tail -20 $(PG_DIR)/server.log; exit 1; }; \
	fi; \
	psql="$$bin/psql -X -q -h $(PG_DIR) -p $(PG_PORT) -U postgres -v ON_ERROR_STOP=1"; \
	$$as $$psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$(PG_DB)'" | grep -q 1 || $$as $$psql -d postgres -c "CREATE DATABASE $(PG_DB)"; \
	$$as $$bin/pg_ctl -D $(PG_DIR)/data reload >/dev/null; \
	$$as $$psql -d $(PG_DB) -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS postgis"; \
	$$as $$psql -d $(PG_DB) -c "SET client_min_messages = warning" \
		-c "DO \$$\$$BEGIN CREATE ROLE ditan_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END\$$\$$" \
		-c "DO \$$\$$BEGIN CREATE ROLE ditan_writer LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END\$$\$$" \
		-c "GRANT CREATE ON DATABASE $(PG_DB) TO ditan_writer" \
		-c "ALTER DEFAULT PRIVILEGES FOR ROLE postgres GRANT USAGE ON SCHEMAS TO ditan_reader" \
		-c "ALTER DEFAULT PRIVILEGES FOR ROLE postgres GRANT SELECT ON TABLES TO ditan_reader"; \
	echo "PostGIS test server: $(PG_URL) (data in $(PG_DIR); stop it with make postgres-stop)"

postgres-stop:
	@bin=$(PG_BINDIR); if [ -n "$$bin" ] && [ -f $(PG_DIR)/data/PG_VERSION ]; then \
		$(PG_AS) $$bin/pg_ctl -D $(PG_DIR)/data -m fast -w stop >/dev/null 2>&1 && echo "PostGIS test server stopped" || true; fi

lint: $(STAMP)
	$(BIN)/ruff check ditan spatial maps pipelines tests benchmarks

clean:
	rm -rf out .pytest_cache test-artifacts
