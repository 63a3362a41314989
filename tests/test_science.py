"""Scientific images (`data.scientific`): N bands, 16-bit and float in and out, TIFF and .npy, the value range
resolved once and stored in the run, the one translate uses."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest
import tifffile
from PIL import Image

from cyclegan_tf.data import scientific
from cyclegan_tf.data.images import check_image, load_image
from cyclegan_tf.data.scientific import ValueRange, encode_file, read_bands, resolve_range
from cyclegan_tf.errors import UserError


def _tiff(path, values):
    tifffile.imwrite(path, values, photometric="minisblack", planarconfig="contig")


def _four_band_set(root, count=4, size=32, test=2):
    """Unpaired 4-band uint16 TIFFs: A bright bands left, B right; values over the whole 16-bit scale."""
    rng = np.random.default_rng(0)
    for split, n in (("train", count), ("test", test)):
        for domain in "AB":
            folder = root / f"{split}{domain}"
            folder.mkdir(parents=True)
            for i in range(n):
                values = rng.integers(0, 65536, (size, size, 4), dtype=np.uint16)
                values[:, : size // 2] //= 4 if domain == "A" else 1
                _tiff(folder / f"{i}.tif", values)


def _float_pairs(root, count=4, size=32, test=2):
    """A|B pairs of one-band float32 .npy arrays (H, 2W), values in about [-3, 40] with outliers."""
    rng = np.random.default_rng(1)
    for split, n in (("train", count), ("test", test)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            a = rng.normal(10.0, 5.0, (size, size)).astype(np.float32)
            a[0, 0] = 1000.0  # an outlier the percentiles leave out
            np.save(root / split / f"{i}.npy", np.concatenate([a, a * 2.0 - 3.0], axis=1))


def test_reading_keeps_every_level_and_band(tmp_path):
    levels = np.array([[0, 1, 257, 65535]], np.uint16)
    Image.fromarray(levels).save(tmp_path / "grey16.png")
    bands = np.arange(2 * 3 * 5, dtype=np.uint16).reshape(2, 3, 5) * 2000
    _tiff(tmp_path / "five.tif", bands)
    np.save(tmp_path / "depth.npy", np.array([[0.25, -1.5]], np.float32))

    png = read_bands(tmp_path / "grey16.png")
    assert png.dtype == np.uint16 and png.shape == (1, 4, 1) and png[..., 0].tolist() == [[0, 1, 257, 65535]]
    tif = read_bands(tmp_path / "five.tif")
    assert tif.dtype == np.uint16 and tif.shape == (2, 3, 5) and np.array_equal(tif, bands)
    npy = read_bands(tmp_path / "depth.npy")
    assert npy.dtype == np.float32 and npy.shape == (1, 2, 1) and npy[0, :, 0].tolist() == [0.25, -1.5]
    # the trainer's check: Pillow cannot read these two; they are readable, with their bands
    assert [(c.ok, c.channels) for c in map(check_image, [tmp_path / "five.tif", tmp_path / "depth.npy"])] == [
        (True, 5), (True, 1)]
    # the 8-bit path is as before: 16-bit scaled to 8 bits
    assert load_image(tmp_path / "grey16.png", 1)[..., 0].tolist() == [[0, 0, 1, 255]]


def test_a_tiff_without_tifffile_names_the_extra(tmp_path, monkeypatch):
    _tiff(tmp_path / "four.tif", np.zeros((4, 4, 4), np.uint16))
    monkeypatch.setitem(sys.modules, "tifffile", None)
    with pytest.raises(UserError, match=r"pip install 'cyclegan-tf\[tiff\]'"):
        read_bands(tmp_path / "four.tif")
    assert "cyclegan-tf[tiff]" in check_image(tmp_path / "four.tif").error


def test_value_ranges(tmp_path):
    _four_band_set(tmp_path, count=2, test=0)
    paths = sorted((tmp_path / "trainA").iterdir())
    assert resolve_range(paths, 4, "auto") == ValueRange(0.0, 65535.0, "16", "auto")
    assert resolve_range(paths, 4, "100,30000") == ValueRange(100.0, 30000.0, "16", "100,30000")
    p = resolve_range(paths, 4, "p1,p99")
    values = np.concatenate([read_bands(path).reshape(-1) for path in paths]).astype(np.float64)
    assert (p.low, p.high) == pytest.approx(tuple(np.percentile(values, [1, 99])), rel=1e-12)
    for bad in ("p5", "10,3", "p1,p101", "x,y"):
        with pytest.raises(UserError, match="--value-range"):
            scientific.parse_range(bad)
    with pytest.raises(UserError, match="4 bands, but the run takes 3"):
        resolve_range(paths, 3, "auto")
    # writing at a depth: 16-bit levels as they are, 8-bit stretched, float unrounded
    scale = ValueRange(0.0, 65535.0, "16")
    assert scale.encode(np.array([0.4, 257.0, 65535.0])).tolist() == [0, 257, 65535]
    assert scale.encode(np.array([0.0, 257.0, 65535.0]), "8").tolist() == [0, 1, 255]
    assert scale.encode(np.array([0.4]), "float").dtype == np.float32


def test_inspect_reports_depth_bands_and_values_and_resize_keeps_them(tmp_path):
    from cyclegan_tf.data.tools import format_report, inspect_dataset, resize_images

    root = tmp_path / "bands"
    _four_band_set(root, count=2, test=1)
    Image.fromarray(np.array([[300, 60000]] * 2, np.uint16)).save(root / "testB" / "grey16.png")
    lines = format_report(inspect_dataset(root, crop_size=16))
    values = np.stack([read_bands(p) for p in sorted((root / "trainA").iterdir())])
    assert f"  trainA   16-bit, 4 bands, values {values.min():g}..{values.max():g}" in lines
    test_b = read_bands(root / "testB" / "0.tif")
    low, high = min(test_b.min(), 300), max(test_b.max(), 60000)
    assert f"  testB    16-bit, mixed bands, values {low:g}..{high:g}" in lines
    result = resize_images(root, tmp_path / "small", 16)
    assert not result.failed and len(result.written) == 7
    small = read_bands(tmp_path / "small" / "trainA" / "0.tif")
    assert small.dtype == np.uint16 and small.shape == (16, 16, 4) and small.max() > 255
    grey = read_bands(tmp_path / "small" / "testB" / "grey16.png")
    assert grey.dtype == np.uint16 and grey.shape == (16, 16, 1) and grey.max() > 255


def test_a_16_bit_image_survives_the_inference_graphs_scaling(tmp_path):
    """An identity generator in the translation graph (pad, scale, crop, unscale): within float32 precision."""
    import keras

    from cyclegan_tf.inference.graph import image_translator

    inputs = keras.Input((None, None, 4))
    identity = keras.Model(inputs, keras.layers.Identity()(inputs))
    graph = image_translator(identity, "resnet_9blocks", in_range=(0.0, 65535.0), out_range=(0.0, 65535.0))
    levels = np.random.default_rng(2).integers(0, 65536, (1, 37, 45, 4), dtype=np.uint16)
    levels[0, 0, 0] = [0, 1, 65534, 65535]
    out = np.asarray(graph(levels.astype(np.float32)))
    error = np.abs(out.astype(np.float64) - levels)
    # float32 carries 24 bits: x / 32767.5 - 1 and back stays within one float32 step at 65535 (2^-8 levels;
    # 2^-10 measured over all 65,536 levels)
    assert out.dtype == np.float32 and out.shape == levels.shape and error.max() <= 2.0**-8
    written = encode_file(ValueRange(0.0, 65535.0, "16").encode(out[0]), ".tif")
    (tmp_path / "out.tif").write_bytes(written)
    assert np.array_equal(read_bands(tmp_path / "out.tif"), levels[0])  # every level back, after rounding


def _train(cfg_options):
    from cyclegan_tf.config import make_config
    from cyclegan_tf.training.trainer import train

    options = dict(netG="resnet_2blocks", ngf=4, ndf=4, n_layers_D=1, netD="n_layers", load_size=32, crop_size=32,
                   n_epochs=1, n_epochs_decay=0, epoch_size=2, n_samples=1, seed=0, pool_size=0)
    return train(make_config({**options, **cfg_options}), verbose=0)


@pytest.fixture(scope="module")
def bands_run(tmp_path_factory):
    """A CycleGAN trained (2 steps) on unpaired 4-band 16-bit TIFFs; B scaled by its 2nd..98th percentiles."""
    root = tmp_path_factory.mktemp("bands")
    _four_band_set(root)
    return root, _train(dict(dataroot=str(root), name="four", checkpoints_dir=str(tmp_path_factory.mktemp("runs")),
                             input_nc=4, output_nc=4, value_range_B="p2,p98"))


def test_four_band_16_bit_tiffs_train_and_translate_at_their_depth(bands_run, tmp_path):
    from cyclegan_tf.inference.translator import load_translator, translate_files

    root, result = bands_run
    stored = json.loads((result.run_dir / "config.json").read_text())
    assert stored["scaling_A"] == {"low": 0.0, "high": 65535.0, "depth": "16", "spec": "auto"}
    values_b = np.concatenate([read_bands(p).reshape(-1) for p in sorted((root / "trainB").iterdir())])
    assert (stored["scaling_B"]["low"], stored["scaling_B"]["high"]) == pytest.approx(
        tuple(np.percentile(values_b.astype(np.float64), [2, 98])))

    translator = load_translator(result.run_dir, "AtoB")
    assert [s.to_dict() for s in translator.scales] == [stored["scaling_A"], stored["scaling_B"]]
    assert translator.model.in_range == (0.0, 65535.0)
    assert translator.model.out_range == (stored["scaling_B"]["low"], stored["scaling_B"]["high"])
    written = translate_files(translator, sorted((root / "testA").iterdir()), tmp_path / "out")
    assert [p.suffix for p in written] == [".tif", ".tif"]
    out = read_bands(written[0])
    assert out.dtype == np.uint16 and out.shape == (32, 32, 4)
    assert stored["scaling_B"]["low"] - 1 <= out.min() and out.max() <= stored["scaling_B"]["high"] + 1
    floats = translate_files(translator, written[:1], tmp_path / "float", depth="float")
    assert read_bands(floats[0]).dtype == np.float32 and floats[0].suffix == ".tif"
    # the sample grid of the epoch: 4-band images drawn as false colour (bands 1-3), three 32 px panels a row
    grids = list((result.run_dir / "samples").glob("*.png"))
    assert grids and np.asarray(Image.open(grids[0])).shape[-1] == 3
    # tiles: a 100 x 72 image in 64 px tiles comes back at the depth and bands of the whole one
    big = np.random.default_rng(5).integers(0, 65536, (100, 72, 4)).astype(np.float32)
    tiled = load_translator(result.run_dir, "AtoB", tile=64)(big)
    assert tiled.dtype == np.float32 and tiled.shape == (100, 72, 4)
    assert stored["scaling_B"]["low"] <= tiled.min() and tiled.max() <= stored["scaling_B"]["high"]


def test_translate_command_writes_the_depth_asked(bands_run, tmp_path):
    from click.testing import CliRunner

    from cyclegan_tf.cli.main import main

    root, result = bands_run
    for depth, suffix, dtype in (("8", ".tif", np.uint8), ("16", ".tif", np.uint16), ("float", ".tif", np.float32)):
        out = tmp_path / depth
        run = CliRunner().invoke(main, ["translate", str(root / "testB"), "--checkpoint", str(result.run_dir),
                                        "--direction", "BtoA", "--output-depth", depth, "-o", str(out)])
        assert run.exit_code == 0, run.output
        files = sorted(out.iterdir())
        assert [p.suffix for p in files] == [suffix] * 2
        values = read_bands(files[0])
        assert values.dtype == dtype and values.shape == (32, 32, 4)
    run = CliRunner().invoke(main, ["translate", str(root / "testB" / "0.tif"), "--checkpoint", str(result.run_dir),
                                    "--direction", "BtoA", "--grid", "-o", str(tmp_path / "grid")])
    assert run.exit_code == 0, run.output
    grid = np.asarray(Image.open(tmp_path / "grid" / "0.png"))  # input | output, bands 1-3 as 8-bit colour
    assert grid.dtype == np.uint8 and grid.shape[0] == 32 and grid.shape[2] == 3 and grid.shape[1] > 64


def test_cut_trains_on_four_bands(tmp_path):
    from cyclegan_tf.inference.translator import load_translator

    root = tmp_path / "bands"
    _four_band_set(root, count=2, test=1)
    result = _train(dict(dataroot=str(root), model="cut", name="cut4", checkpoints_dir=str(tmp_path / "runs"),
                         input_nc=4, output_nc=4, netG="resnet_9blocks", netF_nc=8, num_patches=16))
    out = load_translator(result.run_dir)(read_bands(root / "testA" / "0.tif").astype(np.float32))
    assert out.dtype == np.float32 and out.shape == (32, 32, 4) and 0 <= out.min() and out.max() <= 65535


def test_four_band_run_evaluates(bands_run, tmp_path):
    from cyclegan_tf.evaluation.evaluate import evaluate_run
    from cyclegan_tf.evaluation.features import save_random_extractor

    extractor = save_random_extractor(tmp_path / "features.keras", 32, (8, 16), 0)
    evaluation = evaluate_run(bands_run[1].run_dir, feature_extractor=str(extractor), save=False)
    assert set(evaluation.directions) == {"AtoB", "BtoA"}
    for metrics in evaluation.directions.values():  # FID of the false-colour views; cycle scores over all 4 bands
        assert metrics.images == 2 and metrics.fid is not None and np.isfinite(metrics.fid)
        assert 0 < metrics.cycle_l1 < 2 and 0 < metrics.cycle_psnr < 100


def test_four_band_run_exports_and_serves_16_bit(bands_run, tmp_path):
    import urllib.request

    import keras
    import onnxruntime

    from cyclegan_tf.deploy.export import export_model
    from cyclegan_tf.deploy.server import ServerLimits, make_app, start_in_thread
    from cyclegan_tf.inference.translator import load_generators, load_translator, translators_of
    from cyclegan_tf.runs.checkpoints import open_checkpoint

    root, result = bands_run
    translate = load_translator(result.run_dir, "AtoB")
    image = read_bands(root / "testA" / "0.tif").astype(np.float32)
    expected = translate(image)
    with open_checkpoint(result.run_dir) as opened:
        path, info = export_model(opened, "keras", tmp_path / "four", "AtoB")
        onnx_path, _ = export_model(opened, "onnx", tmp_path / "four", "AtoB")
        translators = translators_of(load_generators(opened), opened.config.netG, config=opened.config)
    assert info.input.startswith("float32 values 0..65535 (N, H, W, 4) in") and info.output_channels == 4
    assert np.allclose(np.asarray(keras.saving.load_model(path)(image[None]))[0], expected, atol=0.05)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {session.get_inputs()[0].name: image[None]})[0][0]
    assert np.abs(onnx_out - expected).max() <= 1.0  # levels of 65535: float32 kernels of another runtime

    running = start_in_thread(make_app(translators, ServerLimits(max_pixels=1_000_000, timeout=30.0)))
    try:
        request = urllib.request.Request(f"{running.url}/translate", data=(root / "testA" / "0.tif").read_bytes(),
                                         method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            kind, body = response.headers["Content-Type"], response.read()
    finally:
        running.stop()


    answer = read_bands(io.BytesIO(body))
    assert kind == "image/tiff" and answer.dtype == np.uint16 and answer.shape == (32, 32, 4)
    assert np.abs(answer.astype(np.float64) - expected).max() <= 0.5 + 1e-3  # the same translation, rounded


def test_one_band_float_npy_pix2pix_trains_translates_and_evaluates(tmp_path):
    from cyclegan_tf.evaluation.evaluate import evaluate_run
    from cyclegan_tf.evaluation.features import save_random_extractor
    from cyclegan_tf.inference.translator import load_translator, translate_files

    root = tmp_path / "depth"
    _float_pairs(root)
    result = _train(dict(dataroot=str(root), model="pix2pix", name="depth", checkpoints_dir=str(tmp_path / "runs"),
                         input_nc=1, output_nc=1, value_range_A="p1,p99", netG="unet_32"))
    stored = json.loads((result.run_dir / "config.json").read_text())
    assert stored["scaling_A"]["depth"] == "float" and stored["scaling_A"]["high"] < 100  # the outlier left out
    b_values = np.concatenate([np.load(p)[:, 32:].ravel() for p in sorted((root / "train").iterdir())])
    assert (stored["scaling_B"]["low"], stored["scaling_B"]["high"]) == pytest.approx(
        (float(b_values.min()), float(b_values.max())))  # auto of float data: its min..max

    translator = load_translator(result.run_dir)
    halves = [tmp_path / "a.npy"]
    np.save(halves[0], np.load(root / "test" / "0.npy")[:, :32])
    (written,) = translate_files(translator, halves, tmp_path / "out")
    out = np.load(written)
    assert written.suffix == ".npy" and out.dtype == np.float32 and out.shape == (32, 32, 1)
    assert stored["scaling_B"]["low"] <= out.min() and out.max() <= stored["scaling_B"]["high"]

    extractor = save_random_extractor(tmp_path / "features.keras", 32, (8, 16), 0)
    evaluation = evaluate_run(result.run_dir, feature_extractor=str(extractor), save=False)
    (metrics,) = evaluation.directions.values()  # FID of the one band as grey; L1 and PSNR of the float values
    assert metrics.images == 2 and 0 < metrics.target_l1 < 2 and 0 < metrics.target_psnr < 100
    assert metrics.fid is not None and np.isfinite(metrics.fid)


@pytest.mark.parametrize("options, message", [
    (dict(model="colorization", input_nc=4), "L channel of Lab"),
    (dict(model="dcgan", output_nc=4), "1 or 3 channels"),
    (dict(model="dcgan", value_range_A="0,1000"), "--value-range is for scientific images"),
    (dict(input_nc=0), "at least 1"),
    (dict(value_range_A="p1"), "--value-range"),
])
def test_models_that_cannot_take_scientific_images_say_so(options, message):
    from cyclegan_tf.config import TrainConfig

    with pytest.raises(UserError, match=message):
        TrainConfig(**{"dataroot": "x", **options}).validate()
