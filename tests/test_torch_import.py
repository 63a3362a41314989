"""The reference's `.pth` files: import with numeric parity, refusal of pickled code, export back, pretrained models.

The PyTorch networks are built by benchmarks/torch_reference.py with the reference's module structure (so
their state dicts have the reference's keys), saved with `torch.save` in both of its formats, and imported
without PyTorch. Outputs are compared in [-1, 1] on a square and a non-square image.
"""

from __future__ import annotations

import collections
import logging
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from cyclegan_tf.cli.main import main
from cyclegan_tf.errors import UserError
from cyclegan_tf.interop import pth, reference
from cyclegan_tf.interop.importer import Overrides, import_torch
from cyclegan_tf.interop.pretrained import PRETRAINED
from cyclegan_tf.nn.networks import define_discriminator, define_generator
from tests.test_download import server  # noqa: F401 - the loopback file server fixture

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import torch_reference as ref

REFERENCE_CYCLEGAN_NAMES = (  # the reference's scripts/download_cyclegan_model.sh
    "apple2orange orange2apple summer2winter_yosemite winter2summer_yosemite horse2zebra zebra2horse monet2photo "
    "style_monet style_cezanne style_ukiyoe style_vangogh sat2map map2sat cityscapes_photo2label "
    "cityscapes_label2photo facades_photo2label facades_label2photo iphone2dslr_flower").split()
# Two frameworks' float32 kernels sum each output's 3x3xC products (up to 4,608 terms) in their own orders:
# a relative error of about sqrt(terms) x eps (1.2e-7), some 1e-5 through a network's 20-odd layers at
# worst, on outputs of size about 1 (tanh images; logits of random discriminators). Measured: 7.4e-6 (AVX-512),
# within the bound with oneDNN capped at AVX2 too.
TOLERANCE = 1e-4


