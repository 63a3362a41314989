"""Export (.keras, SavedModel, ONNX, LiteRT) with parity to `translate`; tiles; the HTTP server.

Every exported file is run in its own runtime (keras, tf.saved_model, onnxruntime, the LiteRT interpreter) on a
45x37 and a 256x256 image and compared with `translate`'s pixels.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cyclegan_tf.cli.main import main
from cyclegan_tf.errors import UserError
from cyclegan_tf.evaluation.metrics import psnr
from cyclegan_tf.inference.translator import load_translator

SIZES = [(45, 37), (256, 256)]


def images(seed: int = 0, sizes=SIZES) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for size in sizes]


def runtime(fmt: str, path):
    """A function uint8 (N, H, W, C) -> output, running the exported file in its own runtime."""
    if fmt == "keras":
        import keras

        model = keras.saving.load_model(path)
        return lambda x: np.asarray(model(x))
    if fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        return lambda x: loaded.serve(tf.constant(x)).numpy()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    from ai_edge_litert.interpreter import Interpreter

    def run(x):
        runner = Interpreter(model_path=str(path)).get_signature_runner()
        (key,) = runner.get_input_details()
        (out,) = runner(**{key: x}).values()
        return out

    return run


@pytest.fixture(scope="module")
def exported(demo_run, tmp_path_factory):
    """Each format exported once from the demo run's BtoA generator through the CLI: {format: (path, info)}."""
    out = tmp_path_factory.mktemp("export")
    files = {}
    for fmt in ("keras", "savedmodel", "onnx", "litert"):
        target = out / f"demo_{fmt}"
        result = CliRunner().invoke(main, ["export", "--name", "demo", "--checkpoints-dir",
                                           str(demo_run.run_dir.parent), "--format", fmt, "--direction", "BtoA",
                                           "-o", str(target)])
        assert result.exit_code == 0, result.output
        path = next(p for p in out.iterdir() if p.name.startswith(target.name) and not p.name.endswith(".json"))
        files[fmt] = (path, json.loads(path.with_name(path.name + ".json").read_text()))
    return files


@pytest.mark.parametrize("fmt", ["keras", "savedmodel", "onnx", "litert"])
def test_exported_translation_equals_translate(exported, demo_run, fmt):
    path, info = exported[fmt]
    translate = load_translator(demo_run.run_dir, "BtoA")
    run = runtime(fmt, path)
    for image in images():
        got = run(image[None])
        assert got.dtype == np.uint8 and got.shape == (1, *image.shape)
        assert np.abs(got[0].astype(int) - translate(image).astype(int)).max() <= 1, (fmt, image.shape)
    assert info["direction"] == "BtoA" and info["channels"] == 3 and info["size_multiple"] == 4
    assert info["input"] == "uint8 (N, H, W, C) in and out" and info["step"] == demo_run.step
    if path.is_file():
        assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_quantized_litert_against_float(demo_run, tmp_path):
    from cyclegan_tf.deploy.export import export_model, run_calibration_images
    from cyclegan_tf.runs.checkpoints import open_checkpoint

    with open_checkpoint(demo_run.run_dir) as opened:
        test = run_calibration_images(opened.config, "AtoB")
        outputs = {}
        for quantize in ("none", "fp16", "int8"):
            path, info = export_model(opened, "litert", tmp_path / quantize, "AtoB", quantize=quantize,
                                      calibration=test)
            assert info.quantize == quantize
            run = runtime("litert", path)
            outputs[quantize] = [run(image[None])[0] for image in test]
    scores = {q: float(np.mean([psnr(a, b) for a, b in zip(outputs[q], outputs["none"], strict=True)]))
              for q in ("fp16", "int8")}
    assert len(test) == 30 and scores["fp16"] >= 35 and scores["int8"] >= 25, scores


def test_raw_export_takes_and_gives_floats(demo_run, tmp_path):
    from cyclegan_tf.deploy.export import export_model
    from cyclegan_tf.runs.checkpoints import open_checkpoint

    with open_checkpoint(demo_run.run_dir) as opened:
        path, info = export_model(opened, "onnx", tmp_path / "raw", "AtoB", raw=True)
    (image,) = images(1, [(40, 52)])
    got = runtime("onnx", path)(image[None].astype(np.float32) / 127.5 - 1)
    assert got.dtype == np.float32 and got.shape == (1, 40, 52, 3) and np.abs(got).max() <= 1
    expected = load_translator(demo_run.run_dir, "AtoB")(image).astype(int)
    assert np.abs(np.round((got[0] + 1) * 127.5) - expected).max() <= 1
    assert info.input.startswith("float32")


