"""CUT and FastCUT (Park, Efros, Zhang, Zhu 2020): one-sided unpaired translation A -> B with a patchwise
contrastive loss instead of a second generator and a cycle.

A patch of the output must be more like the input's patch at the same place than like the input's other
patches, in the generator encoder's features (`nn.networks.encoder_features`) through small MLP heads `F`
(`nn.networks.patch_heads`), judged by PatchNCE (`nn.losses.patch_nce`). CUT adds the same loss on B images
passed through the generator (identity NCE, lambda_NCE 1); FastCUT drops it, weighs NCE 10 and trains on randomly
flipped inputs (`FastCUT`). The defaults are the CUT repository's (`CUT.PRESET`, `FastCUT.PRESET`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cyclegan_tf.choices import generator_depth
from cyclegan_tf.errors import UserError
from cyclegan_tf.lazy import keras, tf
from cyclegan_tf.models.base import AdversarialModel, check_positive, discriminator_term, per_replica, register_model
from cyclegan_tf.models.builders import compile_with_reference_optimizers
from cyclegan_tf.models.precision import build_under_policy
from cyclegan_tf.nn import losses
from cyclegan_tf.options import option

if TYPE_CHECKING:
    from cyclegan_tf.config import TrainConfig


@dataclass
class CUTOptions:
    """CUT's own options (the CUT repository's names), FastCUT's and SinCUT's too."""

    lambda_GAN: float = option(1.0, "Weight of the GAN loss.", group="CUT")
    lambda_NCE: float = option(1.0, "Weight of the PatchNCE loss (fastcut: 10).", group="CUT")
    nce_idt: bool = option(True, "The identity PatchNCE loss on domain B images too (fastcut: off).", group="CUT",
                           flags=("--nce-idt/--no-nce-idt",))
    nce_layers: str = option("0,4,8,12,16", "The generator's layers (the reference's module indices) whose "
                             "features the PatchNCE loss compares.", group="CUT", architecture=True)
    num_patches: int = option(256, "Patches sampled per layer and image.", group="CUT")
    nce_T: float = option(0.07, "Temperature of the PatchNCE loss.", group="CUT")
    flip_equivariance: bool = option(False, "Flip the input at random and the features back (fastcut's default).",
                                     group="CUT", flags=("--flip-equivariance/--no-flip-equivariance",))
    netF_nc: int = option(256, "Width of the MLP heads on the generator's encoder features.", group="CUT",
                          architecture=True)


def parse_nce_layers(text: str, n_blocks: int) -> tuple[int, ...]:
    """`--nce-layers` ("0,4,8,12,16"): module indices of the reference's anti-aliased ResNet generator (0: the
    padded input, 4 and 8: the downsampling convs, 12 + i: residual block i + 1), each one of its encoder's
    (up to 11 + n_blocks); a `UserError` otherwise."""
    try:
        layers = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"--nce-layers is a comma-separated list of layer numbers, not {text!r}") from None
    last = 11 + n_blocks
    if not layers or any(not 0 <= layer <= last for layer in layers) or len(set(layers)) != len(layers):
        raise UserError(f"--nce-layers {text}: distinct numbers from 0 to {last} (the encoder of a ResNet with "
                        f"{n_blocks} blocks)")
    return layers


@dataclass
class CUTLossWeights:
    """How CUT's generator loss is made up (CUT's option names)."""

    gan_mode: str = "lsgan"
    lambda_GAN: float = 1.0
    lambda_NCE: float = 1.0
    nce_idt: bool = True  # the identity NCE loss on G(real_B) (CUT), off for FastCUT
    nce_T: float = 0.07
    num_patches: int = 256
    flip_equivariance: bool = False  # FastCUT: flip the input at random, the query features back
    lambda_gp: float = 10.0


@register_model
class CUT(AdversarialModel):
    """Contrastive unpaired translation: `G_AB`, its patch heads `F` (trained with it) and `D_B`.

    `fit` takes batches `(real_A, real_B)`. Each step: G on A (and B, for the identity NCE loss) in one call; D_B on
    real B against G's B (loss x 0.5); then G and F on lambda_GAN x GAN + the NCE terms (CUT: their mean with the
    identity term's), judged by the D just updated. Patch positions and flips are stateless draws seeded by
    (seed, step, replica).
    """

    NAME = "cut"
    SUMMARY = ("one-sided unpaired translation A -> B with a patchwise contrastive loss, Park et al. 2020; trainA/ "
               "trainB/; the CUT repository's defaults")
    DATA = "unpaired"
    OPTIONS = CUTOptions
    # The CUT repository's defaults (its options and cut_model.py): xavier init, anti-aliased sampling, no pool,
    # lsgan, 200 + 200 epochs with the identity NCE loss.
    PRESET = dict(netG="resnet_9blocks", netD="basic", norm="instance", init_type="xavier", init_gain=0.02,
                  antialias=True, pool_size=0, gan_mode="lsgan", lambda_GAN=1.0, lambda_NCE=1.0, nce_idt=True,
                  flip_equivariance=False, n_epochs=200, n_epochs_decay=200, dropout=False)
    # XLA aborts the process on CUT's step (a failed check in its dynamic-dimension inference, seen on a CPU in
    # float32 and bf16): `--jit-compile auto` leaves it off.
    XLA_SAFE = False

    LOSS_NAMES = ("G_GAN", "NCE", "NCE_Y", "D_B")
    GAN_TERMS = ("G_GAN",)
    NEGATIVES_FROM_BATCH = False  # each patch's negatives: the other patches of its image (see `negative_groups`)
    GENERATOR_NAMES = ("G_AB", "F")  # F, the patch heads, trains with the generator (one Adam, as CUT's two)
    DISCRIMINATOR_NAMES = ("D_B",)

    def __init__(self, G_AB: keras.Model, F: keras.Model, D_B: keras.Model, nce_layers: tuple[int, ...],
                 antialias: bool = True, weights: CUTLossWeights | None = None, seed: int = 0,
                 stack_passes: bool = False, **kwargs):
        from cyclegan_tf.nn.networks import encoder_features

        super().__init__(seed=seed, **kwargs)
        self.G_AB, self.F, self.D_B = G_AB, F, D_B
        self.stack_passes = stack_passes  # D on real and fake in one call (`two_passes`: per-sample norms, one size)
        self.loss_weights = weights or CUTLossWeights()
        self.encoder = encoder_features(G_AB, nce_layers, antialias)  # G's own layers: no weights of its own
        # G's output and its encoder features in one pass: the features of the inputs are the NCE's keys
        self.generator_and_features = keras.Model(G_AB.inputs, [G_AB.outputs[0], *self.encoder.outputs],
                                                  name="G_AB_and_features")

    @classmethod
    def validate(cls, cfg: TrainConfig) -> None:
        if (parsed := generator_depth(cfg.netG)) is None or parsed[0] != "resnet":
            raise UserError(f"--model {cfg.model} takes a ResNet generator (--netG resnet_<N>blocks), not "
                            f"{cfg.netG}: its PatchNCE layers are the ResNet's")
        parse_nce_layers(cfg.nce_layers, parsed[1])
        if cfg.nce_idt and cfg.input_nc != cfg.output_nc:
            raise UserError("the identity PatchNCE loss feeds B images to the generator: it needs --input-nc "
                            "equal to --output-nc (or --no-nce-idt)")
        check_positive(num_patches=cfg.num_patches)
        if cfg.nce_T <= 0:
            raise UserError("--nce-T must be above 0")

    @classmethod
    def build(cls, cfg: TrainConfig, steps_per_epoch: int, image_shape: tuple | None = None) -> CUT:
        """A compiled model; with `image_shape` None (images of several sizes) D judges real and fake in two
        calls."""
        weights = CUTLossWeights(gan_mode=cfg.gan_mode, lambda_GAN=cfg.lambda_GAN, lambda_NCE=cfg.lambda_NCE,
                                 nce_idt=cfg.nce_idt, nce_T=cfg.nce_T, num_patches=cfg.num_patches,
                                 flip_equivariance=cfg.flip_equivariance)
        layers = parse_nce_layers(cfg.nce_layers, generator_depth(cfg.netG)[1])
        model = cls(**build_under_policy(cfg, cls.networks), nce_layers=layers, antialias=cfg.antialias,
                    weights=weights, seed=cfg.seed or 0,
                    stack_passes=image_shape is not None and cfg.norm != "batch")  # batch norm mixes stacked images
        return compile_with_reference_optimizers(model, cfg, steps_per_epoch)

    @classmethod
    def networks(cls, cfg: TrainConfig) -> dict[str, keras.Model]:
        """The generator, its patch heads (one per NCE layer, sized by the encoder's channels) and the
        discriminator."""
        from cyclegan_tf.nn.networks import encoder_features, patch_heads

        generator = cls.generator(cfg)
        layers = parse_nce_layers(cfg.nce_layers, generator_depth(cfg.netG)[1])
        channels = [int(output.shape[-1]) for output in encoder_features(generator, layers, cfg.antialias).outputs]
        with keras.name_scope("F"):
            heads = patch_heads(channels, cfg.netF_nc, cfg.init_type, cfg.init_gain, name="F")
        return {"G_AB": generator, "F": heads, "D_B": cls.discriminator(cfg, cfg.output_nc, "D_B")}

    @classmethod
    def directions(cls, config: TrainConfig) -> dict[str, str]:
        return {"AtoB": "G_AB"}

    def call(self, inputs, training=False):
        return self.G_AB(inputs, training=training)

    def sample_patches(self, features: list[tf.Tensor]) -> list[tf.Tensor]:
        """The same random `num_patches` positions of every image, per layer: (N, H, W, C) -> (N * P, C)."""
        out = []
        for j, feature in enumerate(features):
            shape = tf.shape(feature)
            flat = tf.reshape(feature, [shape[0], shape[1] * shape[2], shape[3]])
            order = tf.argsort(tf.random.stateless_uniform([shape[1] * shape[2]], seed=self.step_seed(1 + j)))
            picked = tf.gather(flat, order[:self.loss_weights.num_patches], axis=1)
            out.append(tf.reshape(picked, [-1, shape[3]]))
        return out

    def nce_losses(self, sources: tf.Tensor, outputs: tf.Tensor, flipped, batch,
                   source_features: list[tf.Tensor] | None = None) -> dict[str, tf.Tensor]:
        """NCE (real A vs G's output) and, with the identity loss, NCE_Y (real B vs G(B)), each lambda_NCE x the mean
        over layers of the mean over patches.

        Args:
            sources: the generator's inputs, unflipped: real A (and real B after them).
            outputs: what the generator made of them (of the flipped inputs when `flipped`).
            flipped: a bool tensor: the inputs were flipped left-right (FastCUT), so the queries are flipped back.
            batch: images of A in `sources`.
            source_features: the encoder's features of the generator's inputs from its forward pass: the keys
                when the inputs were the sources (not flipped), saving an encoder pass; None computes them.
        """
        w = self.loss_weights

        def encode(images):  # (a Keras model of one output returns it bare: flatten makes a list of one)
            return tf.nest.flatten(self.encoder(tf.cast(images, outputs.dtype), training=True))

        count = tf.shape(outputs)[0]
        queries = [tf.cond(flipped, lambda f=f: tf.reverse(f, [2]), lambda f=f: f) for f in encode(outputs)]
        if source_features is None:
            keys = encode(sources)
        else:
            keys = tf.cond(flipped, lambda: encode(sources), lambda: list(source_features))
        # each layer's patch positions are shared by queries and keys
        features = [tf.concat([q, tf.cast(k, q.dtype)], axis=0) for q, k in zip(queries, keys, strict=True)]
        per_layer = []
        for projection in tf.nest.flatten(self.F(self.sample_patches(features), training=True)):
            half = tf.shape(projection)[0] // 2
            q, k = losses.l2_normalize(projection[:half]), losses.l2_normalize(projection[half:])
            # each image's mean over its patches (a layer smaller than num_patches has fewer)
            per_patch = losses.patch_nce(q, k, self.negative_groups(count), w.nce_T)
            per_layer.append(tf.reduce_mean(tf.reshape(per_patch, [count, -1]), 1))
        per_image = tf.add_n(per_layer) / len(per_layer)
        terms = {"NCE": w.lambda_NCE * tf.reduce_mean(per_image[:batch])}
        if w.nce_idt:
            terms["NCE_Y"] = w.lambda_NCE * tf.reduce_mean(per_image[batch:])
        return terms

    def negative_groups(self, count: tf.Tensor) -> int | tf.Tensor:
        """Into how many groups the NCE's `count` images fall, each patch's negatives being the other patches of its
        group: one group per image (CUT's; `NEGATIVES_FROM_BATCH`: the batch of A, and that of B apart)."""
        if self.NEGATIVES_FROM_BATCH:
            return 2 if self.loss_weights.nce_idt else 1
        return count

    def discriminator_terms(self, real_B: tf.Tensor, fake_B: tf.Tensor) -> dict[str, tf.Tensor]:
        """D_B's loss terms on real B and G's B (summed for its update)."""
        w = self.loss_weights
        return {"D_B": discriminator_term(self.D_B, real_B, fake_B, w.gan_mode, w.lambda_gp,
                                          stacked=self.stack_passes, probe=self.health)}

    def generator_terms(self, real_B: tf.Tensor, fake: tf.Tensor, sources: tf.Tensor, flipped: tf.Tensor,
                        input_features: list[tf.Tensor]) -> dict[str, tf.Tensor]:
        """G's and F's loss terms: lambda_GAN x GAN on G's B (judged by the D just updated) and the NCE terms.

        Args:
            real_B: the batch of B.
            fake: G's outputs: of A, then (with the identity NCE loss) of B.
            sources, flipped: as `nce_losses` takes them.
            input_features: the encoder's features of the generator's inputs, from its forward pass.
        """
        w = self.loss_weights
        batch = tf.shape(real_B)[0]
        terms = {"G_GAN": w.lambda_GAN * losses.generator_loss(self.D_B(fake[:batch], training=True), w.gan_mode)}
        terms.update(self.nce_losses(sources, fake, flipped, batch, [tf.stop_gradient(f) for f in input_features]))
        return terms

    def generator_total(self, terms: dict[str, tf.Tensor]) -> tf.Tensor:
        """The loss G and F descend: GAN + NCE (CUT: the mean of NCE and the identity NCE_Y)."""
        nce = (terms["NCE"] + terms["NCE_Y"]) * 0.5 if self.loss_weights.nce_idt else terms["NCE"]
        return terms["G_GAN"] + nce

    def train_step(self, data):
        real_A, real_B = data
        w = self.loss_weights
        g_vars = self.trainable_variables_of(self.generators)
        d_vars = self.trainable_variables_of(self.discriminators)
        learning_rate = self.g_optimizer.learning_rate
        batch = tf.shape(real_A)[0]
        sources = tf.concat([real_A, real_B], axis=0) if w.nce_idt else real_A
        flipped = tf.constant(False)
        if w.flip_equivariance:
            flipped = tf.random.stateless_uniform([], seed=self.step_seed(0)) < 0.5
        inputs = tf.cond(flipped, lambda: tf.reverse(sources, [2]), lambda: sources)
        with tf.GradientTape() as g_tape:
            fake, *input_features = self.generator_and_features(inputs, training=True)
            fake_B = fake[:batch]
            self.observe_translation("G_AB", real_A, tf.cond(flipped, lambda: tf.reverse(fake_B, [2]),
                                                             lambda: fake_B), real_B)
            with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                d_terms = self.discriminator_terms(real_B, tf.stop_gradient(fake_B))
                d_loss = self.d_optimizer.scale_loss(per_replica(tf.add_n(list(d_terms.values()))))
            self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars, strict=False))
            terms = self.generator_terms(real_B, fake, sources, flipped, input_features)
            g_loss = self.g_optimizer.scale_loss(per_replica(self.generator_total(terms)))
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars, strict=False))
        return self.finish_step(terms, d_terms, learning_rate)



@register_model
class FastCUT(CUT):
    """CUT without the identity NCE loss, NCE weighed 10, trained on randomly flipped inputs: faster, and the
    CUT repository's choice for large changes of shape."""

    NAME = "fastcut"
    SUMMARY = "CUT without the identity NCE loss, lambda_NCE 10 and flips; 150 + 50 epochs"
    PRESET = dict(CUT.PRESET, lambda_NCE=10.0, nce_idt=False, flip_equivariance=True, n_epochs=150,
                  n_epochs_decay=50)
