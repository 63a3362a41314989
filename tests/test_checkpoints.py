"""Checkpoints: keyed by name, generators as Keras files that open in plain Keras, and runs written by release
0.1 (`weights.npz`, keyed by position) still translating to the same pixels and resuming."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cyclegan_tf.config import TrainConfig, make_config
from cyclegan_tf.data.images import load_image
from cyclegan_tf.errors import UserError
from cyclegan_tf.inference.translator import load_translator
from cyclegan_tf.models.cycle_gan import CycleGAN
from cyclegan_tf.runs import checkpoints
from cyclegan_tf.training.trainer import train

LEGACY = Path(__file__).parent / "fixtures" / "legacy_v0_1"


def legacy_run(tmp_path: Path) -> Path:
    run = tmp_path / "legacy_v0_1"
    shutil.copytree(LEGACY, run)
    return run


def tiny_config(**options) -> TrainConfig:
    return TrainConfig(**{**dict(dataset="demo", netG="resnet_6blocks", ngf=4, ndf=4, crop_size=32, pool_size=3),
                          **options})


def test_a_run_of_release_0_1_translates_to_the_same_pixels(tmp_path):
    run = legacy_run(tmp_path)
    assert (run / "checkpoints" / "latest_00000012" / "weights.npz").is_file()
    image = load_image(run / "input_45x37.png")
    for direction in ("AtoB", "BtoA"):
        expected = load_image(run / f"{direction}_45x37.png").astype(int)
        for source in (run, run / "checkpoints" / "epoch_002"):  # the latest full state, and an epoch's networks
            output = load_translator(source, direction)(image).astype(int)
            assert output.shape == expected.shape == (37, 45, 3)
            assert np.abs(output - expected).max() <= 1, (direction, source)
            assert output.std() > 1  # a real translation, not a blank image


def test_a_run_of_release_0_1_resumes(tmp_path, data_dir):
    run = legacy_run(tmp_path)
    old = checkpoints.latest_checkpoint(run)
    cfg = make_config({"name": run.name, "checkpoints_dir": str(tmp_path), "data_dir": str(data_dir),
                       "continue_train": True, "n_epochs_decay": 2})
    # every saved array lands in the variable at its position, as release 0.1 wrote them
    model = CycleGAN.build(cfg, 6, (32, 32))
    checkpoints.restore(old, checkpoints.parts_of(model, checkpoints.all_groups(model)))
    with np.load(old / "weights.npz") as saved:
        np.testing.assert_array_equal(model.G_BA.weights[3].numpy(), saved["G_BA/0003"])
        np.testing.assert_array_equal(model.d_optimizer.variables[-1].numpy(), saved[sorted(
            k for k in saved.files if k.startswith("d_optimizer/"))[-1]])
        assert int(model.step_counter.numpy()) == int(saved["step_counter/0000"]) == 12
    result = train(cfg, verbose=0)
    assert (result.step, result.epoch) == (18, 3)  # one more epoch of 6 steps
    latest = checkpoints.latest_checkpoint(run)
    assert latest.name == "latest_00000018" and (latest / "state.npz").is_file()
    # the two newest full states are kept: the new one, and the one before to fall back to
    assert sorted(p.name for p in (run / "checkpoints").glob("latest_*")) == ["latest_00000012", "latest_00000018"]
    image = load_image(run / "input_45x37.png")
    assert load_translator(run, "AtoB")(image).shape == (37, 45, 3)


def test_checkpoints_are_keyed_by_name(demo_run):
    latest = checkpoints.latest_checkpoint(demo_run.run_dir)
    with np.load(latest / "state.npz") as saved:
        keys = set(saved.files)
        assert {"G_AB/stem_conv/kernel", "G_BA/block6_conv2/bias", "D_B/logits/kernel", "pool_A/pool_A/images",
                "pool_B/pool_B/count", "step_counter/step_counter", "g_optimizer/g_adam/iteration",
                "g_optimizer/g_adam/G_AB_stem_conv_kernel_momentum",
                "d_optimizer/d_adam/D_A_conv0_kernel_velocity"} <= keys
        np.testing.assert_array_equal(saved["G_AB/stem_conv/kernel"], demo_run.model.G_AB.get_layer("stem_conv")
                                      .kernel.numpy())
        assert int(saved["step_counter/step_counter"]) == 400


def test_a_new_runs_keras_generator_opens_in_plain_keras_and_matches_translate(demo_run, tmp_path):
    latest = checkpoints.latest_checkpoint(demo_run.run_dir)
    image = load_image(sorted((demo_run.dataroot / "testA").iterdir())[0])[:48]  # 48 x 64: no padding needed
    np.save(tmp_path / "image.npy", image)
    # A fresh process that imports cyclegan_tf before Keras, and nothing else of ours.
    code = f"""
import cyclegan_tf, keras, numpy as np
model = keras.saving.load_model({str(latest / "G_AB.keras")!r})
x = np.load({str(tmp_path / "image.npy")!r}).astype("float32") / 127.5 - 1
y = np.asarray(model(x[None], training=False))[0]
np.save({str(tmp_path / "out.npy")!r}, np.clip(np.round((y + 1) * 127.5), 0, 255).astype("uint8"))
print(model.name, model.dtype_policy.name)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["G_AB", "float32"]
    expected = load_translator(demo_run.run_dir, "AtoB")(image)
    assert np.abs(np.load(tmp_path / "out.npy").astype(int) - expected.astype(int)).max() <= 1


def test_a_mixed_precision_run_saves_float32_generators(tmp_path):
    import keras

    cfg = tiny_config(mixed_precision="bf16", checkpoints_dir=str(tmp_path), name="bf16")
    model = CycleGAN.build(cfg, 6, (32, 32))
    assert model.G_AB.get_layer("stem_conv").dtype_policy.name == "mixed_bfloat16"
    saved = checkpoints.save_checkpoint(model, cfg.run_dir, "epoch_001", 6, 1, cfg, training_state=False)
    loaded = keras.saving.load_model(saved / "G_BA.keras")
    assert loaded.get_layer("stem_conv").dtype_policy.name == "float32"
    for mine, theirs in zip(loaded.weights, model.G_BA.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert json.loads((saved / "state.json").read_text())["groups"] == ["G_AB", "G_BA", "D_A", "D_B"]


def test_restore_names_what_does_not_fit(tmp_path):
    cfg = tiny_config(checkpoints_dir=str(tmp_path), name="small")
    model = CycleGAN.build(cfg, 6, (32, 32))
    saved = checkpoints.save_checkpoint(model, cfg.run_dir, "latest_00000000", 0, 0, cfg, training_state=True)
    wider = CycleGAN.build(tiny_config(ngf=8), 6, (32, 32))
    with pytest.raises(UserError, match=r"does not fit this model: of another shape \(\d+\): G_AB/stem_conv/kernel"):
        checkpoints.restore(saved, checkpoints.parts_of(wider, ("G_AB",)))
    deeper = CycleGAN.build(tiny_config(netG="resnet_9blocks"), 6, (32, 32))
    with pytest.raises(UserError, match=r"missing \(\d+\): G_BA/block7_"):
        checkpoints.restore(saved, checkpoints.parts_of(deeper, ("G_BA",)))
    same = CycleGAN.build(cfg, 6, (32, 32))
    checkpoints.restore(saved, checkpoints.parts_of(same, checkpoints.all_groups(same)))
    for mine, theirs in zip(same.D_A.weights, model.D_A.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
