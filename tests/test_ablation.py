"""CycleGAN's ablation switches change the loss terms as stated; the ablation runner's tables."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from cyclegan_tf.cli.main import main
from cyclegan_tf.config import TrainConfig
from cyclegan_tf.data import labels2photo
from cyclegan_tf.errors import UserError
from cyclegan_tf.evaluation.fcn import FcnScore
from cyclegan_tf.experiments import ablation
from cyclegan_tf.models.cycle_gan import CycleGAN


def tiny(**overrides) -> TrainConfig:
    values = dict(dataset="x", netG="resnet_6blocks", ngf=8, ndf=8, n_epochs=1, n_epochs_decay=1, seed=0,
                  lambda_identity=0.0)
    return TrainConfig(**{**values, **overrides})


def images(seed: int):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (1, 32, 32, 3)).astype("float32"), rng.uniform(-1, 1, (1, 32, 32, 3)).astype("float32")


@pytest.mark.parametrize("cycle, kept", [("forward", {"cycle_A"}), ("backward", {"cycle_B"}),
                                         ("both", {"cycle_A", "cycle_B"})])
def test_cycle_switch_keeps_only_the_chosen_cycle_terms(cycle, kept):
    keras.utils.set_random_seed(0)
    model = CycleGAN.build(tiny(cycle=cycle), 1, (32, 32))
    terms, _, _ = model.generator_losses(*images(0), training=False)
    assert set(terms) == {"G_AB", "G_BA"} | kept


def test_gan_alone_has_zero_cycle_terms():
    model = CycleGAN.build(tiny(lambda_A=0.0, lambda_B=0.0), 1, (32, 32))
    terms, _, _ = model.generator_losses(*images(1), training=False)
    assert float(terms["cycle_A"]) == float(terms["cycle_B"]) == 0.0
    assert float(terms["G_AB"]) > 0 and float(terms["G_BA"]) > 0


def test_cycle_alone_has_no_gan_terms_and_leaves_the_discriminators_untrained():
    keras.utils.set_random_seed(2)
    model = CycleGAN.build(tiny(no_gan=True), 1, (32, 32))
    real_a, real_b = images(2)
    terms, _, _ = model.generator_losses(real_a, real_b, training=False)
    assert set(terms) == {"cycle_A", "cycle_B"}
    d_before = [w.numpy().copy() for D in model.discriminators for w in D.weights]
    g_before = [w.numpy().copy() for G in model.generators for w in G.trainable_weights]
    logs = model.train_step((real_a, real_b))  # eagerly: no tracing
    assert float(logs["G_AB"]) == float(logs["D_A"]) == float(logs["D_B"]) == 0.0 and float(logs["cycle_A"]) > 0
    d_after = [w.numpy() for D in model.discriminators for w in D.weights]
    assert all(np.array_equal(b, a) for b, a in zip(d_before, d_after, strict=True))
    g_after = [w.numpy() for G in model.generators for w in G.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(g_before, g_after, strict=True))
    assert int(model.pool_A.count.numpy()) == 0  # no discriminator, no pool


def test_no_gan_with_zero_cycle_weights_is_a_user_error():
    with pytest.raises(UserError, match="nothing to learn"):
        tiny(no_gan=True, lambda_A=0.0, lambda_B=0.0).validate()


def test_every_table_variant_is_a_valid_config():
    for tables in ablation.TABLES.values():
        for table in tables:
            for variant in table.variants:
                TrainConfig(model=table.model, dataset=labels2photo.NAME, **table.base, **variant.options).validate()
    assert ablation.PIX2PIX_LOSSES.variants[1].flags == "--lambda-L1 0 --unconditional-D"


def fake_score(value: float) -> FcnScore:
    return FcnScore(value, value / 2, value / 4, 50)


def test_runner_trains_a_shared_configuration_once_and_writes_markdown(monkeypatch, tmp_path):
    trained = []

    def run_variant(table, variant, epochs, data_dir, work_dir, verbose=0, max_pairs=None, seed=0):
        trained.append((table.model, variant.label))
        return ablation.Row(variant, [fake_score(0.1 * len(trained))], 300 * epochs, 1.0)

    monkeypatch.setattr(ablation, "run_variant", run_variant)
    results = ablation.run_ablation("pix2pix", epochs=2, work_dir=tmp_path)
    assert [len(rows) for _, rows in results] == [5, 4]
    assert len(trained) == 5 + 3  # the 70x70 PatchGAN row is the L1+cGAN run of Table 1
    l1_cgan, patch70 = results[0][1][4], results[1][1][2]
    assert patch70.score == l1_cgan.score and patch70.variant.label == "70x70" and patch70.same_as == "L1+cGAN"
    text = ablation.markdown(results, fake_score(1.0), "cyclegan-tf ablation pix2pix --epochs 2", 60.0,
                             identity=fake_score(0.2))
    assert "| identity (the label map copied) | | 0.20 / 0.10 / 0.05 | - | | |" in text
    assert "| L1+cGAN | `(defaults)` | 0.50 / 0.25 / 0.12 | 0.66 / 0.23 / 0.17 | 600 | 1 s |" in text
    assert text.count("| ground truth") == 2 and "in 1.0 min" in text
    assert "| 70x70 | `--netD n_layers --n-layers-D 3` | 0.50 / 0.25 / 0.12 | 0.66 / 0.23 / 0.17 | 600 | the L1+cGAN " \
           "run |" in text
    with pytest.raises(UserError):
        ablation.run_ablation("stargan")


def test_with_several_seeds_a_row_is_their_mean_and_shows_each_seeds_iou(monkeypatch, tmp_path):
    seeds_run = []

    def run_variant(table, variant, epochs, data_dir, work_dir, verbose=0, max_pairs=None, seed=0):
        seeds_run.append(seed)
        return ablation.Row(variant, [fake_score(0.2 + 0.4 * seed)], 300 * epochs, 2.0)

    monkeypatch.setattr(ablation, "run_variant", run_variant)
    results = ablation.run_ablation("cyclegan", epochs=1, work_dir=tmp_path, seeds=2)
    assert seeds_run == [0, 1] * 5
    row = results[0][1][0]
    assert [s.pixel_accuracy for s in row.scores] == pytest.approx([0.2, 0.6])
    assert (row.seconds, row.steps) == (4.0, 300)
    assert row.score.pixel_accuracy == pytest.approx(0.4) and row.score.class_iou == pytest.approx(0.1)
    text = ablation.markdown(results)
    assert "class IoU, mean of 2 seeds | class IoU of each seed |" in text
    assert "| Cycle alone | `--no-gan` | 0.40 / 0.20 / 0.10 | 0.05, 0.15 | - | 300 | 4 s |" in text


def test_ablation_command_end_to_end(tmp_path, data_dir, monkeypatch):
    """`cyclegan-tf ablation cyclegan` for real, shortened: three of its configurations (no discriminator, no
    cycle, both: the switches that build other networks and losses; the two one-cycle rows differ from the last
    in one loss term, `test_cycle_switch_keeps_only_the_chosen_cycle_terms`) trained (2 steps on 2 pairs) from
    scratch with their switches, scored on the 50 test pairs, and the table written with its bounds."""
    table = ablation.CYCLEGAN_LOSSES
    variants = tuple(v for v in table.variants if v.label in ("Cycle alone", "GAN alone", "CycleGAN"))
    monkeypatch.setitem(ablation.TABLES, "cyclegan", (dataclasses.replace(table, variants=variants),))
    out = tmp_path / "table.md"
    result = CliRunner().invoke(main, ["ablation", "cyclegan", "--epochs", "1", "--max-pairs", "2", "--data-dir",
                                       str(data_dir), "--work-dir", str(tmp_path / "runs"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ")]
    labels = [row[0] for row in rows[1:]]
    assert labels == ["Cycle alone", "GAN alone", "CycleGAN", "identity (the label map copied)",
                      "ground truth (the segmenter on real photos)"]
    identity, truth = ablation.bounds(data_dir)
    assert rows[-2][2] == identity.row() and rows[-1][2] == truth.row() == "1.00 / 1.00 / 1.00"
    for row, variant in zip(rows[1:4], variants, strict=True):
        scores = [float(v) for v in row[2].split(" / ")]
        assert all(0 <= v <= 1 for v in scores) and row[4] == "2" and row[5].endswith(" s")  # 1 epoch of 2 pairs
        config = json.loads((tmp_path / "runs" / f"cycle_gan_{ablation.slug(variant.label)}" / "config.json")
                            .read_text())
        assert config["max_dataset_size"] == 2 and config["lambda_identity"] == 0.0
        assert all(config[key] == value for key, value in variant.options.items()), (variant.label, config)
    assert "Made by `cyclegan-tf ablation cyclegan --epochs 1 --max-pairs 2` in " in text
    assert "Cycle alone: " in result.output and "wrote " in result.output
