"""Evaluation: FID, KID, PSNR and L1 against independent computations; `evaluate` end to end on the demo run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import scipy.linalg
from click.testing import CliRunner
from PIL import Image

from cyclegan_tf.cli.main import main
from cyclegan_tf.data.images import list_images, load_image
from cyclegan_tf.errors import UserError
from cyclegan_tf.evaluation import evaluate, features, metrics
from cyclegan_tf.inference.translator import Translator, load_translator


def tiny_extractor(path, size=32, seed=0):
    """A small random-weights feature extractor saved as a .keras file: [0, 255] RGB in, 32 features out."""
    return features.save_random_extractor(path, size, (16, 32), seed)


def reference_fid(x, y):
    """FID as pytorch-fid computes it: scipy's general matrix square root of the product."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def reference_mmd2(x, y):
    """Unbiased MMD^2 with the cubic polynomial kernel, pair by pair."""
    d, m, n = x.shape[1], len(x), len(y)
    k = lambda a, b: (a @ b / d + 1) ** 3
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("n1,n2,d", [(200, 150, 16), (40, 25, 64)])  # full-rank and rank-deficient covariances
def test_fid_matches_scipy(n1, n2, d):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n1, d)) @ rng.normal(size=(d, d))
    y = rng.normal(0.3, 1.5, size=(n2, d)) @ rng.normal(size=(d, d))
    expected = reference_fid(x, y)
    assert metrics.fid(x, y) == pytest.approx(expected, rel=1e-6)
    # The covariance route (eigendecompositions) gives the same as the features route (SVD).
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    assert metrics.frechet_distance(x.mean(0), s1, y.mean(0), s2) == pytest.approx(expected, rel=1e-6)


def test_trace_of_the_matrix_square_root_matches_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 12)), rng.normal(size=(30, 12))
    s1, s2 = a.T @ a, b.T @ b
    expected = np.trace(scipy.linalg.sqrtm(s1 @ s2).real)
    assert metrics.trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-9)
    assert metrics.trace_sqrt_product(s1, s1) == pytest.approx(np.trace(s1), rel=1e-9)  # sqrtm(S^2) = S


def test_fid_is_zero_for_the_same_set_and_grows_with_a_mean_shift():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 20))
    assert abs(metrics.fid(x, x)) < 1e-8
    # Shifting every feature by s leaves the covariance as it is: FID = ||shift||^2 = 20 s^2 exactly.
    values = [metrics.fid(x, x + s) for s in (0.5, 1.0, 2.0)]
    assert values == pytest.approx([20 * 0.25, 20 * 1.0, 20 * 4.0], rel=1e-6)
    # Few images, many features (the rank-deficient path) behaves the same.
    small = rng.normal(size=(10, 50))
    assert abs(metrics.fid(small, small)) < 1e-8
    assert metrics.fid(small, small + 1.0) == pytest.approx(50.0, rel=1e-6)


def test_kid_matches_the_pairwise_unbiased_mmd():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(12, 5)), rng.normal(0.5, 1.0, size=(15, 5))
    # Subsets of 12 out of 12 are the whole of x: every subset of y is scored, and the mean of those
    # equals the mean over subsets computed pair by pair with the same random draws.
    mean, std = metrics.kid(x, y, subsets=5, seed=7)
    draws = np.random.default_rng(7)
    expected = []
    for _ in range(5):
        a = x[draws.choice(12, 12, replace=False)]
        b = y[draws.choice(15, 12, replace=False)]
        expected.append(reference_mmd2(a, b))
    assert mean == pytest.approx(np.mean(expected), rel=1e-9)
    assert std == pytest.approx(np.std(expected), rel=1e-6)
    same = rng.normal(size=(200, 5))
    far = metrics.kid(same, same + 1.0, subsets=10, subset_size=50)[0]
    near = metrics.kid(same, rng.normal(size=(200, 5)), subsets=10, subset_size=50)[0]
    assert abs(near) < 0.05 < far


def test_psnr_and_l1_of_known_differences():
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a + 10
    assert metrics.psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 / 100))
    assert metrics.psnr(a, a) == 100.0
    assert metrics.l1(a, b) == pytest.approx(10 / 127.5)


def test_a_feature_extractor_gets_rgb_in_0_255_at_its_size(tmp_path):
    inputs = keras.Input((16, 16, 3))  # features: the mean of each channel, to check what the model receives
    keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs)).save(tmp_path / "mean.keras")
    extractor = features.load_feature_extractor(tmp_path / "mean.keras")
    gray = np.full((40, 24, 1), 200, np.uint8)
    colour = np.zeros((16, 16, 3), np.uint8)
    colour[..., 2] = 255
    values = extractor([gray, colour])
    np.testing.assert_allclose(values, [[200, 200, 200], [0, 0, 255]], atol=1e-3)
    with pytest.raises(UserError, match="feature extractor not found"):
        features.load_feature_extractor(tmp_path / "none.keras")
    (tmp_path / "bad.keras").write_text("not a model")
    with pytest.raises(UserError, match="cannot load the feature extractor"):
        features.load_feature_extractor(tmp_path / "bad.keras")


@pytest.fixture(scope="module")
def extractor_file(tmp_path_factory):
    return tiny_extractor(tmp_path_factory.mktemp("features") / "tiny.keras")


