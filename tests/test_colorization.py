"""Colorization: training on the embedded set where colour follows shape raises the colour accuracy from the
untrained network's; the reference's mini_colorization (from a local mirror) trains; a grey photo of any size
comes out in colour at its size, through translate, evaluate and every export format."""

from __future__ import annotations

import io
import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cyclegan_tf.cli.main import main
from cyclegan_tf.config import make_config
from cyclegan_tf.data import colorization_demo
from cyclegan_tf.data.images import grey_of_lightness
from cyclegan_tf.data.registry import MIRROR_ENV, resolve_dataroot
from cyclegan_tf.evaluation.exact import colorization_score
from cyclegan_tf.inference.translator import Translator, load_translator
from cyclegan_tf.models.registry import build_generator, translation_network
from cyclegan_tf.nn.color import normalize_lab, rgb_to_lab
from cyclegan_tf.runs.checkpoints import latest_checkpoint
from cyclegan_tf.training.trainer import train
from tests.test_deploy import runtime
from tests.test_download import make_zip, server  # noqa: F401 - the local file server fixture


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory, data_dir):
    """Colorization on colorization_demo with its preset (U-Net-64, ngf 16), 2 epochs of 200 steps."""
    cfg = make_config(dict(model="colorization", dataset=colorization_demo.NAME, data_dir=str(data_dir),
                           checkpoints_dir=str(tmp_path_factory.mktemp("colour")), n_epochs=1, n_epochs_decay=1))
    return cfg, train(cfg, verbose=0)


def test_training_raises_colour_accuracy(colour_run):
    cfg, result = colour_run
    root = resolve_dataroot(cfg)
    keras.utils.set_random_seed(0)
    untrained = colorization_score(Translator(translation_network(cfg, build_generator(cfg)), cfg.netG), root)
    trained = colorization_score(load_translator(result.run_dir), root)
    print(f"colour accuracy: untrained {untrained:.1f}%, trained {trained:.1f}%")
    assert untrained < 15 and trained > untrained + 25, (untrained, trained)
    l1 = np.loadtxt(result.run_dir / "loss_log.csv", delimiter=",", skiprows=1, usecols=(3,))
    assert l1[-1] < l1[0]  # G_L1 falls


def test_the_network_maps_lightness_to_ab_and_the_translation_keeps_lightness(colour_run):
    cfg, result = colour_run
    generator = result.model.G_AB
    assert generator.input_shape[-1] == 1 and generator.output_shape[-1] == 2  # the reference's netG: L -> ab
    assert result.model.D.input_shape[-1] == 3  # (L, ab)
    target = np.asarray(Image.open(sorted((resolve_dataroot(cfg) / "test").iterdir())[0]).convert("RGB"))
    grey = grey_of_lightness(target)
    colour = load_translator(result.run_dir)(grey)
    lightness = lambda image: normalize_lab(rgb_to_lab(image[None].astype(np.float32) / 127.5 - 1))[0]
    # out-of-gamut clipping may move L a little; on the ground and the shapes it stays within 2 L units
    assert np.median(np.abs(np.asarray(lightness(colour)) - np.asarray(lightness(target)))) * 50 < 2


def test_a_grey_photo_of_any_size_comes_out_in_colour(colour_run, tmp_path):
    cfg, result = colour_run
    photo = tmp_path / "grey.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (37, 45), dtype=np.uint8), "L").save(photo)
    out = CliRunner().invoke(main, ["translate", str(photo), "--name", cfg.name, "--checkpoints-dir",
                                    cfg.checkpoints_dir, "-o", str(tmp_path / "out")])
    assert out.exit_code == 0, out.output
    image = Image.open(tmp_path / "out" / "grey.png")
    assert image.mode == "RGB" and image.size == (45, 37)
    # the checkpoint's G_AB.keras is the whole colorizer: grey in, RGB out, as translate
    colorizer = keras.saving.load_model(latest_checkpoint(result.run_dir) / "G_AB.keras")
    grey = np.asarray(Image.open(photo).resize((64, 64)))[..., None]
    raw = np.asarray(colorizer(grey[None].astype(np.float32) / 127.5 - 1))[0]
    expected = load_translator(result.run_dir)(grey)
    assert np.abs(np.round((raw + 1) * 127.5) - expected).max() <= 1


