# ditan — make run (set up and run the Beijing sample), make test (set up and run the tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= pipelines/configs/beijing_haidian.yaml
STAMP  := $(VENV)/.installed

# Debian packages the tests need: a browser for the map tests, a CJK font for the annex sheets.
SYSTEM_PACKAGES := chromium chromium-driver fonts-noto-cjk
SYSTEM_STAMP    := $(VENV)/.system-packages

.PHONY: run test venv units lint clean system-packages

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

lint: $(STAMP)
	$(BIN)/ruff check spatial maps pipelines tests

clean:
	rm -rf out .pytest_cache test-artifacts
