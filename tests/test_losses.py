"""Each loss against a value computed by hand."""

import keras
import numpy as np
import pytest

from cyclegan_tf.nn import losses

REAL = np.array([[0.5, 2.0], [-1.0, 0.0]], "float32")
FAKE = np.array([[1.5, -0.5], [0.0, 3.0]], "float32")


def _bce(logits, label):
    p = 1 / (1 + np.exp(-logits))
    return float(np.mean(-(label * np.log(p) + (1 - label) * np.log(1 - p))))


def test_lsgan():
    assert float(losses.generator_loss(FAKE, "lsgan")) == pytest.approx(np.mean((FAKE - 1) ** 2))
    expected = 0.5 * (np.mean((REAL - 1) ** 2) + np.mean(FAKE**2))
    assert float(losses.discriminator_loss(REAL, FAKE, "lsgan")) == pytest.approx(expected)


def test_vanilla_is_binary_cross_entropy_on_logits():
    assert float(losses.generator_loss(FAKE, "vanilla")) == pytest.approx(_bce(FAKE, 1.0), rel=1e-5)
    expected = 0.5 * (_bce(REAL, 1.0) + _bce(FAKE, 0.0))
    assert float(losses.discriminator_loss(REAL, FAKE, "vanilla")) == pytest.approx(expected, rel=1e-5)


def test_hinge():
    # D: mean(relu(1 - real)) = (0.5 + 0 + 2 + 1)/4; mean(relu(1 + fake)) = (2.5 + 0.5 + 1 + 4)/4
    assert float(losses.discriminator_loss(REAL, FAKE, "hinge")) == pytest.approx(0.5 * (3.5 / 4 + 8.0 / 4))
    assert float(losses.generator_loss(FAKE, "hinge")) == pytest.approx(-1.0)


def test_wgan():
    assert float(losses.discriminator_loss(REAL, FAKE, "wgangp")) == pytest.approx(0.5 * (1.0 - 0.375))
    assert float(losses.generator_loss(FAKE, "wgangp")) == pytest.approx(-1.0)


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = sum(w * x) has gradient w everywhere: the penalty is weight * (||w|| - 1)^2."""
    w = np.random.default_rng(0).normal(size=(4, 4, 1)).astype("float32")
    critic = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Lambda(lambda x: keras.ops.sum(x * w, (1, 2, 3)))])
    real = np.random.default_rng(1).normal(size=(3, 4, 4, 1)).astype("float32")
    fake = np.random.default_rng(2).normal(size=(3, 4, 4, 1)).astype("float32")
    expected = 10.0 * (np.sqrt(np.sum((w + 1e-16) ** 2)) - 1.0) ** 2
    assert float(losses.gradient_penalty(critic, real, fake, 10.0)) == pytest.approx(expected, rel=1e-4)


def test_l1_and_unknown_mode():
    assert float(losses.l1(REAL, FAKE)) == pytest.approx(np.mean(np.abs(REAL - FAKE)))
    with pytest.raises(ValueError, match="gan_mode"):
        losses.generator_loss(FAKE, "relativistic")