def test_evaluate_reports_the_colour_accuracy_and_target_scores(colour_run):
    cfg, _ = colour_run
    out = CliRunner().invoke(main, ["evaluate", "--name", cfg.name, "--checkpoints-dir", cfg.checkpoints_dir,
                                    "--no-fid"])
    assert out.exit_code == 0, out.output
    saved = json.loads(sorted((cfg.run_dir / "eval").glob("epoch_*.json"))[-1].read_text())
    scores = saved["directions"]["AtoB"]
    assert scores["colour_accuracy"] > 25 and scores["target_psnr"] > 15 and scores["images"] == 30
    assert "colour accuracy" in out.output


@pytest.mark.parametrize("fmt", ["keras", "onnx", "litert"])
def test_exported_colorizer_equals_translate(colour_run, tmp_path, fmt):
    cfg, result = colour_run
    out = CliRunner().invoke(main, ["export", "--name", cfg.name, "--checkpoints-dir", cfg.checkpoints_dir,
                                    "--format", fmt, "-o", str(tmp_path / "colour")])
    assert out.exit_code == 0, out.output
    path = next(p for p in tmp_path.iterdir() if not p.name.endswith(".json"))
    info = json.loads(path.with_name(path.name + ".json").read_text())
    assert (info["channels"], info["output_channels"], info["size_multiple"]) == (1, 3, 64)
    grey = np.random.default_rng(1).integers(0, 256, (1, 45, 37, 1), dtype=np.uint8)
    got = runtime(fmt, path)(grey)
    expected = load_translator(result.run_dir)(grey[0])
    assert got.shape == (1, 45, 37, 3) and np.abs(got[0].astype(int) - expected.astype(int)).max() <= 1


def test_mini_colorization_from_the_mirror_trains(server, monkeypatch, tmp_path):  # noqa: F811
    rng = np.random.default_rng(0)
    files = {}
    for split in ("train", "test"):
        for i in range(3):
            classes = colorization_demo.shapes_map(rng, 64)
            image = Image.fromarray(colorization_demo.render(classes, rng))
            buffer = io.BytesIO()
            image.save(buffer, "JPEG")
            files[f"mini_colorization/{split}/{i}.jpg"] = buffer.getvalue()
    server.files["/cyclegan/datasets/mini_colorization.zip"] = make_zip(files)
    monkeypatch.setenv(MIRROR_ENV, server.base)
    out = CliRunner().invoke(main, ["train", "--model", "colorization", "--dataset", "mini_colorization",
                                    "--data-dir", str(tmp_path / "data"), "--checkpoints-dir", str(tmp_path / "runs"),
                                    "--netG", "unet_64", "--ngf", "4", "--ndf", "4", "--load-size", "72",
                                    "--crop-size", "64", "--n-epochs", "1", "--n-epochs-decay", "0"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "data" / "mini_colorization" / "train").is_dir()
    assert (tmp_path / "runs" / "mini_colorization" / "checkpoints" / "LATEST").is_file()
    log = (tmp_path / "runs" / "mini_colorization" / "loss_log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,step,G_GAN,G_L1,D") and log[-1].split(",")[1] == "3"


def test_export_torch_writes_the_references_colorization_netG(colour_run, tmp_path):
    """`export --format torch` of a colorization run: the network proper (L -> ab), loadable with strict keys into
    the reference's U-Net of 1 input and 2 output channels, and computing what ours does."""
    import sys
    from pathlib import Path

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import torch_reference as ref

    cfg, result = colour_run
    out = CliRunner().invoke(main, ["export", "--name", cfg.name, "--checkpoints-dir", cfg.checkpoints_dir,
                                    "--format", "torch", "-o", str(tmp_path)])
    assert out.exit_code == 0, out.output
    theirs = ref.UnetGenerator(input_nc=1, output_nc=2, num_downs=6, ngf=16).eval()
    state = torch.load(tmp_path / "latest_net_G.pth", weights_only=True)
    theirs.load_state_dict(state, strict=True)
    lightness = np.random.default_rng(2).uniform(-1, 1, (1, 64, 64, 1)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(lightness.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    ours = np.asarray(result.model.G_AB(lightness, training=False))
    assert np.abs(ours - expected).max() < 1e-4
