"""GAN, cycle and identity losses. Everything is computed in float32, whatever the compute dtype.

GAN modes (`--gan-mode`):
- `lsgan`: least squares, real -> 1, fake -> 0 (CycleGAN's default).
- `vanilla`: binary cross-entropy on logits (pix2pix's default).
- `hinge`: D: relu(1 - real) + relu(1 + fake); G: -fake.
- `wgangp`: Wasserstein critic, D: fake - real; G: -fake; add `gradient_penalty` to D.

To add a mode, extend `generator_loss` and `discriminator_loss` and add its name to `choices.GAN_MODES`.
"""

from __future__ import annotations

from cyclegan_tf.choices import GAN_MODES
from cyclegan_tf.lazy import tf


def _f32(x: tf.Tensor) -> tf.Tensor:
    return tf.cast(x, tf.float32)


def _target_loss(logits: tf.Tensor, real: bool, mode: str) -> tf.Tensor:
    """Loss pushing `logits` towards the `real` (or fake) label."""
    logits = _f32(logits)
    target = tf.ones_like(logits) if real else tf.zeros_like(logits)
    if mode == "lsgan":
        return tf.reduce_mean(tf.square(logits - target))
    if mode == "vanilla":
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits))
    raise ValueError(f"gan_mode must be one of {GAN_MODES}, not {mode!r}")


def generator_loss(fake_logits: tf.Tensor, mode: str = "lsgan") -> tf.Tensor:
    """How far the discriminator is from taking the generator's output for real.

    Args:
        fake_logits: the discriminator's output on generated images, any shape and float dtype.
        mode: the GAN mode: "lsgan", "vanilla", "hinge" or "wgangp".

    Returns:
        A float32 scalar.
    """
    if mode in ("hinge", "wgangp"):
        return -tf.reduce_mean(_f32(fake_logits))
    return _target_loss(fake_logits, True, mode)


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor, mode: str = "lsgan") -> tf.Tensor:
    """The discriminator's loss, halved as in the reference (it then learns at half the generator's rate).

    Args:
        real_logits: the discriminator's output on real images, any shape and float dtype.
        fake_logits: its output on generated images.
        mode: the GAN mode: "lsgan", "vanilla", "hinge" or "wgangp" (add `gradient_penalty` for the last).

    Returns:
        A float32 scalar.
    """
    real_logits, fake_logits = _f32(real_logits), _f32(fake_logits)
    if mode == "hinge":
        loss = tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))
    elif mode == "wgangp":
        loss = tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)
    else:
        loss = _target_loss(real_logits, True, mode) + _target_loss(fake_logits, False, mode)
    return 0.5 * loss


def gradient_penalty(discriminator, real: tf.Tensor, fake: tf.Tensor, weight: float = 10.0) -> tf.Tensor:
    """WGAN-GP: weight * E[(||grad D(x)||_2 - 1)^2] at random points x between real and fake images.

    Args:
        discriminator: the critic, called with `training=True`.
        real: a batch of real images (N, H, W, C).
        fake: a batch of generated images of the same shape.
        weight: the penalty's weight (lambda).

    Returns:
        A float32 scalar.
    """
    real, fake = _f32(real), _f32(fake)
    alpha = tf.random.uniform([tf.shape(real)[0], 1, 1, 1], dtype=tf.float32)
    mixed = alpha * real + (1.0 - alpha) * fake
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        logits = _f32(discriminator(mixed, training=True))
    grads = tf.reshape(tape.gradient(logits, mixed), [tf.shape(real)[0], -1])
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads + 1e-16), axis=1))
    return weight * tf.reduce_mean(tf.square(norms - 1.0))


def l1(prediction: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Mean absolute error.

    Args:
        prediction: a tensor, any float dtype.
        target: a tensor of the same shape.

    Returns:
        A float32 scalar.
    """
    return tf.reduce_mean(tf.abs(_f32(prediction) - _f32(target)))


def l2(prediction: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Mean squared error (a float32 scalar), e.g. a cycle loss as squared error (`--cycle-loss l2`)."""
    return tf.reduce_mean(tf.square(_f32(prediction) - _f32(target)))


RECONSTRUCTION = {"l1": l1, "l2": l2}  # `--cycle-loss`, by name (`choices.CYCLE_LOSSES`)


def l2_normalize(x: tf.Tensor) -> tf.Tensor:
    """Each row divided by its L2 norm plus 1e-7 (CUT's `Normalize`: the epsilon is added to the norm), in float32."""
    x = _f32(x)
    return x / (tf.norm(x, axis=-1, keepdims=True) + 1e-7)


def patch_nce(queries: tf.Tensor, keys: tf.Tensor, images: int | tf.Tensor, temperature: float = 0.07) -> tf.Tensor:
    """PatchNCE (Park et al. 2020): each query patch must pick its own key patch among the keys of its image.

    The reference's `PatchNCELoss` with negatives from the same image only: logits are the query's similarity to
    its key (the positive) and to every key of its image, with its own key's slot among the negatives set to -10,
    divided by the temperature; the loss is the cross-entropy of choosing the positive. Keys get no gradient.

    Args:
        queries: (images * P, D) L2-normalised projections of the output's patches, image by image.
        keys: (images * P, D) those of the input's patches at the same places.
        images: how many images the rows come from (P rows each).
        temperature: the softmax temperature (CUT's nce_T, 0.07).

    Returns:
        float32 (images * P,): the loss of each query patch.
    """
    queries, keys = _f32(queries), tf.stop_gradient(_f32(keys))
    positives = tf.reduce_sum(queries * keys, axis=-1, keepdims=True)
    dim = tf.shape(queries)[-1]
    per_image_q = tf.reshape(queries, [images, -1, dim])
    per_image_k = tf.reshape(keys, [images, -1, dim])
    negatives = tf.matmul(per_image_q, per_image_k, transpose_b=True)  # (images, P, P)
    patches = tf.shape(negatives)[-1]
    negatives = tf.where(tf.eye(patches, dtype=tf.bool), -10.0, negatives)
    logits = tf.concat([positives, tf.reshape(negatives, [-1, patches])], axis=1) / temperature
    return tf.reduce_logsumexp(logits, axis=1) - logits[:, 0]
