"""DCGAN (Radford, Metz, Chintala 2016): images from noise, with a generator and a discriminator.

A run trains on one folder of images (`data.pipeline.single_dataset`); `--augment diffaugment` passes real and
fake images through differentiable augmentation before the discriminator (Zhao et al. 2020, `nn.augment`).
Nothing is translated: `inference.sampler` generates from a run, and its FID/KID are against the training images.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cyclegan_tf import choices
from cyclegan_tf.errors import UserError
from cyclegan_tf.lazy import keras, tf
from cyclegan_tf.models.base import AdversarialModel, check_positive, discriminator_term, per_replica, register_model
from cyclegan_tf.models.builders import compile_with_reference_optimizers
from cyclegan_tf.models.precision import build_under_policy
from cyclegan_tf.nn import losses
from cyclegan_tf.options import option

if TYPE_CHECKING:
    from cyclegan_tf.config import TrainConfig

# `--augment flip-crop`: images are scaled to this times the crop size, then cropped (the reference's 286 / 256)
FLIP_CROP_SCALE = 9 / 8


@dataclass
class DCGANOptions:
    """The DCGAN's own options."""

    nz: int = option(100, "Size of the noise vector z its generator starts from.", group="DCGAN", architecture=True)
    augment: str = option("none", "none (each image resized to --crop-size), flip-crop (resized to 9/8 of it, a "
                          "random crop and flip), or diffaugment (DiffAugment of real and fake images before D: "
                          "colour, translation, cutout; for small sets).", choices.AUGMENTS, group="DCGAN")


@register_model
class DCGAN(AdversarialModel):
    """An unconditional GAN: `G` maps noise z ~ N(0, I) to images, `D` tells them from the training images.

    `fit` takes batches of real images in [-1, 1]. Each step draws z, updates D on the real batch and on G(z)
    (two calls, so batch norm sees each batch alone, as in the paper), then G on D(G(z)) judged by the D just
    updated. Noise and augmentation are stateless random ops seeded by (run seed, step, replica), so a resumed
    run draws what the uninterrupted one would have.
    """

    NAME = "dcgan"
    SUMMARY = "images from noise, one folder of images; --crop-size 64, --nz, --augment; `cyclegan-tf generate`"
    DATA = "single"
    OPTIONS = DCGANOptions
    # Radford et al.'s: batch norm, the vanilla GAN, 64 px images, batch 64, no pool, a constant learning rate (the
    # paper's 2e-4) for 100 epochs (few steps each on the small sets DCGANs are trained on).
    PRESET = dict(norm="batch", gan_mode="vanilla", pool_size=0, crop_size=64, n_epochs=100, n_epochs_decay=0,
                  batch_size=64)
    GENERATES = True
    FULLY_CONVOLUTIONAL = False
    RESUME_FIXED = ("crop_size",)  # its depth follows its image size
    SCIENTIFIC = False
    SCIENTIFIC_NOTE = ("a DCGAN's images go to `generate`'s PNGs and grids, which are 8-bit grey or RGB; its "
                       "networks would take N bands, its outputs would not")

    LOSS_NAMES = ("G", "D")
    GAN_TERMS = ("G",)
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
    def validate(cls, cfg: TrainConfig) -> None:
        size = cfg.crop_size
        if size & (size - 1) or not 16 <= size <= 512:
            raise UserError(f"--model dcgan makes square images of a power-of-two size from 16 to 512 "
                            f"(--crop-size), not {size}")
        check_positive(nz=cfg.nz)

    @classmethod
    def build(cls, cfg: TrainConfig, steps_per_epoch: int, image_shape: tuple | None = None) -> DCGAN:
        """A compiled DCGAN (the reference's Adam and schedule, precision as every model); `image_shape` unused."""
        # without --seed each process draws its own noise stream
        seed = cfg.seed if cfg.seed is not None else int(np.random.default_rng().integers(2**31))
        model = cls(**build_under_policy(cfg, cls.networks), gan_mode=cfg.gan_mode,
                    diffaugment=cfg.augment == "diffaugment", seed=seed)
        return compile_with_reference_optimizers(model, cfg, steps_per_epoch)

    @classmethod
    def networks(cls, cfg: TrainConfig) -> dict[str, keras.Model]:
        return {"G": cls.generator(cfg), "D": cls.discriminator(cfg, cfg.output_nc, "D")}

    @classmethod
    def generator(cls, cfg: TrainConfig, direction: str = "AtoB") -> keras.Model:
        """One generator from noise, whatever the direction."""
        from cyclegan_tf.nn.networks import dcgan_generator

        with keras.name_scope("G"):
            return dcgan_generator(cfg.crop_size, cfg.nz, cfg.output_nc, cfg.ngf, cfg.norm, cfg.init_type,
                                   cfg.init_gain, name="G", upsample=cfg.upsample)

    @classmethod
    def discriminator(cls, cfg: TrainConfig, input_nc: int, name: str) -> keras.Model:
        from cyclegan_tf.nn.networks import dcgan_discriminator

        with keras.name_scope(name):
            return dcgan_discriminator(cfg.crop_size, input_nc, cfg.ndf, cfg.norm, cfg.init_type, cfg.init_gain,
                                       name=name)

    @classmethod
    def data_config(cls, cfg: TrainConfig) -> TrainConfig:
        """Each image resized to --crop-size (flip-crop: to 9/8 of it, then a random crop and flip)."""
        flip_crop = cfg.augment == "flip-crop"
        load = round(cfg.crop_size * FLIP_CROP_SCALE) if flip_crop else cfg.crop_size
        return dataclasses.replace(cfg, preprocess="resize_and_crop", load_size=load, no_flip=not flip_crop)

    @classmethod
    def directions(cls, config: TrainConfig) -> dict[str, str]:
        return {}  # it generates, it translates nothing

    def call(self, z, training=False):
        return self.G(z, training=training)

    def noise(self, batch, stream: int = 0) -> tf.Tensor:
        return tf.random.stateless_normal([batch, self.nz], seed=self.step_seed(stream))

    def augmented(self, images: tf.Tensor, stream: int) -> tf.Tensor:
        from cyclegan_tf.nn.augment import diff_augment

        return diff_augment(images, self.step_seed(stream)) if self.diffaugment else images

    def train_step(self, real):
        g_vars = self.trainable_variables_of(self.generators)
        d_vars = self.trainable_variables_of(self.discriminators)
        learning_rate = self.g_optimizer.learning_rate
        z = self.noise(tf.shape(real)[0])
        with tf.GradientTape() as g_tape:
            fake = self.G(z, training=True)
            self.observe_translation("G", None, fake, real)
            with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                d_term = discriminator_term(self.D, self.augmented(real, 1), self.augmented(tf.stop_gradient(fake), 2),
                                            self.gan_mode, self.lambda_gp, probe=self.health)
                d_loss = self.d_optimizer.scale_loss(per_replica(d_term))
            self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars, strict=False))
            g_term = losses.generator_loss(self.D(self.augmented(fake, 3), training=True), self.gan_mode)
            g_loss = self.g_optimizer.scale_loss(per_replica(g_term))
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars, strict=False))
        return self.finish_step({"G": g_term}, {"D": d_term}, learning_rate)

