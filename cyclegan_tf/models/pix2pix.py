"""pix2pix (Isola et al. 2017): paired translation with a generator and a conditional PatchGAN.

The generator is stored as `G_AB` whatever the run's `--direction` (input -> output, like the reference's
`netG`), and the discriminator as `D`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cyclegan_tf.errors import UserError
from cyclegan_tf.lazy import keras, tf
from cyclegan_tf.models.base import AdversarialModel, discriminator_term, per_replica, register_model
from cyclegan_tf.models.builders import compile_with_reference_optimizers
from cyclegan_tf.models.precision import build_under_policy
from cyclegan_tf.nn import losses
from cyclegan_tf.options import option

if TYPE_CHECKING:
    from cyclegan_tf.config import TrainConfig

# The reference's pix2pix defaults: U-Net, batch norm, vanilla GAN, no pool, dropout as the generator's noise.
PRESET = dict(netG="unet_256", norm="batch", gan_mode="vanilla", pool_size=0, dropout=True)


@dataclass
class Pix2PixOptions:
    """pix2pix's own options (the reference's names), colorization's too."""

    lambda_L1: float = option(100.0, "Weight of L1(output, target) (0: GAN or cGAN alone).", group="pix2pix")
    unconditional_D: bool = option(False, "Ablation: the discriminator sees the output alone, not "
                                   "concat(input, output).", group="pix2pix", architecture=True)


@dataclass
class Pix2PixLossWeights:
    """How pix2pix's generator loss is made up, with the paper's ablation switches (Table 1)."""

    gan_mode: str = "vanilla"
    lambda_L1: float = 100.0  # 0: GAN or cGAN alone
    lambda_gp: float = 10.0
    use_gan: bool = True  # False (--no-gan): L1 alone, no discriminator updates
    conditional: bool = True  # False (--unconditional-D): D sees the output only, not the input with it


@register_model
class Pix2Pix(AdversarialModel):
    """Paired image-to-image translation (Isola et al. 2017): a generator and a conditional PatchGAN.

    `fit` takes batches `(input, target)` (the loader has already swapped A and B for `--direction BtoA`).
    The step follows the reference's order: one generator pass, then the discriminator on real pair vs
    fake pair (loss x 0.5), then the generator on GAN(D(input, fake)) + lambda_L1 * L1(fake, target),
    judged by the discriminator just updated. Dropout is the generator's only noise, as in the paper.
    """

    NAME = "pix2pix"
    SUMMARY = ("aligned A|B images in train/, one --direction; its defaults: --netG unet_256 --norm batch "
               "--gan-mode vanilla --pool-size 0 --dropout")
    DATA = "aligned"
    OPTIONS = Pix2PixOptions
    REFERENCE_FILES = {"G_AB": "G", "D": "D"}  # its G maps the run's --direction, as ours
    PRESET = PRESET

    LOSS_NAMES = ("G_GAN", "G_L1", "D")
    GAN_TERMS = ("G_GAN",)
    # `G_AB` is the run's generator whatever its direction (the reference's netG), so `translate` finds it.
    GENERATOR_NAMES = ("G_AB",)
    DISCRIMINATOR_NAMES = ("D",)
    TRAINING_STATE = ("g_optimizer", "d_optimizer", "step_counter")

    def __init__(self, G_AB: keras.Model, D: keras.Model, weights: Pix2PixLossWeights | None = None, **kwargs):
        super().__init__(**kwargs)
        self.G_AB, self.D = G_AB, D
        self.loss_weights = weights or Pix2PixLossWeights()

    @classmethod
    def validate(cls, cfg: TrainConfig) -> None:
        if cfg.no_gan and cfg.lambda_L1 == 0:
            raise UserError("--no-gan with zero L1 weight leaves nothing to learn")

    @classmethod
    def build(cls, cfg: TrainConfig, steps_per_epoch: int, image_shape: tuple | None = None) -> Pix2Pix:
        """A compiled model (same optimizers, schedule and precision handling as every model); `image_shape` is
        unused (no image pool)."""
        weights = Pix2PixLossWeights(gan_mode=cfg.gan_mode, lambda_L1=cfg.lambda_L1, use_gan=not cfg.no_gan,
                                     conditional=not cfg.unconditional_D)
        model = cls(**build_under_policy(cfg, cls.networks), weights=weights)
        return compile_with_reference_optimizers(model, cfg, steps_per_epoch)

    @classmethod
    def networks(cls, cfg: TrainConfig) -> dict[str, keras.Model]:
        """The generator for the run's `--direction` and its (conditional) discriminator."""
        source_nc, target_nc = ((cfg.input_nc, cfg.output_nc) if cfg.direction == "AtoB"
                                else (cfg.output_nc, cfg.input_nc))
        d_input_nc = target_nc if cfg.unconditional_D else source_nc + target_nc
        return {"G_AB": cls.generator(cfg, cfg.direction), "D": cls.discriminator(cfg, d_input_nc, "D")}

    def call(self, inputs, training=False):
        return self.G_AB(inputs, training=training)

    def pair(self, inputs, image):
        """What the discriminator judges: concat(input, image) (conditional) or the image alone."""
        return tf.concat([tf.cast(inputs, image.dtype), image], axis=-1) if self.loss_weights.conditional else image

    def generator_losses(self, inputs, target, fake=None, training=True) -> dict[str, tf.Tensor]:
        w = self.loss_weights
        if fake is None:
            fake = self.G_AB(inputs, training=training)
        terms = {"G_L1": w.lambda_L1 * losses.l1(fake, target)}
        if w.use_gan:
            terms["G_GAN"] = losses.generator_loss(self.D(self.pair(inputs, fake), training=training), w.gan_mode)
        return terms

    def discriminator_losses(self, inputs, target, fake, training=True) -> dict[str, tf.Tensor]:
        w = self.loss_weights
        return {"D": discriminator_term(self.D, self.pair(inputs, target), self.pair(inputs, fake), w.gan_mode,
                                        w.lambda_gp, training, probe=self.health)}

    def train_step(self, data):
        inputs, target = data
        return self.paired_step(inputs, target)

    def paired_step(self, inputs, target) -> dict[str, tf.Tensor]:
        """One step on a batch of (input, target) pairs; returns the logs."""
        g_vars = self.trainable_variables_of(self.generators)
        d_vars = self.trainable_variables_of(self.discriminators)
        learning_rate = self.g_optimizer.learning_rate
        d_terms = {}
        with tf.GradientTape() as g_tape:
            fake = self.G_AB(inputs, training=True)
            self.observe_translation("G_AB", inputs, fake, target)
            if self.loss_weights.use_gan:
                with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                    d_terms = self.discriminator_losses(inputs, target, tf.stop_gradient(fake))
                    d_loss = self.d_optimizer.scale_loss(per_replica(tf.add_n(list(d_terms.values()))))
                self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars, strict=False))
            g_terms = self.generator_losses(inputs, target, fake)
            g_loss = self.g_optimizer.scale_loss(per_replica(tf.add_n(list(g_terms.values()))))
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars, strict=False))
        return self.finish_step(g_terms, d_terms, learning_rate)

