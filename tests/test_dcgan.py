"""DCGAN: parameter counts against hand counts, training lowers FID from the untrained generator (with and
without DiffAugment, on 100 images), seeded `generate`, `evaluate`, export parity, exact resume, one-line errors."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from PIL import Image

from cyclegan_tf.cli.main import main
from cyclegan_tf.config import make_config
from cyclegan_tf.data.registry import resolve_dataroot
from cyclegan_tf.errors import UserError
from cyclegan_tf.evaluation import evaluate, features
from cyclegan_tf.inference.sampler import Sampler, load_sampler
from cyclegan_tf.models.registry import build_generator
from cyclegan_tf.nn.networks import count_trainable_parameters, dcgan_discriminator, dcgan_generator
from cyclegan_tf.runs.checkpoints import open_checkpoint
from cyclegan_tf.runs.report import GAP
from cyclegan_tf.training.trainer import train
from tests.test_deploy import runtime
from tests.test_evaluate import tiny_extractor


def hand_count(size: int, nz: int, channels: int, ngf: int, ndf: int) -> tuple[int, int]:
    """(G, D) trainable parameters of the DCGAN with batch norm (no conv biases; a gamma and beta per channel)."""
    levels = size.bit_length() - 3
    widths = [ngf * 2 ** (levels - 1 - i) for i in range(levels)]  # G: 4x4 map ... last hidden layer
    g = nz * widths[0] * 16 + 2 * widths[0]
    g += sum(a * b * 16 + 2 * b for a, b in zip(widths, widths[1:], strict=False))
    g += widths[-1] * channels * 16
    d_widths = [ndf * 2**i for i in range(levels)]
    d = channels * ndf * 16 + sum(a * b * 16 + 2 * b for a, b in zip(d_widths, d_widths[1:], strict=False))
    d += d_widths[-1] * 16
    return g, d


@pytest.mark.parametrize("size, nz, channels, ngf, ndf", [(64, 100, 3, 64, 64), (32, 16, 1, 8, 4), (128, 64, 3, 16, 8)])
def test_parameter_counts_equal_hand_counts(size, nz, channels, ngf, ndf):
    g = dcgan_generator(size, nz, channels, ngf)
    d = dcgan_discriminator(size, channels, ndf)
    assert (count_trainable_parameters(g), count_trainable_parameters(d)) == hand_count(size, nz, channels, ngf, ndf)
    assert g.output_shape == (None, size, size, channels) and d.output_shape == (None, 1, 1, 1)
    if size == 64:  # the PyTorch DCGAN example's printed counts
        assert hand_count(64, 100, 3, 64, 64) == (3_576_704, 2_765_568)


def config(tmp_path, data_dir, name: str, **options):
    values = dict(model="dcgan", dataset="demo", data_dir=str(data_dir), name=name, checkpoints_dir=str(tmp_path),
                  crop_size=32, ngf=16, ndf=16, batch_size=16, n_epochs=30, n_epochs_decay=0, lr=2e-4,
                  max_dataset_size=100, seed=0, save_epoch_freq=1000)
    return make_config({**values, **options})


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    """Two DCGANs on the same 100 demo images (210 steps each): plain, and with DiffAugment."""
    out = tmp_path_factory.mktemp("dcgan")
    return {augment: train(config(out, data_dir, f"dc_{augment}", augment=augment), verbose=0)
            for augment in ("none", "diffaugment")}


@pytest.fixture(scope="module")
def extractor(tmp_path_factory):
    return features.load_feature_extractor(tiny_extractor(tmp_path_factory.mktemp("features") / "tiny.keras"))


def test_training_lowers_fid_from_the_untrained_generator(runs, extractor, tmp_path, data_dir, capsys):
    cfg = config(tmp_path, data_dir, "untrained")
    root = resolve_dataroot(cfg)
    keras.utils.set_random_seed(0)
    untrained = evaluate.score_generation(Sampler(build_generator(cfg)), cfg, root, extractor).fid
    trained = {augment: evaluate.score_generation(Sampler(result.model.G), cfg, root, extractor).fid
               for augment, result in runs.items()}
    with capsys.disabled():
        print(f"\nDCGAN FID (tiny features, 100 demo images): untrained {untrained:.3f}, trained {trained}")
    for augment, value in trained.items():
        assert value < 0.5 * untrained, (augment, value, untrained)
    # DiffAugment on 100 images: 0.047 against 0.143 here (`make bench-augment`, 3 seeds of 60 epochs: 0.0048 +-
    # 0.0028 against 0.063 +- 0.007, lower in every seed), so it is asserted
    assert trained["diffaugment"] < trained["none"]
    losses = np.loadtxt(runs["none"].run_dir / "loss_log.csv", delimiter=",", skiprows=1, usecols=(2, 3))
    assert np.isfinite(losses).all() and len(losses) >= 2


def test_generate_is_seeded_and_writes_a_grid(runs, tmp_path):
    run = runs["none"].run_dir

    def generate(seed, folder, *extra):
        out = CliRunner().invoke(main, ["generate", "--name", run.name, "--checkpoints-dir", str(run.parent), "-n",
                                        "5", "--seed", str(seed), "-o", str(tmp_path / folder), *extra])
        assert out.exit_code == 0, out.output
        return [np.asarray(Image.open(tmp_path / folder / f"generated_{i:05d}.png")) for i in range(5)]

    first, again, other = generate(3, "a", "--grid"), generate(3, "b"), generate(4, "c")
    assert all(x.shape == (32, 32, 3) for x in first)
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert not any(np.array_equal(x, y) for x, y in zip(first, other, strict=True))
    grid = np.asarray(Image.open(tmp_path / "a" / "grid.png"))
    assert grid.shape[:2] == (2 * 32 + GAP, 3 * 32 + 2 * GAP)  # 5 images: 2 rows of 3 columns
    np.testing.assert_array_equal(load_sampler(run).sample(5, 3), np.stack(first))


def test_evaluate_scores_generation_against_the_training_images(runs, tmp_path):
    runs_dir = str(runs["none"].run_dir.parent)
    out = CliRunner().invoke(main, ["evaluate", "--name", "dc_none", "--checkpoints-dir", runs_dir,
                                    "--feature-extractor", str(tiny_extractor(tmp_path / "tiny.keras"))])
    assert out.exit_code == 0, out.output
    assert "generated" in out.output and "100 (train)" in out.output
    saved = json.loads(next((runs["none"].run_dir / "eval").glob("epoch_*.json")).read_text())
    assert saved["directions"]["generated"]["fid"] > 0 and saved["directions"]["generated"]["kid"] is not None


@pytest.mark.parametrize("fmt", ["keras", "onnx", "litert"])
def test_export_generates_what_generate_does(runs, tmp_path, fmt):
    run = runs["none"].run_dir
    out = CliRunner().invoke(main, ["export", "--name", run.name, "--checkpoints-dir", str(run.parent), "--format",
                                    fmt, "-o", str(tmp_path / "dc")])
    assert out.exit_code == 0, out.output
    path = next(p for p in tmp_path.iterdir() if not p.name.endswith(".json"))
    info = json.loads(path.with_name(path.name + ".json").read_text())
    assert info["direction"] == "generated" and info["channels"] == 100 and info["size_multiple"] == 32
    z = np.random.default_rng(1).standard_normal((3, 100)).astype(np.float32)
    got = runtime(fmt, path)(z)
    expected = load_sampler(run).from_noise(z)
    assert got.dtype == np.uint8 and got.shape == (3, 32, 32, 3)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_resume_continues_and_noise_follows_the_step(tmp_path, data_dir):
    """A resumed run goes on from its step; its noise is a function of (seed, step), so it draws what the
    uninterrupted run would have at that step."""
    small = dict(crop_size=16, ngf=4, ndf=4, batch_size=8, max_dataset_size=16, augment="diffaugment", n_epochs=1,
                 lr_policy="plateau")
    first = train(config(tmp_path, data_dir, "resumed", **small), verbose=0)
    resumed = train(config(tmp_path, data_dir, "resumed", **{**small, "n_epochs": 2, "continue_train": True}),
                    verbose=0)
    assert (first.step, resumed.step) == (2, 4)
    # training health reads what a model from noise has: its outputs' spread, its discriminator (no input to copy)
    assert {k for k in resumed.history if k.startswith("health_")} == {"health_spread", "health_D", "health_G_gan"}
    assert np.isfinite(float(resumed.model.lr_plateau.best.numpy()))  # stepped each epoch, resumed with the run
    rows = np.loadtxt(resumed.run_dir / "loss_log.csv", delimiter=",", skiprows=1, usecols=(1,), ndmin=1)
    assert list(rows) == [2, 4]  # one row per epoch, none lost or doubled
    model = resumed.model
    model.step_counter.assign(1)
    at_one = model.noise(8).numpy()
    np.testing.assert_array_equal(at_one, model.noise(8).numpy())
    assert not np.allclose(at_one, model.noise(8, stream=1).numpy())
    model.step_counter.assign(2)
    assert not np.allclose(at_one, model.noise(8).numpy())
    augmented = model.augmented(tf.ones((2, 16, 16, 3)), 1)
    assert augmented.shape == (2, 16, 16, 3) and not np.allclose(augmented.numpy(), 1.0)


def test_translating_with_a_dcgan_and_generating_with_a_translator_are_one_line_errors(runs, demo_run, tmp_path):
    run = runs["none"].run_dir
    image = tmp_path / "x.png"
    Image.new("RGB", (20, 20)).save(image)
    out = CliRunner().invoke(main, ["translate", str(image), "--name", run.name, "--checkpoints-dir", str(run.parent)])
    assert out.exit_code == 1 and "cyclegan-tf generate" in out.output and "Traceback" not in out.output
    out = CliRunner().invoke(main, ["generate", "--name", "demo", "--checkpoints-dir", str(demo_run.run_dir.parent)])
    assert out.exit_code == 1 and "translates images" in out.output
    with open_checkpoint(run) as opened:
        assert opened.config.model == "dcgan"
    with pytest.raises(UserError, match="power-of-two"):
        config(tmp_path, None, "bad", crop_size=48).validate()
    with pytest.raises(UserError, match="option of --model dcgan"):
        make_config(dict(dataset="demo", augment="flip-crop")).validate()


MIRRORED = """
import json, sys
import tensorflow as tf
(cpu,) = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from cyclegan_tf.config import make_config
from cyclegan_tf.training.trainer import train
cfg = make_config(dict(model="dcgan", dataset="demo", data_dir=sys.argv[1], checkpoints_dir=sys.argv[2], crop_size=16,
                       ngf=4, ndf=4, max_dataset_size=8, batch_size=4, n_epochs=2, n_epochs_decay=0,
                       augment="diffaugment", strategy="mirrored", seed=0))
