"""DCGAN (Radford, Metz, Chintala 2016): images from noise, with a generator and a discriminator.

A run trains on one folder of images (`data.pipeline.single_dataset`); `--augment diffaugment` passes real and
fake images through differentiable augmentation before the discriminator (Zhao et al. 2020, `nn.augment`).
Nothing is translated: `inference.sampler` generates from a run, and its FID/KID are against the training images.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.models.base import AdversarialModel, discriminator_term, per_replica
from cyclegan_tf.models.builders import build_discriminator, build_generator, compile_with_reference_optimizers
from cyclegan_tf.models.precision import build_under_policy
from cyclegan_tf.nn import losses
from cyclegan_tf.nn.augment import diff_augment


class DCGAN(AdversarialModel):
    """An unconditional GAN: `G` maps noise z ~ N(0, I) to images, `D` tells them from the training images.

    `fit` takes batches of real images in [-1, 1]. Each step draws z, updates D on the real batch and on G(z)
    (two calls, so batch norm sees each batch alone, as in the paper), then G on D(G(z)) judged by the D just
    updated. Noise and augmentation are stateless random ops seeded by (run seed, step, replica), so a resumed
    run draws what the uninterrupted one would have.
    """

    LOSS_NAMES = ("G", "D")
    GENERATOR_NAMES = ("G",)
    DISCRIMINATOR_NAMES = ("D",)
    TRAINING_STATE = ("g_optimizer", "d_optimizer", "step_counter")

    def __init__(self, G: keras.Model, D: keras.Model, gan_mode: str = "vanilla", lambda_gp: float = 10.0,
                 diffaugment: bool = False, seed: int = 0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.G, self.D = G, D
        self.gan_mode, self.lambda_gp, self.diffaugment = gan_mode, lambda_gp, diffaugment
        self.nz = int(G.input_shape[-1])

    @classmethod
    def directions(cls, config: TrainConfig) -> dict[str, str]:
        return {}  # it generates, it translates nothing

    def call(self, z, training=False):
        return self.G(z, training=training)

    def noise(self, batch, stream: int = 0) -> tf.Tensor:
        return tf.random.stateless_normal([batch, self.nz], seed=self.step_seed(stream))

    def augmented(self, images: tf.Tensor, stream: int) -> tf.Tensor:
        return diff_augment(images, self.step_seed(stream)) if self.diffaugment else images

    def train_step(self, real):
        g_vars = self.trainable_variables_of(self.generators)
        d_vars = self.trainable_variables_of(self.discriminators)
        learning_rate = self.g_optimizer.learning_rate
        z = self.noise(tf.shape(real)[0])
        with tf.GradientTape() as g_tape:
            fake = self.G(z, training=True)
            with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                d_term = discriminator_term(self.D, self.augmented(real, 1), self.augmented(tf.stop_gradient(fake), 2),
                                            self.gan_mode, self.lambda_gp)
                d_loss = self.d_optimizer.scale_loss(per_replica(d_term))
            self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars, strict=False))
            g_term = losses.generator_loss(self.D(self.augmented(fake, 3), training=True), self.gan_mode)
            g_loss = self.g_optimizer.scale_loss(per_replica(g_term))
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars, strict=False))
        return self.finish_step({"G": g_term, "D": d_term}, learning_rate)


def build_dcgan_networks(cfg: TrainConfig) -> dict[str, keras.Model]:
    return {"G": build_generator(cfg), "D": build_discriminator(cfg, cfg.output_nc, "D")}


def build_dcgan(cfg: TrainConfig, steps_per_epoch: int, image_shape: tuple | None = None) -> DCGAN:
    """A compiled DCGAN (the reference's Adam and schedule, precision as every model).

    Args:
        cfg: the run's configuration (`crop_size` is the image size, `nz`, `ngf`, `ndf`, `norm`, `gan_mode`,
            `augment`).
        steps_per_epoch: steps of one epoch (the learning-rate schedule counts epochs).
        image_shape: unused; every builder takes it.

    Returns:
        The compiled model, ready for `fit`.
    """
    # without --seed each process draws its own noise stream
    seed = cfg.seed if cfg.seed is not None else int(np.random.default_rng().integers(2**31))
    model = DCGAN(**build_under_policy(cfg, build_dcgan_networks), gan_mode=cfg.gan_mode,
                  diffaugment=cfg.augment == "diffaugment", seed=seed)
    return compile_with_reference_optimizers(model, cfg, steps_per_epoch)
