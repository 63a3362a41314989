# Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install demo test lint clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Trains a small CycleGAN on the embedded demo dataset (no download), translates its test split
# and prints the demo score. Retrains from scratch each time: the previous demo run is removed.
demo: $(STAMP)
	rm -rf checkpoints/demo
	$(BIN)/cyclegan-tf train --dataset demo --name demo
	$(BIN)/cyclegan-tf translate "$${CYCLEGAN_TF_DATA:-$${XDG_CACHE_HOME:-$$HOME/.cache}/cyclegan-tf/datasets}/demo/testA" \
		--name demo --output checkpoints/demo/translated/AtoB

test: $(STAMP)
	$(BIN)/pytest -q tests

lint: $(STAMP)
	$(BIN)/ruff check cyclegan_tf tests

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