def run_cli(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def randomize(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights everywhere, batch norm statistics included (eval mode uses them)."""
    torch.manual_seed(seed)
    for module in net.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.normal_(module.weight, 0.0, 0.05)
            if module.bias is not None:
                torch.nn.init.normal_(module.bias, 0.0, 0.05)
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.normal_(1.0, 0.1)
            module.bias.data.normal_(0.0, 0.1)
            module.running_mean.normal_(0.0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return net.eval()


def torch_out(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy().transpose(0, 2, 3, 1)


def build_ours(arch: reference.Architecture):
    if arch.role == "generator":
        return define_generator(arch.net, arch.input_nc, arch.output_nc, arch.width, arch.norm, arch.dropout,
                                name="G")
    return define_discriminator(arch.net, arch.input_nc, arch.width, arch.norm, arch.n_layers or 3, name="D")


def save_both(net: torch.nn.Module, folder: Path, stem: str, state: dict | None = None) -> list[Path]:
    state = state if state is not None else net.state_dict()
    paths = [folder / f"{stem}_zip.pth", folder / f"{stem}_legacy.pth"]
    torch.save(state, paths[0])
    torch.save(state, paths[1], _use_new_zipfile_serialization=False)
    return paths


# (name, PyTorch network, what infer_architecture must read, image sizes (h, w))
CASES = [
    ("resnet_9blocks", lambda: ref.ResnetGenerator(ngf=64), dict(net="resnet_9blocks", width=64, norm="instance"),
     [(256, 256), (200, 312)]),
    ("resnet_6blocks", lambda: ref.ResnetGenerator(ngf=16, blocks=6), dict(net="resnet_6blocks", width=16),
     [(256, 256), (200, 312)]),
    ("unet_256", lambda: ref.UnetGenerator(num_downs=8, ngf=16), dict(net="unet_256", norm="batch"),
     [(256, 256), (256, 512)]),
    ("unet_128", lambda: ref.UnetGenerator(num_downs=7, ngf=16), dict(net="unet_128", norm="batch"),
     [(256, 256), (128, 384)]),
    ("patchgan", lambda: ref.NLayerDiscriminator(ndf=64), dict(net="basic", role="discriminator"),
     [(256, 256), (200, 312)]),
    ("pixel", lambda: ref.PixelDiscriminator(ndf=64), dict(net="pixel", role="discriminator"),
     [(256, 256), (45, 37)]),
    # the keys that move: dropout inside residual blocks, no conv biases under batch norm or no norm
    ("resnet_batch_dropout", lambda: ref.ResnetGenerator(ngf=8, kind="batch", dropout=True),
     dict(norm="batch", dropout=True), [(64, 64)]),
    ("resnet_no_norm", lambda: ref.ResnetGenerator(ngf=8, blocks=6, kind="none"), dict(norm="none"), [(64, 48)]),
    ("resnet_3blocks", lambda: ref.ResnetGenerator(ngf=8, blocks=3), dict(net="resnet_3blocks"), [(40, 52)]),
    ("unet_64", lambda: ref.UnetGenerator(num_downs=6, ngf=8), dict(net="unet_64"), [(64, 128)]),
    ("patchgan_5_batch_6ch", lambda: ref.NLayerDiscriminator(6, ndf=8, n_layers=5, kind="batch"),
     dict(net="n_layers", n_layers=5, input_nc=6, norm="batch"), [(192, 192)]),
]


@pytest.mark.parametrize("name,make,expected,sizes", CASES, ids=[c[0] for c in CASES])
def test_imported_network_matches_pytorch_from_both_formats(tmp_path, name, make, expected, sizes):
    net = randomize(make())
    channels = expected.get("input_nc", 3)
    rng = np.random.default_rng(0)
    images = [rng.uniform(-1, 1, (1, h, w, channels)).astype(np.float32) for h, w in sizes]
    wanted = [torch_out(net, x) for x in images]
    for path in save_both(net, tmp_path, name):
        state = pth.load_state_dict(path)
        arch = reference.infer_architecture(state)
        for field, value in expected.items():
            assert getattr(arch, field) == value, (path.name, field)
        ours = build_ours(arch)
        reference.load_into(ours, arch, state, str(path))
        for x, y in zip(images, wanted, strict=True):
            got = ours(x, training=False).numpy()
            assert got.shape == y.shape
            assert np.abs(got - y).max() <= TOLERANCE, (path.name, x.shape, float(np.abs(got - y).max()))
            assert y.std() > 1e-3  # a comparison of outputs that vary


def test_old_pytorch_instance_norm_statistics_are_ignored(tmp_path):
    net = randomize(ref.ResnetGenerator(ngf=8, blocks=6))
    state = collections.OrderedDict(net.state_dict())
    for index in (2, 5, 8):  # PyTorch 0.3's InstanceNorm2d kept these; the reference deletes them on load
        state[f"model.{index}.running_mean"] = torch.zeros(8 * 2 ** (index // 3))
        state[f"model.{index}.running_var"] = torch.ones(8 * 2 ** (index // 3))
        state[f"model.{index}.num_batches_tracked"] = torch.tensor(0)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    for path in save_both(net, tmp_path, "old", state):
        loaded = pth.load_state_dict(path)
        arch = reference.infer_architecture(loaded)
        assert arch.norm == "instance"
        ours = build_ours(arch)
        reference.load_into(ours, arch, loaded, str(path))
        assert np.abs(ours(x).numpy() - torch_out(net, x)).max() <= TOLERANCE


class Payload:
    """A pickle that creates a file when loaded by an ordinary unpickler."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_that_would_run_code_is_refused_in_one_line(tmp_path):
    marker = tmp_path / "ran"
    files = {"zip": tmp_path / "evil_zip.pth", "legacy": tmp_path / "evil_legacy.pth", "plain": tmp_path / "evil.pkl"}
    torch.save({"model.1.weight": Payload(marker)}, files["zip"])
    torch.save({"model.1.weight": Payload(marker)}, files["legacy"], _use_new_zipfile_serialization=False)
    files["plain"].write_bytes(pickle.dumps(Payload(marker)))
    assert not marker.exists()
    for path in files.values():
        with pytest.raises(pth.UnsafePickle, match=r"refusing to load io\.open"):
            pth.load_state_dict(path)
    result = run_cli("import-torch", files["zip"], "--name", "evil", "--checkpoints-dir", tmp_path / "runs")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "refusing to load io.open" in result.output
    assert not marker.exists()  # nothing of it ran
    assert not (tmp_path / "runs" / "evil").exists()


def test_our_writer_is_read_by_torch_and_by_us(tmp_path):
    state = {"a": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "b": np.array(3, np.int64),
             "c": np.ones((0, 2), np.float32), "d": np.float16([1.5, -2])}
    path = pth.save_state_dict(state, tmp_path / "ours.pth")
    for loaded in (torch.load(path, weights_only=True), pth.load_state_dict(path)):
        for key, value in state.items():
            got = loaded[key].numpy() if isinstance(loaded[key], torch.Tensor) else loaded[key]
            assert got.dtype == value.dtype and got.shape == value.shape and np.array_equal(got, value)


def test_a_state_dict_of_another_architecture_is_one_line(tmp_path):
    net = randomize(ref.ResnetGenerator(ngf=8))
    path = tmp_path / "g.pth"
    torch.save(net.state_dict(), path)
    with pytest.raises(UserError) as error:
        import_torch([path], "wrong", tmp_path / "runs", Overrides(netG="resnet_6blocks"))
    message = str(error.value)
    assert "\n" not in message and "missing (4)" in message and "unexpected (16)" in message
    assert "model.16.conv_block.1.weight" in message
    with pytest.raises(UserError, match=r"misshapen \(47\): .*model.1.weight \(8, 3, 7, 7\) vs \(16, 3, 7, 7\)"):
        import_torch([path], "wrong", tmp_path / "runs", Overrides(ngf=16))
    with pytest.raises(UserError, match="not a network of the reference"):
        torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
        import_torch([tmp_path / "other.pth"], "other", tmp_path / "runs")


def write_images(folder: Path, n: int, size: int, seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_reference_cyclegan_folder_translates_and_fine_tunes(tmp_path, caplog):
    from cyclegan_tf.config import make_config
    from cyclegan_tf.inference.translator import load_translator
    from cyclegan_tf.runs.checkpoints import open_checkpoint
    from cyclegan_tf.training.trainer import train

    nets = {"G_A": ref.ResnetGenerator(ngf=8, blocks=6), "G_B": ref.ResnetGenerator(ngf=8, blocks=6),
            "D_A": ref.NLayerDiscriminator(ndf=8), "D_B": ref.NLayerDiscriminator(ndf=8)}
    folder = tmp_path / "pt"
    folder.mkdir()
    for seed, (suffix, net) in enumerate(nets.items()):
        torch.save(randomize(net, seed).state_dict(), folder / f"latest_net_{suffix}.pth")
    result = run_cli("import-torch", folder, "--name", "h2z", "--checkpoints-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    assert "cycle_gan" in result.output and "fresh Adam optimizers" in result.output

    image = np.random.default_rng(2).integers(0, 256, (36, 44, 3), dtype=np.uint8)
    x = image[None].astype(np.float32) / 127.5 - 1
    for direction, suffix in (("AtoB", "G_A"), ("BtoA", "G_B")):
        ours = load_translator(tmp_path / "runs" / "h2z", direction)(image).astype(int)
        theirs = np.clip(np.round((torch_out(nets[suffix], x)[0] + 1) * 127.5), 0, 255)
        assert np.abs(ours - theirs).max() <= 1, direction
    with open_checkpoint(tmp_path / "runs" / "h2z") as opened:  # the reference's netD_A judges domain B: our D_B
        assert np.array_equal(opened.arrays["D_B/conv0/kernel"],
                              nets["D_A"].model[0].weight.detach().numpy().transpose(2, 3, 1, 0))
        before = opened.arrays["G_AB/stem_conv/kernel"].copy()

    data = tmp_path / "data"
    for domain, seed in (("trainA", 3), ("trainB", 4)):
        write_images(data / domain, 2, 32, seed)
    # continue the reference run's schedule at its epoch 2 (of 1 + 1): the decay epoch only, at half the rate
    cfg = make_config(dict(name="h2z", checkpoints_dir=str(tmp_path / "runs"), continue_train=True,
                           dataroot=str(data), load_size=32, crop_size=32, n_epochs=1, n_epochs_decay=1,
                           epoch_count=2))
    with caplog.at_level(logging.WARNING, logger="cyclegan_tf"):
        trained = train(cfg, verbose=0)
    assert "start fresh" in caplog.text and "g_optimizer" in caplog.text
    assert trained.step == 4 and trained.epoch == 2  # epoch 1's 2 steps counted, epoch 2's trained
    assert trained.history["lr"] == pytest.approx([1e-4])
    with open_checkpoint(tmp_path / "runs" / "h2z") as opened:
        assert opened.state["step"] == 4 and opened.state["training_state"]
        assert np.abs(opened.arrays["G_AB/stem_conv/kernel"] - before).max() > 0  # it trained from the import


def test_export_torch_loads_into_the_reference_layout(tmp_path, demo_run):
    from cyclegan_tf.config import TrainConfig
    from cyclegan_tf.inference.translator import load_translator

    config = TrainConfig.load(demo_run.run_dir / "config.json")
    out = tmp_path / "export"
    result = run_cli("export", "--name", "demo", "--checkpoints-dir", demo_run.run_dir.parent, "--format", "torch",
                     "-o", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["latest_net_G_A.pth", "latest_net_G_B.pth"]
    image = np.random.default_rng(5).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    x = image[None].astype(np.float32) / 127.5 - 1
    blocks = int(config.netG.split("_")[1].removesuffix("blocks"))
    for direction, suffix in (("AtoB", "A"), ("BtoA", "B")):
        net = ref.ResnetGenerator(ngf=config.ngf, blocks=blocks, kind=config.norm).eval()
        net.load_state_dict(torch.load(out / f"latest_net_G_{suffix}.pth", weights_only=True))  # strict: every key
        theirs = np.clip(np.round((torch_out(net, x)[0] + 1) * 127.5), 0, 255)
        ours = load_translator(demo_run.run_dir, direction)(image).astype(int)
        assert np.abs(ours - theirs).max() <= 1, direction


def test_pretrained_model_downloads_from_a_mirror_and_translates(tmp_path, server):  # noqa: F811
    assert set(REFERENCE_CYCLEGAN_NAMES) <= set(PRETRAINED) and len(PRETRAINED) == 18 + 8
    assert PRETRAINED["pix2pix_day2night"].url("http://m") == "http://m/pix2pix/models-pytorch/day2night.pth"
    net = randomize(ref.ResnetGenerator(ngf=8), seed=7)  # the real files are ngf 64; the width is read from the file
    path = tmp_path / "z.pth"
    torch.save(net.state_dict(), path, _use_new_zipfile_serialization=False)  # as the 2017 files
    server.files["/cyclegan/pretrained_models/zebra2horse.pth"] = path.read_bytes()
    env = {"CYCLEGAN_TF_MIRROR": server.base, "CYCLEGAN_TF_MODELS": str(tmp_path / "models")}

    image = np.random.default_rng(6).integers(0, 256, (44, 60, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "zebra.png")
    for _ in range(2):  # the second use makes no request
        result = run_cli("translate", tmp_path / "zebra.png", "--pretrained", "zebra2horse", "-o", tmp_path / "out",
                         env=env)
        assert result.exit_code == 0, result.output
        assert len(server.requests) == 1
    ours = np.asarray(Image.open(tmp_path / "out" / "zebra.png")).astype(int)
    x = image[None].astype(np.float32) / 127.5 - 1
    theirs = np.clip(np.round((torch_out(net, x)[0] + 1) * 127.5), 0, 255)
    assert ours.shape == image.shape and np.abs(ours - theirs).max() <= 1

    listing = run_cli("pretrained", "list", env=env)
    assert listing.exit_code == 0
    rows = {line.split()[0]: line for line in listing.output.splitlines()[2:]}
    assert set(rows) == set(PRETRAINED)
    assert "cached" in rows["zebra2horse"] and "cached" not in rows["horse2zebra"]
    config = (tmp_path / "models" / "zebra2horse" / "config.json").read_text()
    assert '"translates": "BtoA"' in config and '"dataset": "horse2zebra"' in config
    refused = run_cli("train", "--name", "zebra2horse", "--checkpoints-dir", tmp_path / "models", "--continue-train",
                      "--dataroot", tmp_path)
    assert refused.exit_code == 1 and "cannot train" in refused.output
    missing = run_cli("pretrained", "download", "horse2zebra", env=env)  # not on this server: 404, one line
    assert missing.exit_code == 1 and "404" in missing.output and "import-torch" in missing.output


def test_reference_pix2pix_folder_becomes_a_pix2pix_run(tmp_path):
    from cyclegan_tf.inference.translator import load_translator
    from cyclegan_tf.runs.checkpoints import open_checkpoint

    g = randomize(ref.UnetGenerator(num_downs=8, ngf=8), seed=3)
    d = randomize(ref.NLayerDiscriminator(6, ndf=8, kind="batch"), seed=4)  # conditional: input and output stacked
    folder = tmp_path / "facades_pt"
    folder.mkdir()
    torch.save(g.state_dict(), folder / "latest_net_G.pth", _use_new_zipfile_serialization=False)
    torch.save(d.state_dict(), folder / "latest_net_D.pth")
    config = import_torch([folder], "facades", tmp_path / "runs", direction="BtoA", dataset="facades")
    assert (config.model, config.netG, config.norm, config.dropout, config.direction) == \
        ("pix2pix", "unet_256", "batch", True, "BtoA")
    assert (config.netD, config.ndf, config.unconditional_D, config.translates) == ("basic", 8, False, None)
    with open_checkpoint(config.run_dir) as opened:
        assert set(opened.state["groups"]) == {"G_AB", "D"}
        assert np.array_equal(opened.arrays["D/norm1/moving_mean"], d.model[3].running_mean.numpy())
    image = np.random.default_rng(8).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    ours = load_translator(config.run_dir, None)(image).astype(int)  # eval mode: batch norm's running statistics
    theirs = np.clip(np.round((torch_out(g, image[None].astype(np.float32) / 127.5 - 1)[0] + 1) * 127.5), 0, 255)
    assert np.abs(ours - theirs).max() <= 1
