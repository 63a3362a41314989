"""`datasets inspect`, `combine` and `resize`: every bad kind of file, and what the user sees for it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cyclegan_tf.cli.main import main
from cyclegan_tf.data.tools import combine, inspect_dataset, resize_images
from cyclegan_tf.errors import UserError


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def noise(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def save(path: Path, array_or_image, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    image.save(path, **options)
    return path


@pytest.fixture
def bad_dataset(tmp_path) -> Path:
    """An unpaired dataset whose trainA holds one of each bad kind; trainB a duplicate; testA empty."""
    root = tmp_path / "ds"
    a = root / "trainA"
    save(a / "good1.png", noise(300, 300, 1))
    save(a / "good2.jpg", noise(300, 300, 2), quality=90)
    (a / "zero.png").write_bytes(b"")
    data = (a / "good2.jpg").read_bytes()
    (a / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (a / "text.png").write_text("this is not an image")
    save(a / "cmyk.jpg", Image.new("CMYK", (300, 300), (0, 255, 255, 0)))
    save(a / "gray16.png", Image.fromarray(np.full((300, 300), 40000, np.uint16)))
    palette = Image.new("P", (300, 300), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    save(a / "palette.png", palette, transparency=0)
    save(a / "tiny.png", noise(1, 1, 3))
    (a / "dir.png").mkdir()
    (a / "notes.txt").write_text("where the photos came from")
    (a / ".DS_Store").write_bytes(b"\0")
    save(root / "trainB" / "b1.png", noise(300, 300, 4))
    (root / "trainB" / "copy_of_good1.png").write_bytes((a / "good1.png").read_bytes())
    (root / "testA").mkdir()
    save(root / "testB" / "t1.png", noise(256, 256, 5))
    return root


def by_message(report, start: str):
    found = [p for p in report.problems if p.message.startswith(start)]
    assert len(found) == 1, [p.message for p in report.problems]
    return found[0]


def test_inspect_reports_each_bad_kind(bad_dataset):
    report = inspect_dataset(bad_dataset, crop_size=256)
    assert report.kind == "unpaired"
    counts = {s.name: (len(s.readable), len(s.unreadable), len(s.other_files) + len(s.image_named_folders))
              for s in report.splits}
    assert counts == {"trainA": (6, 3, 2), "trainB": (2, 0, 0), "testA": (0, 0, 0), "testB": (1, 0, 0)}
    assert report.modes == {"RGB": 6, "CMYK": 1, "I;16": 1, "P": 1}
    assert report.sizes == {(300, 300): 7, (1, 1): 1, (256, 256): 1}

    unreadable = by_message(report, "unreadable image files")
    assert unreadable.level == "error"
    assert unreadable.items[0] == "trainA/text.png: not an image Pillow can read (wrong extension or unknown format)"
    assert unreadable.items[1].startswith("trainA/truncated.jpg: OSError: image file is truncated")
    assert unreadable.items[2] == "trainA/zero.png: empty file (0 bytes)"
    assert len(unreadable.items) == 3
    assert by_message(report, "folders named like images").items == ["trainA/dir.png/"]
    assert by_message(report, "files without an image extension").items == ["trainA/notes.txt"]
    small = by_message(report, "images smaller than --crop-size 256")
    assert small.level == "warning" and small.items == ["trainA/tiny.png: 1x1"]
    mixed = by_message(report, "split trainA/: mixed channel counts: 1 grayscale and 5 colour image(s)")
    assert mixed.level == "warning"
    assert by_message(report, "split testA/ has no readable images").level == "warning"
    assert by_message(report, "files with identical content").items == [
        "trainA/good1.png = trainB/copy_of_good1.png"]
    converted = by_message(report, "readable images that training converts")
    assert converted.level == "note" and converted.items == [
        "trainA/cmyk.jpg: CMYK: converted to RGB",
        "trainA/gray16.png: I;16: more than 8 bits per pixel, read unrounded and scaled by --value-range (scaled "
        "to 8 bits by colorization and DCGAN)",
        "trainA/palette.png: P with transparency: composited on white",
    ]
    assert (len(report.errors), len(report.warnings)) == (1, 6)


def test_inspect_command_prints_the_report_and_exits_1_on_errors(bad_dataset):
    result = run("datasets", "inspect", bad_dataset, "--limit", "2")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"{bad_dataset} (unpaired dataset)"
    assert lines[2].split() == ["trainA", "6", "3", "2"]
    assert "modes: RGB: 6, CMYK: 1, I;16: 1, P: 1" in lines
    assert "error: unreadable image files (training skips them, or stops with --strict) (3)" in lines
    assert "    trainA/zero.png: empty file (0 bytes)" not in lines  # cut by --limit 2 ...
    assert "    ... and 1 more (--limit 0 lists all)" in lines
    assert lines[-1] == "1 error(s), 6 warning(s)"
    assert "Traceback" not in result.output


def test_the_trainer_check_agrees_with_inspect(bad_dataset, caplog):
    from cyclegan_tf.data.images import list_images
    from cyclegan_tf.data.pipeline import check_images

    with caplog.at_level(logging.WARNING, logger="cyclegan_tf"):
        kept = check_images(list_images(bad_dataset / "trainA"))
    report = inspect_dataset(bad_dataset)
    assert sorted(p for p, _, _ in kept) == sorted(c.path for c in report.splits[0].readable)
    assert "skipping 3 unreadable image(s)" in caplog.text
    assert "mixed channel counts: 1 grayscale and 5 colour image(s)" in caplog.text


def test_a_clean_dataset_passes(tmp_path):
    for split, seed in (("trainA", 1), ("trainB", 2), ("testA", 3), ("testB", 4)):
        save(tmp_path / split / "0.png", noise(256, 256, seed))
    result = run("datasets", "inspect", tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "no problems found"


def test_warnings_fail_only_with_strict(tmp_path):
    for split, seed in (("trainA", 1), ("trainB", 2)):
        save(tmp_path / split / "0.png", noise(100, 80, seed))
    assert run("datasets", "inspect", tmp_path).exit_code == 0
    strict = run("datasets", "inspect", tmp_path, "--strict")
    assert strict.exit_code == 1
    assert "warning: images smaller than --crop-size 256 (training scales them up, so they look blurred) (2)" in \
        strict.output.splitlines()
    assert run("datasets", "inspect", tmp_path, "--crop-size", "64", "--strict").exit_code == 0


def test_inspect_an_aligned_dataset(tmp_path):
    save(tmp_path / "train" / "1.jpg", noise(512, 256, 1))
    save(tmp_path / "train" / "2.jpg", noise(511, 256, 2))
    save(tmp_path / "val" / "1.jpg", noise(512, 256, 3))
    report = inspect_dataset(tmp_path, crop_size=256)
    assert report.kind == "aligned" and [s.name for s in report.splits] == ["train", "val"]
    assert by_message(report, "A|B images of odd width").items == ["train/2.jpg: 511x256"]
    assert by_message(report, "A|B images whose halves are smaller than --crop-size 256").items == [
        "train/2.jpg: 511x256"]
    assert report.errors == []


def test_inspect_a_plain_folder_and_mistakes(tmp_path):
    save(tmp_path / "imgs" / "x.png", noise(300, 300))
    report = inspect_dataset(tmp_path / "imgs")
    assert report.kind == "folder" and report.problems == []
    (tmp_path / "empty").mkdir()
    result = run("datasets", "inspect", tmp_path / "empty")
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: {tmp_path / 'empty'} holds no split folders (trainA/ trainB/ testA/ "
                                     "testB/, or train/ val/ test/) and no images: give the dataset's folder")
    missing = run("datasets", "inspect", tmp_path / "nope")
    assert missing.output.strip() == f"Error: folder not found: {tmp_path / 'nope'}"
    only_test = tmp_path / "only_test"
    save(only_test / "testA" / "1.png", noise(300, 300))
    report = inspect_dataset(only_test)
    assert [p.message for p in report.errors] == ["split trainA/ is missing: training needs it",
                                                  "split trainB/ is missing: training needs it"]


# ---------------------------------------------------------------------------------------------------------------
# combine


def test_combine_matches_by_name_resizes_b_and_reports_the_rest(tmp_path):
    a, b, out = tmp_path / "A", tmp_path / "B", tmp_path / "AB"
    a1, a2 = noise(64, 32, 1), noise(40, 40, 2)
    save(a / "1.png", a1)
    save(a / "2.jpg", a2, quality=95)
    save(a / "3.png", noise(8, 8, 3))  # no partner
    save(a / "x.png", noise(8, 8, 4))  # two files named x: ambiguous
    save(a / "x.jpg", noise(8, 8, 5))
    save(b / "1.png", np.full((16, 32, 3), 200, np.uint8))  # half A's size: resized to 64x32
    save(b / "2.png", noise(40, 40, 6))
    save(b / "4.png", noise(8, 8, 7))  # no partner
    save(b / "x.png", noise(8, 8, 8))
    result = combine(a, b, out)
    assert result.written == [out / "1.png", out / "2.jpg"]
    assert (result.only_a, result.only_b, result.ambiguous, result.failed) == (["3"], ["4"], ["x"], [])
    pair = np.asarray(Image.open(out / "1.png"))
    assert pair.shape == (32, 128, 3)
    assert np.array_equal(pair[:, :64], a1) and (pair[:, 64:] == 200).all()
    assert Image.open(out / "2.jpg").size == (80, 40)
    assert sorted(p.name for p in out.iterdir()) == ["1.png", "2.jpg"]


def test_combine_command_output_and_mistakes(tmp_path):
    a, b, out = tmp_path / "A", tmp_path / "B", tmp_path / "AB"
    save(a / "1.png", noise(16, 16, 1))
    save(a / "only_a.png", noise(16, 16, 2))
    save(b / "1.png", noise(16, 16, 3))
    save(b / "only_b.png", noise(16, 16, 4))
    result = run("datasets", "combine", "--a", a, "--b", b, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"wrote 1 A|B image(s) to {out}", "only in A, skipped (1): only_a",
                                          "only in B, skipped (1): only_b"]
    again = run("datasets", "combine", "--a", a, "--b", b, "--out", out)
    assert again.exit_code == 1
    assert again.output.strip() == f"Error: {out} already holds 1 of the output files (e.g. 1.png): add --overwrite " \
                                   "to replace them"
    assert run("datasets", "combine", "--a", a, "--b", b, "--out", out, "--overwrite").exit_code == 0
    inside = run("datasets", "combine", "--a", a, "--b", b, "--out", a / "AB")
    assert inside.output.strip() == f"Error: --out {a / 'AB'} must be outside the input folder {a}"
    c = tmp_path / "C"
    save(c / "zzz.png", noise(8, 8))
    nomatch = run("datasets", "combine", "--a", a, "--b", c, "--out", tmp_path / "out2")
    assert nomatch.output.strip() == (f"Error: no file names match between {a} and {c} (pairs are matched by name "
                                      "without extension): only in A: 1, only_a; only in B: zzz")
    missing = run("datasets", "combine", "--a", tmp_path / "nope", "--b", b, "--out", tmp_path / "out3")
    assert missing.output.strip() == f"Error: folder not found: {tmp_path / 'nope'}"


def test_combine_splits_and_unreadable_partners(tmp_path):
    a, b, out = tmp_path / "A", tmp_path / "B", tmp_path / "AB"
    for split in ("train", "val"):
        save(a / split / "1.png", noise(16, 16, 1))
        save(b / split / "1.png", noise(16, 16, 2))
    (b / "val" / "2.png").write_bytes(b"")
    save(a / "val" / "2.png", noise(16, 16, 3))
    result = run("datasets", "combine", "--a", a, "--b", b, "--out", out)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"wrote 2 A|B image(s) to {out}", f"1 of 3 files skipped: {b / 'val' / '2.png'}: empty file (0 bytes)"]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.png")) == ["train/1.png", "val/1.png"]


# ---------------------------------------------------------------------------------------------------------------
# resize


def test_resize_cover_and_fit_keep_names_and_modes(tmp_path):
    src = tmp_path / "src"
    stripes = np.zeros((200, 400, 3), np.uint8)
    stripes[:, :100] = (255, 0, 0)
    stripes[:, 100:300] = (0, 255, 0)
    stripes[:, 300:] = (0, 0, 255)
    save(src / "trainA" / "wide.jpg", stripes, quality=95)
    save(src / "trainA" / "gray.png", Image.new("L", (50, 100), 128))
    save(src / "trainB" / "rgba.png", Image.new("RGBA", (100, 100), (0, 0, 0, 0)))
    (src / "README.txt").write_text("not an image")
    cover = resize_images(src, tmp_path / "cover", 100, "cover")
    assert sorted(str(p.relative_to(tmp_path / "cover")) for p in cover.written) == [
        "trainA/gray.png", "trainA/wide.jpg", "trainB/rgba.png"]
    assert cover.skipped == [src / "README.txt"] and cover.failed == []
    wide = Image.open(tmp_path / "cover" / "trainA" / "wide.jpg")
    assert wide.size == (100, 100) and wide.format == "JPEG"
    centre = np.asarray(wide)[50, 5:95]
    assert (centre[:, 1] > 200).all() and (centre[:, 0] < 60).all()  # the centre crop is the green stripe
    gray = Image.open(tmp_path / "cover" / "trainA" / "gray.png")
    assert (gray.mode, gray.size) == ("L", (100, 100))
    rgba = Image.open(tmp_path / "cover" / "trainB" / "rgba.png")
    assert rgba.mode == "RGB" and rgba.getpixel((0, 0)) == (255, 255, 255)  # transparency on white, as training
    fit = resize_images(src, tmp_path / "fit", 100, "fit")
    assert len(fit.written) == 3
    assert Image.open(tmp_path / "fit" / "trainA" / "wide.jpg").size == (100, 50)
    assert Image.open(tmp_path / "fit" / "trainA" / "gray.png").size == (50, 100)


def test_resize_command_output_and_mistakes(tmp_path):
    src = tmp_path / "src"
    save(src / "a.png", noise(30, 20))
    (src / "broken.png").write_text("nope")
    result = run("datasets", "resize", src, tmp_path / "dst", "--size", "16", "--mode", "fit")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"wrote 1 image(s) to {tmp_path / 'dst'}",
        f"1 of 2 files skipped: {src / 'broken.png'}: not an image Pillow can read (wrong extension or unknown "
        "format)"]
    assert Image.open(tmp_path / "dst" / "a.png").size == (16, 11)
    inside = run("datasets", "resize", src, src / "small", "--size", "16")
    assert inside.exit_code == 1
    assert inside.output.strip() == f"Error: DST {src / 'small'} must be outside the input folder {src}"
    assert run("datasets", "resize", src, tmp_path / "d2", "--size", "0").exit_code == 2
    assert run("datasets", "resize", src, tmp_path / "d2", "--size", "8", "--mode", "stretch").exit_code == 2
    (tmp_path / "empty").mkdir()
    empty = run("datasets", "resize", tmp_path / "empty", tmp_path / "d3", "--size", "8")
    assert empty.output.strip().startswith("Error: no images (.jpg, .jpeg, .png, ")
    with pytest.raises(UserError, match="unknown resize mode 'stretch'"):
        resize_images(src, tmp_path / "d4", 8, "stretch")
