"""SinCUT: its R1 penalty against a closed form, its batch-wide NCE negatives against a hand computation, and a
short training on one image pair that translates an image of another size, exports, resumes and keeps XLA off."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from PIL import Image

from cyclegan_tf.cli.main import main
from cyclegan_tf.config import make_config
from cyclegan_tf.errors import UserError
from cyclegan_tf.inference.translator import load_translator
from cyclegan_tf.models.builders import jit_setting
from cyclegan_tf.models.registry import model_class
from cyclegan_tf.models.sincut import SinCUT
from cyclegan_tf.nn import losses
from cyclegan_tf.training.trainer import train
from tests.test_cut import K, Q, hand_patch_nce
from tests.test_deploy import runtime


def one_image_pair(root):
    """trainA/ a photo-like gradient with a disc, trainB/ a stripe texture: one image each, of different sizes."""
    (root / "trainA").mkdir(parents=True)
    (root / "trainB").mkdir()
    y, x = np.mgrid[0:72, 0:96]
    photo = np.stack([x * 2.5, y * 3.0, 255 - x * 2.0], -1)
    photo[(y - 36) ** 2 + (x - 48) ** 2 < 400] = (250, 220, 40)
    Image.fromarray(photo.clip(0, 255).astype(np.uint8)).save(root / "trainA" / "photo.png")
    stripes = np.where(((np.mgrid[0:64, 0:80][1] // 6) % 2)[..., None] == 1, (30, 60, 200), (240, 240, 230))
    Image.fromarray(stripes.astype(np.uint8)).save(root / "trainB" / "texture.png")
    return root


def config(tmp_path, **options):
    values = dict(model="sincut", dataroot=str(one_image_pair(tmp_path / "pair")), name="sin",
                  checkpoints_dir=str(tmp_path / "runs"), ngf=4, ndf=4, netF_nc=16, load_size=48, crop_size=32,
                  batch_size=2, epoch_size=8, n_epochs=1, n_epochs_decay=1, print_freq=1, seed=0)
    return make_config({**values, **options})


def test_r1_is_half_its_weight_times_the_squared_slope_of_the_discriminator(tmp_path):
    cfg = config(tmp_path)
    networks = SinCUT.networks(cfg)
    weights = np.array([0.3, -0.2, 0.5], np.float32)  # a linear D: D(x) = w . x at every pixel
    linear = tf.keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer=tf.constant_initializer(weights))
    inputs = tf.keras.Input((None, None, 3))
    networks["D_B"] = tf.keras.Model(inputs, linear(inputs))
    model = SinCUT(**networks, nce_layers=(0, 4, 8))
    model.lambda_R1 = 2.0
    real = tf.random.uniform((2, 8, 12, 3), -1, 1, seed=1)
    terms = model.discriminator_terms(real, -real)
    # d(sum D)/dx = w at every pixel: per image 8 * 12 * |w|^2, times lambda_R1 / 2
    assert float(terms["D_R1"]) == pytest.approx(0.5 * 2.0 * 8 * 12 * float(weights @ weights), rel=1e-5)
    assert set(terms) == {"D_B", "D_R1"}


def test_every_patch_of_the_batch_is_a_negative(tmp_path):
    model = SinCUT(**SinCUT.networks(config(tmp_path)), nce_layers=(0, 4, 8))
    assert model.negative_groups(tf.constant(4)) == 2  # the A batch and the B batch (identity NCE) apart
    q, k = np.array(Q, np.float64), np.array(K, np.float64)
    whole_batch = losses.patch_nce(tf.constant(q, tf.float32), tf.constant(k, tf.float32), 1).numpy()
    np.testing.assert_allclose(whole_batch, hand_patch_nce(q, k, 1), atol=1e-4)
    assert not np.allclose(whole_batch, hand_patch_nce(q, k, 2), atol=1e-2)  # not CUT's per-image negatives


def test_sincut_trains_on_one_pair_translates_exports_and_resumes(tmp_path):
    cfg = config(tmp_path)
    assert (cfg.lambda_NCE, cfg.num_patches, cfg.gan_mode, cfg.beta1, cfg.nce_idt) == (4.0, 1, "vanilla", 0.0, True)
    assert jit_setting(cfg, model_class(cfg).XLA_SAFE) is False  # XLA aborts on CUT's step: off, as for CUT
    result = train(cfg, verbose=0)
    assert result.step == 8  # 2 epochs of --epoch-size 8 crops in batches of 2: 4 steps each from one image
    assert result.model.g_optimizer.beta_2 == result.model.d_optimizer.beta_2 == 0.99
    log = np.genfromtxt(result.run_dir / "loss_log.csv", delimiter=",", names=True)
    assert set(log.dtype.names) >= {"G_GAN", "NCE", "NCE_Y", "D_B", "D_R1", "idt"}
    assert np.all(np.isfinite(log["D_R1"])) and log["D_R1"].max() > 0 and log["idt"].min() > 0

    translate = load_translator(result.run_dir)
    photo = np.random.default_rng(0).integers(0, 256, (45, 61, 3), dtype=np.uint8)  # not the training sizes
    out = translate(photo)
    assert out.shape == (45, 61, 3) and out.std() > 0
    runs = ["--name", cfg.name, "--checkpoints-dir", cfg.checkpoints_dir]
    done = CliRunner().invoke(main, ["export", *runs, "--format", "keras", "-o", str(tmp_path / "sin")])
    assert done.exit_code == 0, done.output
    exported = runtime("keras", tmp_path / "sin.keras")(photo[None])[0]
    assert np.abs(exported.astype(int) - out.astype(int)).max() <= 1

    resumed = train(make_config({**runs_of(cfg), "continue_train": True, "n_epochs_decay": 2}), verbose=0)
    assert resumed.step == 12 and resumed.epoch == 3
    with pytest.raises(UserError, match="--lambda-identity-L1"):
        config(tmp_path / "x", nce_idt=False).validate()


def runs_of(cfg) -> dict:
    return {"name": cfg.name, "checkpoints_dir": cfg.checkpoints_dir}
