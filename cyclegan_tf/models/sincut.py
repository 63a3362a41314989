"""SinCUT (Park et al. 2020, Fig. 9; the CUT repository's `sincut_model.py`): CUT trained on one image of each
domain, from random crops, to translate the first image's content into the second's texture and style.

Beyond CUT: an R1 penalty on the discriminator's gradient at real B (`lambda_R1`), an L1 identity loss on G(B)
(`lambda_identity`, CUT's identity NCE pass reused), and each patch's NCE negatives drawn from the whole batch
(the repository's `nce_includes_all_negatives_from_minibatch`). Its networks are ours (CUT's anti-aliased ResNet
and PatchGAN, not the repository's StyleGAN2 ones), and crops are taken from the image scaled to `--load-size`
wide (no random zoom). An epoch is `--epoch-size` crops (the repository's single-image set has 100000).

    trainA/one_photo.jpg  trainB/one_painting.jpg
    cyclegan-tf train --model sincut --dataroot that_folder
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cyclegan_tf.errors import UserError
from cyclegan_tf.lazy import tf
from cyclegan_tf.models.base import register_model
from cyclegan_tf.models.cut import CUT
from cyclegan_tf.nn import losses
from cyclegan_tf.options import option

if TYPE_CHECKING:
    from cyclegan_tf.config import TrainConfig

BETA_2 = 0.99  # Adam's beta2 in sincut_model.py (the reference's models: 0.999)


@dataclass
class SinCUTOptions:
    """SinCUT's own options (its repository's names and defaults)."""

    lambda_R1: float = option(1.0, "Weight of the R1 gradient penalty on the discriminator at real B images.",
                              group="SinCUT")
    lambda_identity_L1: float = option(1.0, "Weight of L1(G(B), B), the identity preservation loss (the "
                                       "repository's lambda_identity).", group="SinCUT")


@register_model
class SinCUT(CUT):
    """CUT on one image pair: `fit` takes batches `(crops of A, crops of B)`; D_B also pays the R1 penalty, G the
    L1 identity loss."""

    NAME = "sincut"
    SUMMARY = ("CUT on one image of each domain (trainA/ and trainB/ of one image each) from random crops: the "
               "content of one in the style of the other")
    OPTIONS = SinCUTOptions
    # sincut_model.py's defaults where our networks take them (`ngf` 10 and `ndf` 8 sized its StyleGAN2 networks;
    # ours are a ResNet-6 and a 3-layer PatchGAN at 64 px crops of an image scaled to 1024 px wide).
    PRESET = dict(CUT.PRESET, netG="resnet_6blocks", ngf=16, ndf=16, gan_mode="vanilla", num_patches=1,
                  nce_layers="0,4,8", lambda_NCE=4.0, nce_idt=True, lr=0.002, beta1=0.0, load_size=1024,
                  crop_size=64, preprocess="scale_width_and_crop", batch_size=16, n_epochs=8, n_epochs_decay=8,
                  epoch_size=100000, save_epoch_freq=1, save_latest_freq=20000)
    LOSS_NAMES = (*CUT.LOSS_NAMES, "D_R1", "idt")
    NEGATIVES_FROM_BATCH = True

    @classmethod
    def validate(cls, cfg: TrainConfig) -> None:
        super().validate(cfg)
        if cfg.lambda_identity_L1 > 0 and not cfg.nce_idt:
            raise UserError("--lambda-identity-L1 compares G(B) with B, which the identity NCE pass makes: keep "
                            "--nce-idt or add --lambda-identity-L1 0")

    @classmethod
    def build(cls, cfg: TrainConfig, steps_per_epoch: int, image_shape: tuple | None = None) -> SinCUT:
        model = super().build(cfg, steps_per_epoch, image_shape)
        model.lambda_R1, model.lambda_identity_L1 = cfg.lambda_R1, cfg.lambda_identity_L1
        for optimizer in (model.g_optimizer, model.d_optimizer):  # (under fp16 loss scaling: the Adam inside)
            getattr(optimizer, "inner_optimizer", optimizer).beta_2 = BETA_2
        return model

    def discriminator_terms(self, real_B: tf.Tensor, fake_B: tf.Tensor) -> dict[str, tf.Tensor]:
        terms = super().discriminator_terms(real_B, fake_B)
        real_B = tf.convert_to_tensor(real_B)  # (a tape watches tensors only)
        with tf.GradientTape() as tape:  # R1: D's gradient at the real images, squared, summed per image
            tape.watch(real_B)
            score = tf.reduce_sum(tf.cast(self.D_B(real_B, training=True), tf.float32))
        slope = tf.cast(tape.gradient(score, real_B), tf.float32)
        terms["D_R1"] = 0.5 * self.lambda_R1 * tf.reduce_mean(tf.reduce_sum(tf.square(slope), axis=[1, 2, 3]))
        return terms

    def generator_terms(self, real_B, fake, sources, flipped, input_features) -> dict[str, tf.Tensor]:
        terms = super().generator_terms(real_B, fake, sources, flipped, input_features)
        same_B = fake[tf.shape(real_B)[0]:]  # G(real B), from the identity NCE pass (of flipped B with flips)
        same_B = tf.cond(flipped, lambda: tf.reverse(same_B, [2]), lambda: same_B)
        terms["idt"] = self.lambda_identity_L1 * losses.l1(same_B, real_B)
        return terms

    def generator_total(self, terms: dict[str, tf.Tensor]) -> tf.Tensor:
        return super().generator_total(terms) + terms["idt"]