result = train(cfg, verbose=0)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    z = strategy.run(lambda: result.model.noise(2))
first, second = (np.asarray(v) for v in strategy.experimental_local_results(z))
print(json.dumps({"step": result.step, "replicas": cfg.replicas, "same_noise": bool(np.allclose(first, second)),
                  "finite": all(np.isfinite(v).all() for v in result.history.values())}))
"""


def test_two_replicas_train_and_draw_their_own_noise(tmp_path, data_dir):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", MIRRORED, str(data_dir), str(tmp_path)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"step": 4, "replicas": 2, "same_noise": False, "finite": True}


def test_one_folder_datasets_are_found_in_train_trainA_or_the_folder_itself(tmp_path):
    from cyclegan_tf.data.splits import single_folder, single_test_folder

    def put(folder):
        folder.mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(folder / "a.png")
        return folder

    plain, split, first_domain = put(tmp_path / "plain"), put(tmp_path / "s" / "train"), put(tmp_path / "u" / "trainA")
    put(tmp_path / "s" / "test")
    assert single_folder(plain) == plain and single_folder(tmp_path / "s") == split
    assert single_folder(tmp_path / "u") == first_domain
    assert single_test_folder(tmp_path / "s") == (tmp_path / "s" / "test", "test")
    assert single_test_folder(plain) == (plain, "train")  # no held-out images: the training ones, with a warning
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images in"):
        single_folder(tmp_path / "empty")
