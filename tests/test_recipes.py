"""recipes/: each tutorial setup as a config file that parses, builds and trains a step (at a tiny width and size)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cyclegan_tf.config import make_config, read_config_file
from cyclegan_tf.models.registry import build_model, model_class
from cyclegan_tf.nn.networks import min_discriminator_size, min_input_size, size_multiple

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.toml"))


def test_every_tutorial_setup_has_a_recipe_that_says_what_it_reproduces_and_what_differs():
    assert len(RECIPES) >= 5
    for recipe in RECIPES:
        text = recipe.read_text()
        assert text.startswith("# Reproduces:") and "# What differs:" in text and "# Use: cyclegan-tf train --config" \
            in text, recipe.name


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.stem for r in RECIPES])
def test_recipe_trains_one_step_at_a_tiny_size(recipe, tmp_path):
    values = read_config_file(recipe)
    cfg = make_config(dict(dataroot=str(tmp_path), ngf=4, ndf=4, batch_size=1), recipe)
    assert all(getattr(cfg, key) == value for key, value in values.items() if key not in ("ngf", "ndf", "batch_size"))
    size = max(32, min_input_size(cfg.netG), min_discriminator_size(cfg.netD, cfg.n_layers_D, cfg.d_last_stride))
    size = -(-size // size_multiple(cfg.netG)) * size_multiple(cfg.netG)
    cfg.load_size = cfg.crop_size = size
    cfg.validate()
    model = build_model(cfg, 1, (size, size))
    rng = np.random.default_rng(0)
    batch = tuple(rng.uniform(-1, 1, (1, size, size, 3)).astype("float32") for _ in range(2))
    if model_class(cfg).DATA == "single":  # one folder of images: a batch is one tensor
        batch = batch[0]
    logs = model.train_step(batch)
    assert set(logs) >= set(model.LOSS_NAMES) - ({"idt_A", "idt_B"} if not cfg.lambda_identity else set())
    assert all(np.isfinite(float(np.asarray(v).reshape(-1)[0])) for v in logs.values())