def test_missing_exporter_names_the_extra(demo_run, monkeypatch):
    import importlib.util

    from cyclegan_tf.deploy import export

    real = importlib.util.find_spec
    monkeypatch.setattr(export.importlib.util, "find_spec", lambda name: None if name == "tf2onnx" else real(name))
    result = CliRunner().invoke(main, ["export", "--name", "demo", "--checkpoints-dir", str(demo_run.run_dir.parent),
                                       "--format", "onnx"])
    assert result.exit_code == 1 and 'pip install "cyclegan-tf[export]"' in result.output
    assert result.output.count("\n") == 1
    with pytest.raises(UserError, match="--quantize applies to --format litert only"):
        from cyclegan_tf.runs.checkpoints import open_checkpoint

        with open_checkpoint(demo_run.run_dir) as opened:
            export.export_model(opened, "keras", "x", quantize="fp16")


def mosaic(data_dir, side: int) -> np.ndarray:
    """A large image made of the demo's test images, each scaled to 128 px."""
    files = sorted((data_dir / "demo" / "testA").glob("*.png"))
    n = side // 128
    tiles = [np.asarray(Image.open(f).convert("RGB").resize((128, 128), Image.BICUBIC)) for f in files[: n * n]]
    return np.concatenate([np.concatenate(tiles[r * n:(r + 1) * n], 1) for r in range(n)], 0)


def test_tiles_match_the_whole_image_without_seams(demo_run, data_dir, tmp_path):
    from cyclegan_tf.inference.tiles import translate_tiled

    image = mosaic(data_dir, 512)
    translator = load_translator(demo_run.run_dir, "AtoB")
    whole = translator(image)
    tiled = load_translator(demo_run.run_dir, "AtoB", tile=192, tile_overlap=48)(image)
    naive = np.concatenate([np.concatenate([translator(image[r:r + 128, c:c + 128]) for c in range(0, 512, 128)], 1)
                            for r in range(0, 512, 128)], 0)  # each tile on its own: its own statistics, seams
    assert tiled.shape == whole.shape
    # measured: tiled 50.7 dB, naive 32.8 dB
    assert psnr(tiled, whole) >= 40 and psnr(naive, whole) < psnr(tiled, whole) - 10, (psnr(tiled, whole),
                                                                                        psnr(naive, whole))
    Image.fromarray(image).save(tmp_path / "large.png")
    result = CliRunner().invoke(main, ["translate", str(tmp_path / "large.png"), "--name", "demo", "--checkpoints-dir",
                                       str(demo_run.run_dir.parent), "--tile", "192", "--tile-overlap", "48", "-o",
                                       str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "large.png")), tiled)
    one_tile = translate_tiled(translator.model, image, 1024, 64)  # the whole image's own statistics, fixed
    assert np.abs(one_tile.astype(int) - whole).max() <= 1


# --- the server ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(demo_run):
    from cyclegan_tf.deploy.server import ServerLimits, make_app, start_in_thread
    from cyclegan_tf.inference.translator import load_generators, translators_of
    from cyclegan_tf.runs.checkpoints import open_checkpoint

    with open_checkpoint(demo_run.run_dir) as opened:
        translators = translators_of(load_generators(opened), opened.config.netG, tile=512)
    limits = ServerLimits(max_upload_mb=1.0, max_pixels=1_000_000, timeout=30.0, max_batch=8, batch_wait=0.05)
    app = make_app(translators, limits)
    running = start_in_thread(app)
    yield running.url, app
    running.stop()


def post(url: str, body: bytes, content_type: str = "application/octet-stream") -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers["Content-Type"]


