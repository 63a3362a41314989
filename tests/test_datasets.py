"""The dataset registry, download on first use, the cache, the `datasets` commands and datasets.sh (offline)."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cyclegan_tf.cli.main import main
from cyclegan_tf.config import TrainConfig
from cyclegan_tf.data import download
from cyclegan_tf.data import registry as datasets
from cyclegan_tf.data.registry import (
    MIRROR_ENV,
    REGISTRY,
    dataset_folder,
    lookup,
    resolve_dataroot,
    resolve_dataset,
)
from cyclegan_tf.errors import UserError
from tests.test_download import aligned_files, closed_port_url, make_tar_gz, make_zip, server, unpaired_files

__all__ = ["server"]  # the fixture, shared with test_download.py

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def mirror(server, monkeypatch):
    """The local server as the datasets' mirror, serving `mini` (zip) and pix2pix's `facades` (tar.gz)."""
    server.files["/cyclegan/datasets/mini.zip"] = make_zip(unpaired_files("mini"))
    server.files["/pix2pix/datasets/facades.tar.gz"] = make_tar_gz(aligned_files("facades"))
    monkeypatch.setenv(MIRROR_ENV, server.base)
    return server


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, pattern: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: ") and pattern in lines[-1], result.output
    assert "Traceback" not in result.output
    return lines[-1]


# ---------------------------------------------------------------------------------------------------------------
# Registry


def test_registry_holds_the_reference_names_with_their_urls(monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    cyclegan = {"ae_photos", "apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo", "cezanne2photo",
                "ukiyoe2photo", "vangogh2photo", "maps", "cityscapes", "facades", "iphone2dslr_flower", "mini",
                "mini_pix2pix", "mini_colorization"}
    pix2pix = {"facades", "cityscapes", "maps", "edges2shoes", "edges2handbags", "night2day"}
    assert {i.name for i in REGISTRY.values() if i.source == "cyclegan"} == cyclegan
    assert {i.name for i in REGISTRY.values() if i.source == "pix2pix"} == pix2pix
    assert len(REGISTRY) == 21
    assert REGISTRY["apple2orange"].url() == "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/apple2orange.zip"
    assert REGISTRY["pix2pix/edges2shoes"].url() == \
        "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/edges2shoes.tar.gz"
    assert all(i.kind == "aligned" for i in REGISTRY.values() if i.source == "pix2pix")
    assert [i.key for i in REGISTRY.values() if i.manual] == ["cityscapes", "pix2pix/cityscapes"]
    assert all(i.size_mb > 0 for i in REGISTRY.values() if not i.manual)


def test_a_mirror_replaces_the_server(monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, "https://mirror.example.org/gans/")
    assert REGISTRY["horse2zebra"].url() == "https://mirror.example.org/gans/cyclegan/datasets/horse2zebra.zip"
    assert REGISTRY["horse2zebra"].url("file:///srv/m") == "file:///srv/m/cyclegan/datasets/horse2zebra.zip"


def test_names_in_both_kinds_are_told_apart(tmp_path):
    assert lookup("facades").key == "facades"  # unpaired first
    assert lookup("facades", "aligned").key == "pix2pix/facades"
    assert lookup("pix2pix/facades").kind == "aligned"
    assert lookup("edges2shoes", None).key == "pix2pix/edges2shoes"
    assert lookup("edges2shoes", "unpaired") is None
    assert lookup("pix2pix/facades", "unpaired") is None
    assert dataset_folder("facades", tmp_path) == tmp_path / "facades"
    assert dataset_folder("facades", tmp_path, "aligned") == tmp_path / "pix2pix" / "facades"
    assert dataset_folder("mini_pix2pix", tmp_path, "aligned") == tmp_path / "mini_pix2pix"
    assert dataset_folder("my_own", tmp_path) == tmp_path / "my_own"
    with pytest.raises(UserError, match="unknown dataset kind 'paired': one of unpaired, aligned, single"):
        lookup("facades", "paired")


# ---------------------------------------------------------------------------------------------------------------
# Download on first use, and the cache


def test_first_use_downloads_and_extracts_then_the_cache_makes_no_request(mirror, tmp_path):
    folder = resolve_dataset("mini", tmp_path, progress=False)
    assert folder == tmp_path / "mini"
    assert sorted(p.name for p in folder.iterdir()) == ["testA", "testB", "trainA", "trainB"]
    assert (folder / "trainB" / "1.png").read_bytes() == unpaired_files()["mini/trainB/1.png"]
    assert mirror.requests == [("/cyclegan/datasets/mini.zip", None)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mini"]  # archive deleted, .downloads removed
    assert resolve_dataset("mini", tmp_path) == folder
    assert len(mirror.requests) == 1


def test_aligned_datasets_come_from_pix2pix_into_their_own_folder(mirror, tmp_path):
    folder = resolve_dataset("facades", tmp_path, kind="aligned", keep_archive=True, progress=False)
    assert folder == tmp_path / "pix2pix" / "facades"
    assert sorted(p.name for p in folder.iterdir()) == ["test", "train", "val"]
    assert len(list(folder.rglob("*.jpg"))) == 6
    assert (tmp_path / ".downloads" / "facades.tar.gz").read_bytes() == \
        mirror.files["/pix2pix/datasets/facades.tar.gz"]
    assert not (tmp_path / "facades").exists()  # the unpaired facades is another dataset
    assert mirror.requests == [("/pix2pix/datasets/facades.tar.gz", None)]


def test_train_dataset_name_downloads_on_first_use(mirror, tmp_path):
    root = resolve_dataroot(TrainConfig(dataset="mini", data_dir=str(tmp_path)))
    assert root == tmp_path / "mini" and (root / "trainA" / "0.png").is_file()


def test_a_404_names_the_url_and_how_to_place_the_data(server, monkeypatch, tmp_path):
    monkeypatch.setenv(MIRROR_ENV, server.base)
    url = f"{server.base}/cyclegan/datasets/apple2orange.zip"
    with pytest.raises(UserError) as error:
        resolve_dataset("apple2orange", tmp_path, progress=False)
    assert str(error.value) == (
        f"cannot download {url}: the server answered HTTP 404 Not Found. Check the connection, or use a mirror "
        f"({MIRROR_ENV}=URL or --mirror URL), or place the data by hand at {tmp_path / 'apple2orange'}: download "
        f"{url} elsewhere, unpack it and put its trainA/ trainB/ testA/ testB/ folders there (or train with "
        "--dataroot DIR)")
    assert not (tmp_path / "apple2orange").exists()


def test_offline_gives_one_message_naming_the_url(monkeypatch, tmp_path):
    base = closed_port_url()
    monkeypatch.setenv(MIRROR_ENV, base)
    with pytest.raises(UserError) as error:
        resolve_dataset("horse2zebra", tmp_path, progress=False)
    message = str(error.value)
    assert message.startswith(f"cannot download {base}/cyclegan/datasets/horse2zebra.zip: the connection was "
                              "refused (nothing is listening there). Check the connection")
    assert f"by hand at {tmp_path / 'horse2zebra'}: download " in message
    assert "put its trainA/ trainB/ testA/ testB/ folders there" in message
    assert "\n" not in message


def test_a_damaged_download_is_deleted_and_the_next_call_downloads_again(mirror, tmp_path):
    good = mirror.files["/cyclegan/datasets/mini.zip"]
    mirror.files["/cyclegan/datasets/mini.zip"] = good[: len(good) // 2]
    with pytest.raises(UserError, match="is damaged: not a complete zip or tar archive .*The archive was deleted: "
                                        "run the command again to download it again"):
        resolve_dataset("mini", tmp_path, progress=False)
    assert not (tmp_path / "mini").exists() and not (tmp_path / ".downloads" / "mini.zip").exists()
    mirror.files["/cyclegan/datasets/mini.zip"] = good
    assert (resolve_dataset("mini", tmp_path, progress=False) / "trainA" / "0.png").is_file()
    assert len(mirror.requests) == 2


def test_an_interrupted_download_resumes_on_the_next_call(mirror, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "fetch", functools.partial(download.fetch, retries=0))
    mirror.cut_next = 1
    with pytest.raises(UserError, match="was interrupted after .* run the same command again to resume"):
        resolve_dataset("mini", tmp_path, progress=False)
    assert (tmp_path / ".downloads" / "mini.zip.part").is_file()
    assert resolve_dataset("mini", tmp_path, progress=False) == tmp_path / "mini"
    assert mirror.requests[1][1].startswith("bytes=")


def test_cityscapes_explains_the_manual_steps(tmp_path):
    with pytest.raises(UserError) as error:
        resolve_dataset("cityscapes", tmp_path)
    message = str(error.value)
    for text in ("cannot be downloaded automatically", "https://www.cityscapes-dataset.com",
                 "gtFine_trainvaltest.zip", "leftImg8bit_trainvaltest.zip", "prepare_cityscapes_dataset.py",
                 f"put trainA/ trainB/ in {tmp_path / 'cityscapes'}", "rename valA/ valB/ to testA/ testB/"):
        assert text in message
    with pytest.raises(UserError, match=re.escape(f"put its train/ and val/ folders (A|B images) in "
                                                  f"{tmp_path / 'pix2pix' / 'cityscapes'}")):
        resolve_dataset("cityscapes", tmp_path, kind="aligned")


def test_a_folder_placed_by_hand_is_used_without_a_request(server, monkeypatch, tmp_path):
    monkeypatch.setenv(MIRROR_ENV, server.base)
    (tmp_path / "cityscapes" / "trainA").mkdir(parents=True)
    (tmp_path / "horse2zebra" / "trainA").mkdir(parents=True)
    assert resolve_dataset("cityscapes", tmp_path) == tmp_path / "cityscapes"
    assert resolve_dataset("horse2zebra", tmp_path) == tmp_path / "horse2zebra"
    assert server.requests == []


def test_name_and_folder_mistakes(tmp_path):
    with pytest.raises(UserError, match=re.escape(
            f"dataset 'my_set' not found at {tmp_path / 'my_set'}: put its trainA/ trainB/ testA/ testB/ folders "
            "there")):
        resolve_dataset("my_set", tmp_path)
    with pytest.raises(UserError, match=re.escape("'edges2shoes' is an aligned dataset (train/ val/ test/ folders "
                                                  "of A|B side-by-side images), not an unpaired one")):
        resolve_dataset("edges2shoes", tmp_path)
    with pytest.raises(UserError, match="dataset 'apple2orange' is not downloaded yet .* run cyclegan-tf datasets "
                                        "download apple2orange"):
        resolve_dataset("apple2orange", tmp_path, download=False)
    (tmp_path / "horse2zebra").mkdir()
    (tmp_path / "horse2zebra" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match=re.escape(f"{tmp_path / 'horse2zebra'} exists but holds no trainA/")):
        resolve_dataset("horse2zebra", tmp_path)


# ---------------------------------------------------------------------------------------------------------------
# Commands


def test_cli_download_twice_then_list(mirror, tmp_path):
    first = run("datasets", "download", "mini", "--data-dir", tmp_path)
    assert first.exit_code == 0, first.output
    assert first.output.strip().splitlines()[-1] == f"mini: ready in {tmp_path / 'mini'}"
    second = run("datasets", "download", "mini", "--data-dir", tmp_path)
    assert second.output.strip() == f"mini: already in {tmp_path / 'mini'}"
    assert len(mirror.requests) == 1
    listing = run("datasets", "list", "--data-dir", tmp_path).output.splitlines()
    assert listing[0] == f"data dir: {tmp_path}"
    rows = {line.split()[0]: line.split()[1:] for line in listing[2:-1]}
    assert len(rows) == 21
    assert rows["mini"] == ["unpaired", "~1", "MB", "cached"]
    assert rows["pix2pix/edges2handbags"] == ["aligned", "~8.6", "GB", "not", "downloaded"]
    assert rows["cityscapes"] == ["unpaired", "-", "manual", "(licence)"]


def test_cli_download_mirror_option_and_kind(server, tmp_path, monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    server.files["/pix2pix/datasets/facades.tar.gz"] = make_tar_gz(aligned_files("facades"))
    result = run("datasets", "download", "facades", "--kind", "aligned", "--mirror", server.base,
                 "--data-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pix2pix" / "facades" / "train" / "1.jpg").is_file()


def test_cli_download_mistakes_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, closed_port_url())
    one_line_error(run("datasets", "download", "nosuch", "--data-dir", tmp_path),
                   "unknown dataset 'nosuch': `cyclegan-tf datasets list` shows the names")
    one_line_error(run("datasets", "download", "edges2shoes", "--kind", "unpaired", "--data-dir", tmp_path),
                   "'edges2shoes' has no unpaired dataset (it is aligned)")
    one_line_error(run("datasets", "download", "cityscapes", "--data-dir", tmp_path),
                   "'cityscapes' cannot be downloaded automatically")
    one_line_error(run("datasets", "download", "mini", "--data-dir", tmp_path),
                   "the connection was refused (nothing is listening there)")
    assert run("datasets", "download", "mini", "--timeout", "0").exit_code == 2


def test_train_dataset_offline_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, closed_port_url())
    line = one_line_error(run("train", "--dataset", "apple2orange", "--data-dir", tmp_path, "--checkpoints-dir",
                              tmp_path / "runs"), "cannot download ")
    assert "/cyclegan/datasets/apple2orange.zip: the connection was refused" in line


def test_datasets_sh_lists_the_names_and_downloads(mirror, tmp_path):
    env = {**os.environ, "CYCLEGAN_TF_DATA": str(tmp_path), MIRROR_ENV: mirror.base}
    usage = subprocess.run(["bash", str(ROOT / "datasets.sh"), "--help"], env=env, capture_output=True, text=True)
    assert usage.returncode == 0, usage.stderr
    assert "Usage: bash datasets.sh NAME" in usage.stdout
    for key in REGISTRY:
        assert re.search(rf"^{re.escape(key)} ", usage.stdout, re.M), key
    got = subprocess.run(["bash", str(ROOT / "datasets.sh"), "mini"], env=env, capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == f"mini: ready in {tmp_path / 'mini'}"
    assert (tmp_path / "mini" / "testB" / "1.png").is_file()
    bad = subprocess.run(["bash", str(ROOT / "datasets.sh"), "nosuch"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "Error: unknown dataset 'nosuch': `cyclegan-tf datasets list` shows the names"


def test_a_local_folder_works_as_a_mirror(tmp_path):
    mirror_dir = tmp_path / "mirror" / "cyclegan" / "datasets"
    mirror_dir.mkdir(parents=True)
    (mirror_dir / "mini.zip").write_bytes(make_zip(unpaired_files("mini")))
    folder = resolve_dataset("mini", tmp_path / "data", mirror=(tmp_path / "mirror").as_uri(), progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["testA", "testB", "trainA", "trainB"]


def test_pix2pix_trains_on_an_aligned_dataset_by_name_and_is_evaluated(server, monkeypatch, tmp_path):
    """`train --model pix2pix --dataset facades` downloads the aligned set (from the local server), trains on
    its A|B pairs in the direction asked, writes samples, and `evaluate` scores it on test/."""
    import io

    import numpy as np
    from PIL import Image

    def pair(j: int) -> bytes:
        a, b = np.full((32, 32, 3), (40 * j, 20, 200), np.uint8), np.full((32, 32, 3), (200, 40 * j, 20), np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(np.concatenate([a, b], axis=1)).save(buffer, "JPEG")
        return buffer.getvalue()

    server.files["/pix2pix/datasets/facades.tar.gz"] = make_tar_gz(
        {f"facades/{split}/{j}.jpg": pair(j) for split in ("train", "val", "test") for j in range(1, 4)})
    monkeypatch.setenv(MIRROR_ENV, server.base)
    runs = tmp_path / "runs"
    result = run("train", "--model", "pix2pix", "--dataset", "facades", "--direction", "BtoA", "--data-dir",
                 tmp_path / "data", "--checkpoints-dir", runs, "--name", "f", "--netG", "resnet_6blocks", "--ngf", 4,
                 "--ndf", 4, "--load-size", 32, "--crop-size", 32, "--n-epochs", 1, "--n-epochs-decay", 1, "--quiet",
                 "--n-samples", 2)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "pix2pix" / "facades" / "train" / "1.jpg").is_file()
    assert server.requests == [("/pix2pix/datasets/facades.tar.gz", None)]
    assert (runs / "f" / "samples" / "epoch_002.png").is_file()
    result = run("evaluate", "--name", "f", "--checkpoints-dir", runs, "--no-fid")
    assert result.exit_code == 0, result.output
    header, row = result.output.splitlines()[1:3]
    assert "L1 to target" in header and "cycle L1" not in header
    assert row.split()[:3] == ["BtoA", "3", "(test)"]
