"""pix2pix: the aligned loader, the model's step and switches, presets, a short run on the paired demo set,
checkpoints, resume and translate on a pix2pix run."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cyclegan_tf.config import TrainConfig, make_config
from cyclegan_tf.data import labels2photo, splits
from cyclegan_tf.data.images import load_image, split_pair
from cyclegan_tf.data.pipeline import aligned_dataset
from cyclegan_tf.errors import UserError
from cyclegan_tf.evaluation import evaluate, exact, fcn
from cyclegan_tf.inference.translator import Translator, load_translator
from cyclegan_tf.models.pix2pix import Pix2Pix
from cyclegan_tf.models.registry import build_generator, build_model
from cyclegan_tf.runs import checkpoints, report
from cyclegan_tf.training.trainer import train

from .test_evaluate import tiny_extractor
from .test_health import assert_no_alarm

# The short run below (3 epochs of 150 pairs at 64 px, ngf = ndf = 16, seed 0) reached a per-pixel FCN accuracy
# of 0.77 where its untrained generator gets 0.40 (measured; 0.82 with 300 pairs); the test asks for a gain of 0.3
# at least.
MARGIN = 0.3
RED, BLUE, GREY = (255, 0, 0), (0, 0, 255), (90, 90, 90)


def small_config(**overrides) -> TrainConfig:
    values = dict(dataset="x", model="pix2pix", netG="resnet_6blocks", ngf=8, ndf=8, norm="batch",
                  gan_mode="vanilla", pool_size=0, dropout=True, n_epochs=1, n_epochs_decay=1, seed=0)
    return TrainConfig(**{**values, **overrides})


# ------------------------------------------------------------------------------------------------ aligned data

def test_split_pair_drops_the_last_column_of_an_odd_width():
    image = np.arange(5 * 11).reshape(5, 11)
    a, b = split_pair(image)
    assert a.shape == b.shape == (5, 5)
    assert (a == image[:, :5]).all() and (b == image[:, 5:10]).all()


def marked_pair(path, size: int = 40) -> None:
    """An A|B image of odd width: both halves grey with a red marker left of a blue one at the same places,
    and a white last column that must be dropped."""
    half = np.full((size, size, 3), GREY, np.uint8)
    half[16, 14], half[16, 24] = RED, BLUE
    image = np.concatenate([half, half, np.full((size, 1, 3), 255, np.uint8)], axis=1)
    Image.fromarray(image).save(path)


def markers(image: np.ndarray) -> tuple[tuple, tuple]:
    """(row, col) of the red and the blue marker in a [-1, 1] image."""
    u8 = np.round((image + 1) * 127.5).astype(int)
    red = np.argwhere((u8 == RED).all(-1))
    blue = np.argwhere((u8 == BLUE).all(-1))
    assert len(red) == len(blue) == 1, "each marker appears exactly once"
    return tuple(red[0]), tuple(blue[0])


def test_aligned_loader_applies_one_crop_and_flip_to_both_halves(tmp_path):
    (tmp_path / "train").mkdir()
    for i in range(3):
        marked_pair(tmp_path / "train" / f"{i}.png")
    cfg = small_config(preprocess="crop", crop_size=32, load_size=32, seed=3, batch_size=1)
    data = aligned_dataset(tmp_path, cfg)
    assert data.steps_per_epoch == 3 and data.image_shape == (32, 32)
    flips, positions = 0, set()
    for a, b in data.dataset.take(60):
        a, b = a.numpy()[0], b.numpy()[0]
        assert a.shape == b.shape == (32, 32, 3)
        assert not (np.round((b + 1) * 127.5) == 255).all(-1).any()  # the odd last column was dropped
        assert markers(a) == markers(b)  # the same crop and flip for both halves
        (_, red_col), (_, blue_col) = markers(a)
        flips += red_col > blue_col
        positions.add(markers(a))
    assert 10 < flips < 50  # flips happen, about half of the time
    assert len(positions) > 10  # and so do different crops


def test_aligned_loader_channels_and_direction(tmp_path):
    (tmp_path / "train").mkdir()
    marked_pair(tmp_path / "train" / "0.png")
    for direction, shapes in (("AtoB", (1, 3)), ("BtoA", (3, 1))):
        cfg = small_config(preprocess="none", input_nc=1, output_nc=3, direction=direction)
        source, target = next(iter(aligned_dataset(tmp_path, cfg).dataset))
        assert (source.shape[-1], target.shape[-1]) == shapes
        assert source.shape[1:3] == (40, 40)  # each half 40 wide (width 81 // 2), size step 4


def test_aligned_loader_needs_a_train_folder(tmp_path):
    with pytest.raises(UserError, match="train/"):
        aligned_dataset(tmp_path, small_config())


# ------------------------------------------------------------------------------------------------ the model

def batch(seed: int, input_nc: int = 3, output_nc: int = 3):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (1, 32, 32, input_nc)).astype("float32"),
            rng.uniform(-1, 1, (1, 32, 32, output_nc)).astype("float32"))


def test_pix2pix_terms_and_one_step_in_the_reference_order():
    keras.utils.set_random_seed(0)
    model = build_model(small_config(input_nc=1, output_nc=3), 1, None)
    assert isinstance(model, Pix2Pix)
    assert model.D.input_shape[-1] == 1 + 3  # conditional: concat(input, output)
    x, y = batch(0, 1, 3)
    terms = model.generator_losses(x, y, training=False)
    fake = model.G_AB(x, training=False)
    assert set(terms) == {"G_GAN", "G_L1"}
    assert float(terms["G_L1"]) == pytest.approx(100 * float(np.abs(fake - y).mean()), rel=1e-4)
    d_before = [w.numpy().copy() for w in model.D.trainable_weights]
    logs = model.train_step((x, y))  # eagerly: no tracing
    # and the training-health signals (no change signal: its input and output have other channels)
    assert set(logs) == {"G_GAN", "G_L1", "D", "lr", "health_spread", "health_D", "health_G_gan", "health_gan_share"}
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert int(model.step_counter.numpy()) == 1
    assert int(model.g_optimizer.iterations.numpy()) == int(model.d_optimizer.iterations.numpy()) == 1
    assert any(not np.allclose(b, w.numpy()) for b, w in zip(d_before, model.D.trainable_weights, strict=True))


@pytest.mark.parametrize("switches, expected", [
    (dict(lambda_L1=0.0), "GAN alone: G_L1 is 0"),
    (dict(no_gan=True), "L1 alone: no G_GAN, no D update"),
    (dict(unconditional_D=True), "D sees the output only"),
])
def test_pix2pix_ablation_switches(switches, expected):
    keras.utils.set_random_seed(1)
    model = build_model(small_config(input_nc=1, output_nc=3, **switches), 1, None)
    x, y = batch(1, 1, 3)
    terms = model.generator_losses(x, y, training=False)
    if "lambda_L1" in switches:
        assert float(terms["G_L1"]) == 0.0 and "G_GAN" in terms
    if "no_gan" in switches:
        assert set(terms) == {"G_L1"}
        d_before = [w.numpy().copy() for w in model.D.weights]
        logs = model.train_step((x, y))
        assert float(logs["G_GAN"]) == float(logs["D"]) == 0.0
        assert all(np.array_equal(b, w.numpy()) for b, w in zip(d_before, model.D.weights, strict=True))
        assert int(model.d_optimizer.iterations.numpy()) == 0
    if "unconditional_D" in switches:
        assert model.D.input_shape[-1] == 3  # output_nc
        assert set(terms) == {"G_GAN", "G_L1"}


def test_nothing_to_learn_is_a_user_error():
    with pytest.raises(UserError, match="nothing to learn"):
        small_config(no_gan=True, lambda_L1=0.0).validate()


def test_pix2pix_defaults_sit_under_the_dataset_preset_and_the_users_options(tmp_path):
    cfg = make_config(dict(model="pix2pix", dataroot=str(tmp_path)))
    assert (cfg.netG, cfg.norm, cfg.gan_mode, cfg.pool_size, cfg.dropout, cfg.lambda_L1) == \
        ("unet_256", "batch", "vanilla", 0, True, 100.0)
    assert make_config(dict(model="pix2pix", dataroot=str(tmp_path), netG="unet_128")).netG == "unet_128"
    demo = make_config(dict(model="pix2pix", dataset=labels2photo.NAME))
    assert (demo.netG, demo.norm, demo.crop_size) == ("resnet_6blocks", "batch", 64)  # dataset over model
    cycle = make_config(dict(dataroot=str(tmp_path)))
    assert (cycle.netG, cycle.norm, cycle.gan_mode, cycle.pool_size) == ("resnet_9blocks", "instance", "lsgan", 50)


# ------------------------------------------------------------------------------------------------ a real run

@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory, data_dir):
    """pix2pix (L1 + cGAN) on the paired demo set with its preset: 3 epochs of 150 pairs, evaluated after the
    last one with a small random feature extractor."""
    runs = tmp_path_factory.mktemp("runs")
    cfg = make_config(dict(model="pix2pix", dataset=labels2photo.NAME, data_dir=str(data_dir), name="p2p",
                           checkpoints_dir=str(runs), n_epochs=2, n_epochs_decay=1, save_epoch_freq=1, eval_freq=3,
                           max_dataset_size=150,
                           feature_extractor=str(tiny_extractor(runs / "tiny.keras"))))
    return cfg, train(cfg, verbose=0)


@pytest.fixture(scope="module")
def trained_fcn(pix2pix_run):
    """The FCN-score of labels -> photo of the trained run (its exact score on labels2photo_demo)."""
    cfg, result = pix2pix_run
    return exact.model_exact_scores(result.model, cfg, result.dataroot).fcn


def test_short_pix2pix_training_beats_an_untrained_generator(pix2pix_run, trained_fcn, data_dir):
    cfg, result = pix2pix_run
    assert result.step == 450 and result.epoch == 3
    assert_no_alarm(result)
    keras.utils.set_random_seed(0)
    untrained = Translator(build_generator(cfg, "AtoB"), cfg.netG)
    before = exact.labels2photo_score(untrained, data_dir / labels2photo.NAME)
    after = trained_fcn
    print(f"FCN-score per-pixel accuracy: untrained {before.pixel_accuracy:.3f}, trained {after.pixel_accuracy:.3f}")
    assert after.images == 50
    assert after.pixel_accuracy > before.pixel_accuracy + MARGIN, (before, after)
    assert after.class_iou > before.class_iou
    # The same score from the run directory (what `evaluate` reports for runs on this set).
    assert evaluate.fcn_score_run(cfg.run_dir).pixel_accuracy == pytest.approx(after.pixel_accuracy, abs=1e-6)


def test_pix2pix_checkpoints_restore_the_step_and_resume(pix2pix_run):
    cfg, result = pix2pix_run
    latest = checkpoints.latest_checkpoint(cfg.run_dir)
    assert checkpoints.read_state(latest)["groups"] == ["G_AB", "D", "g_optimizer", "d_optimizer", "step_counter"]
    fresh = build_model(cfg, 150, None)
    checkpoints.restore(latest, checkpoints.parts_of(fresh, checkpoints.all_groups(fresh)))
    assert int(fresh.step_counter.numpy()) == result.step
    assert int(fresh.g_optimizer.iterations.numpy()) == result.step
    for mine, theirs in zip(fresh.G_AB.weights, result.model.G_AB.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    # Resuming a finished run reads the step back and has nothing left to train.
    resumed = train(make_config(dict(name=cfg.name, checkpoints_dir=cfg.checkpoints_dir, continue_train=True)),
                    verbose=0)
    assert resumed.step == result.step and resumed.history == {}


def test_translate_on_a_pix2pix_run(pix2pix_run, data_dir, tmp_path):
    from cyclegan_tf.cli.main import main

    cfg, _ = pix2pix_run
    label_image, _ = exact.test_pairs(data_dir / labels2photo.NAME, limit=1)[0]
    translator = load_translator(cfg.run_dir)  # the run's own direction
    photo = translator(label_image)
    assert photo.shape == (64, 64, 3) and photo.dtype == np.uint8
    assert load_translator(cfg.run_dir, training=True)(label_image).shape == (64, 64, 3)
    with pytest.raises(UserError, match="trained AtoB only"):
        load_translator(cfg.run_dir, "BtoA")
    Image.fromarray(label_image).save(tmp_path / "labels.png")
    out = CliRunner().invoke(main, ["translate", str(tmp_path / "labels.png"), "--name", cfg.name,
                                    "--checkpoints-dir", cfg.checkpoints_dir, "-o", str(tmp_path / "out")])
    assert out.exit_code == 0, out.output
    assert np.asarray(Image.open(tmp_path / "out" / "labels.png")).shape == (64, 64, 3)
    out = CliRunner().invoke(main, ["translate", str(tmp_path / "labels.png"), "--name", cfg.name, "--direction",
                                    "BtoA", "--checkpoints-dir", cfg.checkpoints_dir])
    assert out.exit_code == 1 and "trained AtoB only" in out.output


def test_a_pix2pix_run_is_watched_like_a_cyclegan_run(pix2pix_run, data_dir, trained_fcn):
    cfg, result = pix2pix_run
    run = cfg.run_dir
    assert [epoch for epoch, _ in report.numbered(run / "samples")] == [1, 2, 3]
    grid = load_image(run / "samples" / "epoch_003.png")
    # n_samples 4 rows of input | output | target, 64 px panels with 4 px gaps under a 14 px caption strip
    assert grid.shape == (14 + 4 * 64 + 3 * 4, 3 * 64 + 2 * 4, 3)
    labels, photo = exact.test_pairs(data_dir / labels2photo.NAME, limit=1)[0]
    np.testing.assert_array_equal(grid[14:78, :64], labels)
    np.testing.assert_array_equal(grid[14:78, 68:132], Translator(result.model.G_AB, cfg.netG)(labels))
    np.testing.assert_array_equal(grid[14:78, 136:200], photo)
    with Image.open(run / "timelapse.gif") as gif:
        assert gif.n_frames == 3
    assert "real_A | fake_B | real_B" in (run / "index.html").read_text()

    # --eval-freq 3: one evaluation, after the last epoch, of the same networks the trainer scored
    with open(run / "eval_log.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["epoch"], row["step"]) == ("3", "450")
    assert float(row["fcn_pixel_accuracy_AtoB"]) == pytest.approx(trained_fcn.pixel_accuracy, abs=1e-6)
    assert float(row["fcn_class_iou_AtoB"]) == pytest.approx(trained_fcn.class_iou, abs=1e-6)
    pairs = exact.test_pairs(data_dir / labels2photo.NAME)
    translate = Translator(result.model.G_AB, cfg.netG)
    l1 = np.mean([np.abs(translate(a).astype(float) - b).mean() / 127.5 for a, b in pairs])
    assert float(row["target_l1_AtoB"]) == pytest.approx(l1, rel=1e-4)
    assert float(row["fid_AtoB"]) < float(json.loads((run / "eval" / "epoch_003.json").read_text())
                                          ["directions"]["AtoB"]["fid_input"]) / 2  # photos, not label maps
    assert "cycle_l1_AtoB" not in row and "fid_BtoA" not in row
    assert json.loads((run / "best.json").read_text())["epoch"] == 3


def test_evaluate_command_on_a_pix2pix_run(pix2pix_run, trained_fcn):
    from cyclegan_tf.cli.main import main

    cfg, result = pix2pix_run

    def evaluate(*args):
        return CliRunner().invoke(main, ["evaluate", "--name", cfg.name, "--checkpoints-dir", cfg.checkpoints_dir,
                                         *args])

    out = evaluate("--no-fid")
    assert out.exit_code == 0, out.output
    header, row = out.output.splitlines()[1:3]
    assert "L1 to target" in header and "FCN per-pixel" in header and "cycle L1" not in header
    cells = row.split()
    assert cells[:3] == ["AtoB", "50", "(test)"] and cells[3:6] == ["-", "-", "-"]  # no FID, FID of input, KID
    assert f"{trained_fcn.pixel_accuracy:.3f}" in cells and f"{trained_fcn.class_iou:.3f}" in cells
    out = evaluate("--feature-extractor", cfg.feature_extractor, "--max-images", "20")
    assert out.exit_code == 0, out.output
    cells = out.output.splitlines()[2].split()
    assert cells[1] == "20" and 0 < float(cells[3]) < float(cells[4])  # FID below the untranslated inputs'
    out = evaluate("--direction", "BtoA", "--no-fid")
    assert out.exit_code == 1 and "trained AtoB only" in out.output


def test_test_images_of_a_pix2pix_run_are_its_pairs_in_its_direction(tmp_path):
    (tmp_path / "val").mkdir()  # no test/: the aligned sets' val/ is the held-out split
    marked_pair(tmp_path / "val" / "0.png")
    images = splits.test_images(small_config(input_nc=1, output_nc=3, direction="BtoA"), tmp_path, "BtoA")
    assert images.split == "val" and images.paired
    (source,), (target,) = images.inputs, images.targets
    assert source.shape == (40, 40, 3) and target.shape == (40, 40, 1)  # B (colour) in, A (grey) out
    assert tuple(source[16, 14]) == RED and target[16, 14, 0] == round(0.299 * 255)  # Pillow's L of red


def test_a_cyclegan_on_the_paired_set_is_scored_labels_to_photo(data_dir):
    cfg = make_config(dict(dataset=labels2photo.NAME, data_dir=str(data_dir), ngf=4, ndf=4))
    root = labels2photo.ensure_dataset(data_dir / labels2photo.NAME)
    keras.utils.set_random_seed(0)
    generators = {d: build_generator(cfg, d) for d in ("AtoB", "BtoA")}
    scores = evaluate.evaluate_generators(generators, cfg, root, max_images=5)
    expected = exact.labels2photo_score(Translator(generators["AtoB"], cfg.netG), root, limit=5)
    forward, backward = scores["AtoB"], scores["BtoA"]
    assert (forward.fcn_pixel_accuracy, forward.fcn_class_accuracy, forward.fcn_class_iou) == pytest.approx(
        (expected.pixel_accuracy, expected.class_accuracy, expected.class_iou))
    assert backward.fcn_pixel_accuracy is None  # photo -> labels is not what the FCN-score scores
    assert forward.cycle_l1 > 0 and forward.target_l1 is None  # unpaired: cycle scores, no targets


def test_evaluate_with_a_users_segmenter_and_colour_label_maps(pix2pix_run, data_dir, tmp_path, trained_fcn):
    """`evaluate --segmenter --palette`: a user's Keras segmenter (here the nearest class mean colour, as a
    1x1 convolution: argmax of 2 x.m_k - |m_k|^2) scores the run's outputs against its colour label maps."""
    from cyclegan_tf.cli.main import main

    cfg, result = pix2pix_run
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(labels2photo.K, 1)
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([2 * labels2photo.MEAN.T[None, None], -(labels2photo.MEAN ** 2).sum(1)])
    model.save(tmp_path / "seg.keras")
    (tmp_path / "palette.json").write_text(json.dumps(labels2photo.PALETTE.tolist()))
    segment = fcn.keras_segmenter(tmp_path / "seg.keras")
    translate = Translator(result.model.G_AB, cfg.netG)
    expected = fcn.fcn_score(((fcn.labels_from_image(a, labels2photo.PALETTE), translate(a))
                                      for a, _ in exact.test_pairs(data_dir / labels2photo.NAME)),
                                     segment, labels2photo.K)
    assert 0.3 < expected.pixel_accuracy < trained_fcn.pixel_accuracy  # stripes are beyond its reach

    def evaluate(*args):
        return CliRunner().invoke(main, ["evaluate", "--name", cfg.name, "--checkpoints-dir", cfg.checkpoints_dir,
                                         "--no-fid", "--segmenter", str(tmp_path / "seg.keras"), *map(str, args)])

    out = evaluate("--palette", tmp_path / "palette.json")
    assert out.exit_code == 0, out.output
    assert (f"(50 test images): per-pixel acc. {expected.pixel_accuracy:.3f}, per-class acc. "
            f"{expected.class_accuracy:.3f}, class IoU {expected.class_iou:.3f}") in out.output
    (tmp_path / "bad.json").write_text("[1, 2")
    out = evaluate("--palette", tmp_path / "bad.json")
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert out.output.splitlines() == [out.output.splitlines()[0]] and "--palette" in out.output  # before any work
