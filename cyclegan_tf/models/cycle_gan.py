"""CycleGAN (Zhu et al. 2017): two generators, two discriminators, cycle and identity losses.

Naming: `G_AB` translates A -> B and `G_BA` B -> A; `D_A` judges images of domain A and `D_B`
images of domain B. (The reference calls the discriminator of domain B `netD_A`, after the
generator it trains against; naming by domain is easier to read.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cyclegan_tf import choices
from cyclegan_tf.choices import GENERATOR_OF
from cyclegan_tf.errors import UserError
from cyclegan_tf.lazy import keras, tf
from cyclegan_tf.models.base import AdversarialModel, discriminator_term, per_replica, register_model, two_passes
from cyclegan_tf.models.builders import compile_with_reference_optimizers
from cyclegan_tf.models.precision import build_under_policy
from cyclegan_tf.nn import losses
from cyclegan_tf.options import option

if TYPE_CHECKING:
    from cyclegan_tf.config import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class CycleGANOptions:
    """CycleGAN's own options (the reference's names)."""

    lambda_A: float = option(10.0, "Weight of the cycle loss A -> B -> A.", group="CycleGAN")
    lambda_B: float = option(10.0, "Weight of the cycle loss B -> A -> B.", group="CycleGAN")
    lambda_identity: float = option(0.5, "Identity loss weight, as a fraction of lambda_A/lambda_B (0 turns it "
                                    "off).", group="CycleGAN")
    cycle: str = option("both", "Ablation: which cycle losses count: forward (A->B->A), backward (B->A->B) or "
                        "both.", choices.CYCLES, group="CycleGAN")
    cycle_loss: str = option("l1", "How cycle and identity reconstructions are compared: l1 (the reference's) or "
                             "l2 (squared error, as some tutorials do).", choices.CYCLE_LOSSES, group="CycleGAN")


@dataclass
class CycleLossWeights:
    """How the generators' loss is made up (`TrainConfig` holds the same under the reference's names)."""

    gan_mode: str = "lsgan"
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5
    lambda_gp: float = 10.0  # gradient penalty weight, used by gan_mode "wgangp"
    use_gan: bool = True  # False (--no-gan): no GAN terms and no discriminator updates (cycle alone)
    cycle: str = "both"  # which cycle terms count: "forward" (A -> B -> A), "backward" (B -> A -> B) or "both"
    cycle_loss: str = "l1"  # how a reconstruction (cycle, identity) is compared: "l1" (the reference) or "l2"



@register_model
class CycleGAN(AdversarialModel):
    """Unpaired image-to-image translation (Zhu et al. 2017).

    `fit` takes batches `(real_A, real_B)` of float32 images in [-1, 1]. Each step updates both
    generators on GAN + cycle + identity losses, then both discriminators on real images and on
    fakes drawn from an `ImagePool`. `train_step` returns every loss term and the learning rate.
    """

    NAME = "cycle_gan"
    DEFAULT = True  # the reference's defaults are its
    SUMMARY = "unpaired trainA/ trainB/, both directions"
    DATA = "unpaired"
    OPTIONS = CycleGANOptions
    # The reference's netG_A translates A -> B (our G_AB) and its netD_A judges domain B, the one G_A writes (our D_B)
    REFERENCE_FILES = {"G_AB": "G_A", "G_BA": "G_B", "D_B": "D_A", "D_A": "D_B"}

    LOSS_NAMES = ("G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B")
    GAN_TERMS = ("G_AB", "G_BA")
    # The attributes a checkpoint holds: networks (all a translation needs), then the rest of the training state.
    GENERATOR_NAMES = ("G_AB", "G_BA")
    DISCRIMINATOR_NAMES = ("D_A", "D_B")
    TRAINING_STATE = ("g_optimizer", "d_optimizer", "pool_A", "pool_B", "step_counter")

    def __init__(self, G_AB: keras.Model, G_BA: keras.Model, D_A: keras.Model, D_B: keras.Model,
                 weights: CycleLossWeights | None = None, pool_size: int = 50, image_shape: tuple | None = None,
                 seed: int | None = None, stack_passes: bool = False, **kwargs):
        from cyclegan_tf.nn.layers import ImagePool

        super().__init__(**kwargs)
        self.G_AB, self.G_BA, self.D_A, self.D_B = G_AB, G_BA, D_A, D_B
        # Run a network's two passes on same-size inputs as one call (see `two_passes`); only valid with
        # per-sample normalization and a fixed training size, which `CycleGAN.build` checks.
        self.stack_passes = bool(stack_passes and image_shape)
        self.loss_weights = weights or CycleLossWeights()
        self.pool_A = ImagePool(pool_size if image_shape else 0, seed=seed, name="pool_A")
        self.pool_B = ImagePool(pool_size if image_shape else 0, seed=None if seed is None else seed + 1,
                                name="pool_B")
        if image_shape:  # (height, width): the fixed training size the pools store
            self.pool_A.build((None, *image_shape, G_BA.output_shape[-1]))
            self.pool_B.build((None, *image_shape, G_AB.output_shape[-1]))


    @classmethod
    def validate(cls, cfg: TrainConfig) -> None:
        if cfg.no_gan and cfg.lambda_A == cfg.lambda_B == 0:
            raise UserError("--no-gan with zero cycle weights leaves nothing to learn")
        if cfg.lambda_identity > 0 and cfg.input_nc != cfg.output_nc:
            # The identity loss feeds B images to G_AB, which takes A's channels (the reference asserts the same).
            raise UserError(f"the identity loss needs --input-nc equal to --output-nc (here {cfg.input_nc} and "
                            f"{cfg.output_nc}): add --lambda-identity 0")

    @classmethod
    def build(cls, cfg: TrainConfig, steps_per_epoch: int, image_shape: tuple | None) -> CycleGAN:
        """A compiled CycleGAN with the reference's optimizers and learning-rate schedule.

        Under mixed precision the layers compute in bfloat16/float16 while variables stay float32;
        generator and discriminator outputs, losses and the image pools are float32 (see `nn.networks`).
        With `image_shape` None (training images of several sizes) there is no image pool.
        """
        weights = CycleLossWeights(gan_mode=cfg.gan_mode, lambda_A=cfg.lambda_A, lambda_B=cfg.lambda_B,
                                   lambda_identity=cfg.lambda_identity, use_gan=not cfg.no_gan, cycle=cfg.cycle,
                                   cycle_loss=cfg.cycle_loss)
        if image_shape is None and cfg.pool_size:
            log.warning("training images differ in size (--preprocess %s): the image pool is off", cfg.preprocess)
        networks = build_under_policy(cfg, cls.networks)
        model = cls(**networks, weights=weights, pool_size=cfg.pool_size, image_shape=image_shape, seed=cfg.seed,
                    stack_passes=cfg.norm != "batch")  # batch norm would mix the stacked images' statistics
        return compile_with_reference_optimizers(model, cfg, steps_per_epoch)

    @classmethod
    def networks(cls, cfg: TrainConfig) -> dict[str, keras.Model]:
        """The four networks of a CycleGAN run, named as its attributes."""
        return {
            "G_AB": cls.generator(cfg, "AtoB"),
            "G_BA": cls.generator(cfg, "BtoA"),
            "D_A": cls.discriminator(cfg, cfg.input_nc, "D_A"),
            "D_B": cls.discriminator(cfg, cfg.output_nc, "D_B"),
        }

    @classmethod
    def directions(cls, config: TrainConfig) -> dict[str, str]:
        if config.translates:  # one generator of a CycleGAN, imported
            return {config.translates: GENERATOR_OF[config.translates]}
        return dict(GENERATOR_OF)

    def call(self, real_A, training=False):
        return self.G_AB(real_A, training=training)

    def generator_losses(self, real_A, real_B, training=True):
        """The generators' loss terms and the fakes, each generator pass computed once."""
        w = self.loss_weights
        distance = losses.RECONSTRUCTION[w.cycle_loss]
        if w.lambda_identity > 0:
            # A generator fed an image of its target domain should leave it as it is.
            fake_B, same_B = two_passes(self.G_AB, real_A, real_B, self.stack_passes, training)
            fake_A, same_A = two_passes(self.G_BA, real_B, real_A, self.stack_passes, training)
        else:
            fake_B = self.G_AB(real_A, training=training)
            fake_A = self.G_BA(real_B, training=training)
        self.observe_translation("G_AB", real_A, fake_B, real_B)
        self.observe_translation("G_BA", real_B, fake_A, real_A)
        terms = {}
        if w.use_gan:
            terms["G_AB"] = losses.generator_loss(self.D_B(fake_B, training=training), w.gan_mode)
            terms["G_BA"] = losses.generator_loss(self.D_A(fake_A, training=training), w.gan_mode)
        if w.cycle in ("forward", "both"):
            terms["cycle_A"] = w.lambda_A * distance(self.G_BA(fake_B, training=training), real_A)
        if w.cycle in ("backward", "both"):
            terms["cycle_B"] = w.lambda_B * distance(self.G_AB(fake_A, training=training), real_B)
        if w.lambda_identity > 0:
            terms["idt_B"] = w.lambda_B * w.lambda_identity * distance(same_B, real_B)
            terms["idt_A"] = w.lambda_A * w.lambda_identity * distance(same_A, real_A)
        return terms, fake_A, fake_B

    def discriminator_losses(self, real_A, real_B, fake_A, fake_B, training=True):
        w = self.loss_weights
        return {name: discriminator_term(D, real, fake, w.gan_mode, w.lambda_gp, training, self.stack_passes,
                                         self.health)
                for name, D, real, fake in (("D_A", self.D_A, real_A, fake_A), ("D_B", self.D_B, real_B, fake_B))}

    def train_step(self, data):
        real_A, real_B = data
        g_vars = self.trainable_variables_of(self.generators)
        d_vars = self.trainable_variables_of(self.discriminators)

        learning_rate = self.g_optimizer.learning_rate  # the rate this step uses
        with tf.GradientTape() as tape:
            g_terms, fake_A, fake_B = self.generator_losses(real_A, real_B)
            g_loss = self.g_optimizer.scale_loss(per_replica(tf.add_n(list(g_terms.values()))))
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars, strict=False))

        d_terms = {}
        if self.loss_weights.use_gan:  # cycle alone (--no-gan) has no discriminator to train
            # The discriminators see this step's fakes (no new generator pass), mixed with older ones.
            fake_A = self.pool_A(tf.stop_gradient(fake_A))
            fake_B = self.pool_B(tf.stop_gradient(fake_B))
            with tf.GradientTape() as tape:
                d_terms = self.discriminator_losses(real_A, real_B, fake_A, fake_B)
                d_loss = self.d_optimizer.scale_loss(per_replica(tf.add_n(list(d_terms.values()))))
            self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars, strict=False))
        return self.finish_step(g_terms, d_terms, learning_rate)

