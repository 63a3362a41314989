"""The data pipeline: file discovery, decoding of every image mode, bad files, preprocessing."""

import logging

import numpy as np
import pytest
from PIL import Image

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.data.images import list_images, load_image
from cyclegan_tf.data.pipeline import check_images, resized_size, unpaired_dataset
from cyclegan_tf.errors import UserError


def _save(path, array, mode=None, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path, **kwargs) if mode else Image.fromarray(array).save(path, **kwargs)
    return path


def _rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_list_images_any_case_sorted_and_only_images(tmp_path):
    for name in ["b.PNG", "a.jpg", "c.JpEg", "d.bmp", "e.GIF", "f.webp"]:
        _save(tmp_path / name, _rgb(4, 4))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "dir.png").mkdir()  # a directory named like an image
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.JpEg", "d.bmp", "e.GIF", "f.webp"]
    assert len(list_images(tmp_path, max_count=2)) == 2


def test_missing_and_empty_folders_are_named(tmp_path):
    with pytest.raises(UserError, match="folder not found: .*nowhere"):
        list_images(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images .* in .*empty"):
        list_images(tmp_path / "empty")


def test_load_image_converts_every_mode(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    assert load_image(_save(tmp_path / "g.png", gray), 1)[..., 0].tolist() == gray.tolist()
    assert load_image(tmp_path / "g.png", 3).shape == (3, 4, 3)  # gray -> RGB repeats the channel
    # RGBA: transparent pixels composite onto white.
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = [255, 0, 0, 255]
    out = load_image(_save(tmp_path / "a.png", rgba, "RGBA"), 3)
    assert out[0, 0].tolist() == [255, 0, 0] and out[1, 1].tolist() == [255, 255, 255]
    # Palette with a transparent index.
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 255, 10, 20, 30] + [0] * 762)
    palette.putpixel((0, 0), 0)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "p.png", transparency=0)
    assert load_image(tmp_path / "p.png", 3).tolist() == [[[255, 255, 255], [10, 20, 30]]]
    # 16-bit grayscale scales to 8 bits.
    Image.fromarray(np.array([[0, 65535, 257 * 100]], np.uint16)).save(tmp_path / "16.png")
    assert load_image(tmp_path / "16.png", 1)[..., 0].tolist() == [[0, 255, 100]]
    # CMYK JPEG.
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    red = load_image(tmp_path / "cmyk.jpg", 3)[0, 0]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_bad_files_are_reported_before_training(tmp_path, caplog):
    good = [_save(tmp_path / f"ok{i}.png", _rgb(8, 8, i)) for i in range(3)]
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("this is not an image")
    _save(tmp_path / "full.jpg", _rgb(64, 64), quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    bad = [tmp_path / "zero.png", tmp_path / "text.png", tmp_path / "truncated.jpg"]
    with caplog.at_level(logging.WARNING, logger="cyclegan_tf"):
        kept = check_images(good + bad)
    assert [p for p, _, _ in kept] == good
    assert "skipping 3 unreadable image(s)" in caplog.text
    for path in bad:
        assert str(path) in caplog.text
    with pytest.raises(UserError, match="3 unreadable image"):
        check_images(good + bad, strict=True)


@pytest.mark.parametrize("preprocess,size,expected", [
    ("resize_and_crop", (500, 300), (286, 286)),
    ("crop", (500, 300), (300, 500)),
    ("crop", (100, 200), (512, 256)),  # too small to crop 256: scaled up, aspect kept
    ("scale_width", (572, 286), (256, 288)),  # width 286, height max(143, 256), rounded to 4
    ("scale_width_and_crop", (286, 572), (572, 286)),
    ("none", (173, 251), (252, 172)),  # rounded to the ResNet's multiple of 4
])
def test_resized_size(preprocess, size, expected):
    cfg = TrainConfig(dataset="x", preprocess=preprocess)
    assert resized_size(*size, cfg) == expected


def _folders(root, sizes_a, sizes_b, channels_a=3):
    for split, sizes in (("trainA", sizes_a), ("trainB", sizes_b)):
        for i, (h, w) in enumerate(sizes):
            array = _rgb(h, w, i)
            if split == "trainA" and channels_a == 1:
                array = array[..., 0]
            _save(root / split / f"{i}.png", array)
    return root


def test_unpaired_dataset_epoch_shapes_and_ranges(tmp_path):
    root = _folders(tmp_path, [(40, 50)] * 3, [(60, 36)] * 5, channels_a=1)
    cfg = TrainConfig(dataroot=str(root), load_size=40, crop_size=32, batch_size=2, input_nc=1, seed=1)
    data = unpaired_dataset(root, cfg)
    assert data.steps_per_epoch == 3  # ceil(max(3, 5) / 2)
    assert data.image_shape == (32, 32) and data.counts == {"A": 3, "B": 5}
    a, b = next(iter(data.dataset))
    assert a.shape == (2, 32, 32, 1) and b.shape == (2, 32, 32, 3)
    assert -1.0 <= float(np.min(a)) and float(np.max(b)) <= 1.0 and float(np.max(b)) > 0.9


def test_flip_and_crop_are_random_and_off_when_asked(tmp_path):
    root = _folders(tmp_path, [(32, 32)], [(32, 32)])
    cfg = TrainConfig(dataroot=str(root), preprocess="none", seed=3)
    images = {tuple(np.asarray(a).ravel()[:8]) for a, _ in unpaired_dataset(root, cfg).dataset.take(20)}
    assert len(images) == 2  # the image and its mirror
    cfg.no_flip = True
    images = {tuple(np.asarray(a).ravel()[:8]) for a, _ in unpaired_dataset(root, cfg).dataset.take(10)}
    assert len(images) == 1


def test_variable_sizes_need_batch_one(tmp_path):
    root = _folders(tmp_path, [(40, 40), (48, 64)], [(40, 40)])
    cfg = TrainConfig(dataroot=str(root), preprocess="none", batch_size=1)
    data = unpaired_dataset(root, cfg)
    assert data.image_shape is None
    shapes = {tuple(a.shape) for a, _ in data.dataset.take(8)}
    assert shapes == {(1, 40, 40, 3), (1, 48, 64, 3)}
    cfg.batch_size = 2
    with pytest.raises(UserError, match="different sizes"):
        unpaired_dataset(root, cfg)


def test_crop_size_must_suit_the_generator(tmp_path):
    root = _folders(tmp_path, [(40, 40)], [(40, 40)])
    with pytest.raises(UserError, match="multiple of 256"):
        unpaired_dataset(root, TrainConfig(dataroot=str(root), netG="unet_256", load_size=300, crop_size=250))


def test_images_too_small_for_the_discriminator_are_refused_before_training(tmp_path):
    root = _folders(tmp_path, [(16, 16)], [(16, 16)])
    with pytest.raises(UserError, match="16 px are too small for --netD basic, which needs at least 24 px"):
        unpaired_dataset(root, TrainConfig(dataroot=str(root), preprocess="none"))
    data = unpaired_dataset(root, TrainConfig(dataroot=str(root), preprocess="none", netD="pixel"))
    assert data.image_shape == (16, 16)