def test_evaluate_on_the_demo_run(demo_run, extractor_file, demo_score):
    result = evaluate.evaluate_run(demo_run.run_dir, feature_extractor=extractor_file)
    assert (result.epoch, result.step) == (2, 400)
    # The exact demo score is the trainer's, on the same (final) networks.
    assert result.demo_score == pytest.approx(demo_score["score"], abs=1e-9)
    root = Path(result.dataroot)
    extractor = features.load_feature_extractor(extractor_file)
    real = {d: extractor([load_image(p) for p in list_images(root / f"test{d}")]) for d in "AB"}
    # the scores of a generator that changes nothing
    untranslated, untranslated_kid = metrics.fid(real["A"], real["B"]), metrics.kid(real["A"], real["B"])[0]
    for direction, source, target in (("AtoB", "A", "B"), ("BtoA", "B", "A")):
        m = result.directions[direction]
        assert m.images == 30 and m.split == "test"
        # FID and KID are those of the run's translations of the test inputs, computed here again
        translate = load_translator(demo_run.run_dir, direction)
        fakes = extractor([translate(load_image(p)) for p in list_images(root / f"test{source}")])
        assert m.fid == pytest.approx(metrics.fid(fakes, real[target]), rel=1e-6)
        assert 0 < m.fid < untranslated / 2, (m.fid, untranslated)
        assert m.fid_input == pytest.approx(untranslated if direction == "AtoB" else metrics.fid(real["B"], real["A"]))
        assert m.kid == pytest.approx(metrics.kid(fakes, real[target])[0], rel=1e-6, abs=1e-9)
        assert abs(m.kid) < untranslated_kid / 2  # unbiased: may be a little below 0
        assert m.kid_std == 0.0  # 30 images a side, subsets of up to 1000: one subset, the whole of both sets
        assert 0 < m.cycle_l1 < 0.2 and 18 < m.cycle_psnr < 60  # the demo's round trips are close
        assert m.demo_iou == pytest.approx(demo_score[direction]["iou"])
    saved = json.loads((demo_run.run_dir / "eval" / "epoch_002.json").read_text())
    assert saved["directions"]["AtoB"]["fid"] == pytest.approx(result.directions["AtoB"].fid)
    assert saved["mean_fid"] == pytest.approx(result.mean_fid)
    assert saved["feature_extractor"] == str(extractor_file)


def test_evaluate_command_prints_a_table(demo_run, extractor_file):
    result = CliRunner().invoke(main, ["evaluate", "--name", "demo", "--checkpoints-dir", str(demo_run.run_dir.parent),
                                       "--feature-extractor", str(extractor_file), "--direction", "BtoA",
                                       "--epoch", "2", "--max-images", "10"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split()[:7] == ["direction", "images", "FID", "FID", "of", "input", "KID"]
    row = lines[2].split()
    assert row[0] == "BtoA" and row[1] == "10" and 0 < float(row[3]) < float(row[4])  # translated vs untranslated
    assert not any(line.startswith("AtoB") for line in lines)
    assert "demo score (mean IoU, %):" in result.output


def test_evaluate_user_errors(tmp_path, demo_run):
    def run(*args):
        return CliRunner().invoke(main, ["evaluate", *map(str, args)])

    result = run("--name", "none", "--checkpoints-dir", tmp_path)
    assert result.exit_code == 1 and "no checkpoints found" in result.output
    result = run("--name", "demo", "--checkpoints-dir", demo_run.run_dir.parent, "--feature-extractor", tmp_path / "x")
    assert result.exit_code == 1 and "feature extractor not found" in result.output
    result = run("--name", "demo", "--checkpoints-dir", demo_run.run_dir.parent, "--epoch", "7")
    assert result.exit_code == 1 and "no checkpoint of epoch 7" in result.output


def test_without_the_fid_weights_evaluate_says_what_to_do(tmp_path, demo_run):
    """No weights in an empty models dir (and an empty KERAS_HOME for imagenet) and no network (a mirror and a
    proxy that refuse): one error line each, fast."""
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras"), "HTTPS_PROXY": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "TF_CPP_MIN_LOG_LEVEL": "3",
           "CYCLEGAN_TF_MODELS": str(tmp_path / "models"), "CYCLEGAN_TF_MIRROR": "http://127.0.0.1:9"}
    for extra, start, says in (
            ([], "Error: ", ("pt_inception-2015-12-05-6726825d.pth into", str(tmp_path / "models"), "--fid-weights")),
            (["--feature-extractor", "imagenet"], "Error: cannot load the InceptionV3 weights for FID/KID",
             (str(tmp_path / "keras" / "models"),))):
        done = subprocess.run([sys.executable, "-m", "cyclegan_tf.cli", "evaluate", "--name", "demo",
                               "--checkpoints-dir", str(demo_run.run_dir.parent), *extra],
                              capture_output=True, text=True, env=env, timeout=180)
        assert done.returncode == 1, done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith(start) and all(part in lines[0] for part in says), lines[0]


def test_translate_grid_puts_input_and_output_side_by_side(tmp_path, demo_run):
    image = np.random.default_rng(0).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "in.png")
    result = CliRunner().invoke(main, ["translate", str(tmp_path / "in.png"), "--checkpoint", str(demo_run.run_dir),
                                       "--grid", "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    grid = load_image(tmp_path / "out" / "in.png")
    assert grid.shape == (40, 52 * 2 + 4, 3)
    np.testing.assert_array_equal(grid[:, :52], image)
    translator = Translator(demo_run.model.G_AB, "resnet_6blocks")
    np.testing.assert_array_equal(grid[:, 56:], translator(image))