def png(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def multipart(field: str, data: bytes) -> tuple[bytes, str]:
    boundary = "cyclegantfboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"x.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_server_answers_like_translate(server, demo_run):
    url, _ = server
    for direction in ("AtoB", "BtoA"):
        translate = load_translator(demo_run.run_dir, direction)
        for image in images(2, [(45, 37), (64, 64), (256, 200)]):
            status, body, kind = post(f"{url}/translate?direction={direction}", png(image))
            assert status == 200 and kind == "image/png"
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(body))), translate(image))
    (image,) = images(3, [(60, 44)])
    status, body, _ = post(f"{url}/translate", *multipart("image", png(image)))  # a form, default direction AtoB
    assert status == 200
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(body))),
                          load_translator(demo_run.run_dir, "AtoB")(image))
    with urllib.request.urlopen(f"{url}/healthz") as response:
        health = json.loads(response.read())
    assert health["status"] == "ok" and health["directions"] == ["AtoB", "BtoA"]
    with urllib.request.urlopen(f"{url}/") as response:
        page = response.read().decode()
    assert "Draw a sketch" in page and '["AtoB", "BtoA"]' in page


def test_twenty_concurrent_requests_are_batched_and_all_correct(server, demo_run):
    url, app = server
    translate = load_translator(demo_run.run_dir, "AtoB")
    inputs = images(4, [(64, 64)] * 20)
    before = app.state.batcher.batches
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda image: post(f"{url}/translate", png(image)), inputs))
    for image, (status, body, _) in zip(inputs, answers, strict=True):
        assert status == 200
        # A batch of several images runs other kernels than a batch of one (oneDNN blocks the batch axis
        # differently per CPU), so the float32 outputs differ by rounding, and a value that falls within that of
        # a half level rounds to the next grey level: 1 level, not 0 (seen with oneDNN's AVX2 kernels).
        got = np.asarray(Image.open(io.BytesIO(body))).astype(int)
        assert np.abs(got - translate(image).astype(int)).max() <= 1
    assert app.state.batcher.batches - before < 20  # some requests shared a batch


def test_bad_requests_get_json_errors(server):
    url, app = server
    (image,) = images(5, [(32, 32)])
    bomb = io.BytesIO()
    Image.new("L", (2000, 2000)).save(bomb, format="PNG")  # 4 megapixels in a few kB, over the 1 MP limit
    cases = [
        (post(f"{url}/translate", b"this is not an image"), 415),
        (post(f"{url}/translate", b"\0" * 1_100_000), 413),  # over --max-upload-mb 1
        (post(f"{url}/translate", bomb.getvalue()), 413),
        (post(f"{url}/translate", b""), 400),
        (post(f"{url}/translate?direction=sideways", png(image)), 400),
        (post(f"{url}/translate", *multipart("picture", png(image))), 400),
    ]
    limits = app.state.batcher.limits
    limits.timeout, saved = 1e-6, limits.timeout  # nothing is answered that fast
    try:
        cases.append((post(f"{url}/translate", png(image)), 503))
    finally:
        limits.timeout = saved
    for (status, body, kind), expected in cases:
        assert status == expected and kind == "application/json", (status, body[:200])
        assert json.loads(body)["status"] == expected


def start_serve(*args: str, **popen) -> tuple[subprocess.Popen, str]:
    """`cyclegan-tf serve ARGS --port 0` as its own process: the process and its URL, once it listens."""
    process = subprocess.Popen([sys.executable, "-m", "cyclegan_tf.cli", "serve", *args, "--port", "0"],
                               stderr=subprocess.PIPE, text=True, **popen)
    for line in process.stderr:  # TensorFlow's start-up noise is silenced: the first line is ours
        if line.startswith("serving"):
            return process, line.split(" on ")[1].split("/ ")[0]
    process.kill()
    raise AssertionError(f"serve did not start: exit status {process.wait()}")


def test_serve_command_listens_on_loopback_and_answers(demo_run):
    process, url = start_serve("--name", "demo", "--checkpoints-dir", str(demo_run.run_dir.parent))
    try:
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        with urllib.request.urlopen(f"{url}/healthz", timeout=30) as response:
            assert json.loads(response.read())["directions"] == ["AtoB", "BtoA"]
        (image,) = images(9, [(40, 44)])
        status, body, kind = post(f"{url}/translate?direction=BtoA", png(image))
        assert status == 200 and np.array_equal(np.asarray(Image.open(io.BytesIO(body))),
                                                load_translator(demo_run.run_dir, "BtoA")(image))
    finally:
        process.terminate()
        process.wait(30)
