# ditan — make run (set up and run the Beijing sample), make test (set up and run the tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= pipelines/configs/beijing_haidian.yaml
STAMP  := $(VENV)/.installed

.PHONY: run test venv units lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/ditan run $(CONFIG)

test: $(STAMP)
	$(BIN)/python -m pytest -q

units: $(STAMP)
	$(BIN)/ditan units $(CONFIG) --out data/beijing_haidian_tsinghua/units.gpkg

lint: $(STAMP)
	$(BIN)/ruff check spatial maps pipelines tests

clean:
	rm -rf out .pytest_cache test-artifacts
