# Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-browser lint docs bench bench-torch profile bench-deploy bench-augment soak clean
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Trains a small CycleGAN on the embedded demo dataset (no download), reproducibly (--deterministic), translates
# its test split and prints the demo score. Retrains from scratch each time: the previous demo run is removed.
demo: $(STAMP)
	rm -rf checkpoints/demo
	$(BIN)/cyclegan-tf train --dataset demo --name demo --deterministic
	$(BIN)/cyclegan-tf translate "$${CYCLEGAN_TF_DATA:-$${XDG_CACHE_HOME:-$$HOME/.cache}/cyclegan-tf/datasets}/demo/testA" \
		--name demo --output checkpoints/demo/translated/AtoB

# On two pytest-xdist workers: most tests are single-threaded Python and tracing, so two cores halve the wall time
# (the tests of the shared demo run go to one worker: tests/conftest.py).
test: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadgroup tests

# The server's web page in a headless Chromium from Debian's packages (installed here if missing; not part of test).
test-browser: $(STAMP)
	command -v chromedriver >/dev/null || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver)
	$(BIN)/python -c "import selenium" 2>/dev/null || $(BIN)/pip install --quiet --disable-pip-version-check selenium
	$(BIN)/pytest -q browser_tests

# Speed on this machine: training, inference, input pipeline, peak memory (several minutes; not part of test).
bench: $(STAMP)
	$(BIN)/python -m cyclegan_tf.experiments.bench --xla --deterministic --cluster --models cut fastcut --translate --health --json bench.json

# The reference's configuration (ResNet-9, 128 and 256 px, float32 and bf16) against our PyTorch implementation of
# its training step, eager float32 and bf16 autocast, in the same run; and translate of a folder
# (PyTorch comes with the dev extra: the tests use it too).
bench-torch: $(STAMP)
	$(BIN)/python -m cyclegan_tf.experiments.bench --nets resnet_9blocks --torch --translate --json bench-torch.json

# Where a training step's time goes: the TensorFlow profiler's per-op times (256 px ResNet-9, float32 and bf16).
profile: $(STAMP)
	$(BIN)/python -m cyclegan_tf.experiments.profile --precision off --json profile-off.json
	$(BIN)/python -m cyclegan_tf.experiments.profile --precision bf16 --json profile-bf16.json

# Tiles (PSNR against whole, peak memory at 4096 px) and the server's requests/s, with the demo's run (make demo).
bench-deploy: $(STAMP)
	$(BIN)/python -m cyclegan_tf.experiments.deploy_bench --run checkpoints/demo --json bench-deploy.json

# A DCGAN's FID on 100 images per --augment mode (none, flip-crop, diffaugment), 3 seeds each (not part of test).
bench-augment: $(STAMP)
	$(BIN)/python -m cyclegan_tf.experiments.augment --images 100 --seeds 3 --epochs 60 --json bench-augment.json

# Kill a small training run with SIGKILL at 20 random moments, resume it each time, check every checkpoint and log
# (about 6 minutes; a 1-kill version is part of `make test`).
soak: $(STAMP)
	$(BIN)/python -m cyclegan_tf.experiments.soak --kills 20

lint: $(STAMP)
	$(BIN)/ruff check cyclegan_tf tests benchmarks browser_tests

# The guide (docs/, mkdocs.yml) as a site in site/, warnings as errors: a broken link or anchor, or a page left out
# of the nav, fails (tests/test_docs.py builds it too, and runs the pages' examples).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

clean:
	rm -rf $(VENV) build dist site *.egg-info .pytest_cache .ruff_cache
