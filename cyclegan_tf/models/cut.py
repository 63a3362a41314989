"""CUT and FastCUT (Park, Efros, Zhang, Zhu 2020): one-sided unpaired translation A -> B with a patchwise
contrastive loss instead of a second generator and a cycle.

A patch of the output must be more like the input's patch at the same place than like the input's other
patches, in the generator encoder's features (`nn.networks.encoder_features`) through small MLP heads `F`
(`nn.networks.patch_heads`), judged by PatchNCE (`nn.losses.patch_nce`). CUT adds the same loss on B images
passed through the generator (identity NCE, lambda_NCE 1); FastCUT drops it, weighs NCE 10 and trains on randomly
flipped inputs. The defaults are the CUT repository's (`presets.MODEL_PRESETS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from cyclegan_tf.choices import generator_depth
from cyclegan_tf.config import TrainConfig, parse_nce_layers
from cyclegan_tf.models.base import AdversarialModel, discriminator_term, per_replica
from cyclegan_tf.models.builders import build_discriminator, build_generator, compile_with_reference_optimizers
from cyclegan_tf.models.precision import build_under_policy
from cyclegan_tf.nn import losses
from cyclegan_tf.nn.networks import encoder_features, patch_heads


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


class CUT(AdversarialModel):
    """Contrastive unpaired translation: `G_AB`, its patch heads `F` (trained with it) and `D_B`.

    `fit` takes batches `(real_A, real_B)`. Each step: G on A (and B, for the identity NCE loss) in one call; D_B on
    real B against G's B (loss x 0.5); then G and F on lambda_GAN x GAN + the NCE terms (CUT: their mean with the
    identity term's), judged by the D just updated. Patch positions and flips are stateless draws seeded by
    (seed, step, replica).
    """

    LOSS_NAMES = ("G_GAN", "NCE", "NCE_Y", "D_B")
    GENERATOR_NAMES = ("G_AB", "F")  # F, the patch heads, trains with the generator (one Adam, as CUT's two)
    DISCRIMINATOR_NAMES = ("D_B",)

    def __init__(self, G_AB: keras.Model, F: keras.Model, D_B: keras.Model, nce_layers: tuple[int, ...],
                 antialias: bool = True, weights: CUTLossWeights | None = None, seed: int = 0,
                 stack_passes: bool = False, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.G_AB, self.F, self.D_B = G_AB, F, D_B
        self.stack_passes = stack_passes  # D on real and fake in one call (`two_passes`: per-sample norms, one size)
        self.loss_weights = weights or CUTLossWeights()
        self.encoder = encoder_features(G_AB, nce_layers, antialias)  # G's own layers: no weights of its own
        # G's output and its encoder features in one pass: the features of the inputs are the NCE's keys
        self.generator_and_features = keras.Model(G_AB.inputs, [G_AB.outputs[0], *self.encoder.outputs],
                                                  name="G_AB_and_features")

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
            per_layer.append(tf.reduce_mean(tf.reshape(losses.patch_nce(q, k, count, w.nce_T), [count, -1]), 1))
        per_image = tf.add_n(per_layer) / len(per_layer)
        terms = {"NCE": w.lambda_NCE * tf.reduce_mean(per_image[:batch])}
        if w.nce_idt:
            terms["NCE_Y"] = w.lambda_NCE * tf.reduce_mean(per_image[batch:])
        return terms

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
            with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                d_term = discriminator_term(self.D_B, real_B, tf.stop_gradient(fake_B), w.gan_mode, w.lambda_gp,
                                            stacked=self.stack_passes)
                d_loss = self.d_optimizer.scale_loss(per_replica(d_term))
            self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars, strict=False))
            terms = {"G_GAN": w.lambda_GAN * losses.generator_loss(self.D_B(fake_B, training=True), w.gan_mode)}
            terms.update(self.nce_losses(sources, fake, flipped, batch, [tf.stop_gradient(f) for f in input_features]))
            nce = (terms["NCE"] + terms["NCE_Y"]) * 0.5 if w.nce_idt else terms["NCE"]
            g_loss = self.g_optimizer.scale_loss(per_replica(terms["G_GAN"] + nce))
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars, strict=False))
        return self.finish_step({**terms, "D_B": d_term}, learning_rate)


def build_cut_networks(cfg: TrainConfig) -> dict[str, keras.Model]:
    """The generator, its patch heads (one per NCE layer, sized by the encoder's channels) and the discriminator."""
    generator = build_generator(cfg)
    layers = parse_nce_layers(cfg.nce_layers, generator_depth(cfg.netG)[1])
    channels = [int(output.shape[-1]) for output in encoder_features(generator, layers, cfg.antialias).outputs]
    with keras.name_scope("F"):
        heads = patch_heads(channels, cfg.netF_nc, cfg.init_type, cfg.init_gain, name="F")
    return {"G_AB": generator, "F": heads, "D_B": build_discriminator(cfg, cfg.output_nc, "D_B")}


def build_cut(cfg: TrainConfig, steps_per_epoch: int, image_shape: tuple | None = None) -> CUT:
    """A compiled CUT (or FastCUT: the same model with its preset's weights and switches).

    Args:
        cfg: the run's configuration (`lambda_GAN`, `lambda_NCE`, `nce_idt`, `nce_layers`, `num_patches`, `nce_T`,
            `flip_equivariance`, `netF_nc`, `antialias`, and the networks' options).
        steps_per_epoch: steps of one epoch (the learning-rate schedule counts epochs).
        image_shape: (height, width) of every training image, or None when they vary: D then judges real and fake
            in two calls.

    Returns:
        The compiled model, ready for `fit`.
    """
    weights = CUTLossWeights(gan_mode=cfg.gan_mode, lambda_GAN=cfg.lambda_GAN, lambda_NCE=cfg.lambda_NCE,
                             nce_idt=cfg.nce_idt, nce_T=cfg.nce_T, num_patches=cfg.num_patches,
                             flip_equivariance=cfg.flip_equivariance)
    layers = parse_nce_layers(cfg.nce_layers, generator_depth(cfg.netG)[1])
    model = CUT(**build_under_policy(cfg, build_cut_networks), nce_layers=layers, antialias=cfg.antialias,
                weights=weights, seed=cfg.seed or 0,
                stack_passes=image_shape is not None and cfg.norm != "batch")  # batch norm mixes stacked images

    return compile_with_reference_optimizers(model, cfg, steps_per_epoch)
