"""The models: CycleGAN (two generators, two discriminators) and pix2pix, each with its own `train_step`.

Naming: `G_AB` translates A -> B and `G_BA` B -> A; `D_A` judges images of domain A and `D_B`
images of domain B. (The reference calls the discriminator of domain B `netD_A`, after the
generator it trains against; naming by domain is easier to read.)

`Pix2Pix` (Isola et al. 2017) is the paired model: one generator, stored as `G_AB` (the run's direction,
input -> output, like the reference's `netG`), and one conditional discriminator `D`.

To add a model: an `AdversarialModel` subclass with its own `train_step` and class attributes
`GENERATOR_NAMES`, `DISCRIMINATOR_NAMES` and `TRAINING_STATE` (the attribute names `checkpoints` saves),
built by a `build_*` function from a `TrainConfig` (see `BUILDERS`), reusing `networks`, `losses`,
`compile_with_reference_optimizers` and the `ImagePool`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import tensorflow as tf

from cyclegan_tf import losses
from cyclegan_tf.config import TrainConfig
from cyclegan_tf.errors import UserError
from cyclegan_tf.layers import ImagePool
from cyclegan_tf.networks import define_discriminator, define_generator


@keras.saving.register_keras_serializable(package="cyclegan_tf")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The reference's `linear` policy: constant for `n_epochs`, then linear decay over `n_epochs_decay`.

    The epoch is derived from the optimizer's step counter, so the schedule resumes with it.
    In epoch k (1-based) the rate is initial * (1 - max(0, k - n_epochs) / (n_epochs_decay + 1)).
    """

    def __init__(self, initial_learning_rate: float, steps_per_epoch: int, n_epochs: int, n_epochs_decay: int):
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch = int(steps_per_epoch)
        self.n_epochs = int(n_epochs)
        self.n_epochs_decay = int(n_epochs_decay)

    def __call__(self, step):
        epoch = tf.cast(step // self.steps_per_epoch, tf.float32) + 1.0
        decayed = tf.maximum(0.0, epoch - self.n_epochs) / (self.n_epochs_decay + 1.0)
        return self.initial_learning_rate * tf.maximum(0.0, 1.0 - decayed)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate, "steps_per_epoch": self.steps_per_epoch,
            "n_epochs": self.n_epochs, "n_epochs_decay": self.n_epochs_decay,
        }


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


def two_passes(network: keras.Model, first: tf.Tensor, second: tf.Tensor, stacked: bool,
               training: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
    """`network(first)` and `network(second)`, as one call on both batches stacked when `stacked`.

    One call on a batch of two keeps a CPU's cores busier than two calls on batches of one (about 10%
    faster training at 128-256 px here). It is the same computation only when every normalization is
    per sample (instance norm, or none) and both batches have one image size: the caller decides.
    """
    if not stacked:
        return network(first, training=training), network(second, training=training)
    both = network(tf.concat([first, second], axis=0), training=training)
    n = tf.shape(first)[0]
    return both[:n], both[n:]


def discriminator_term(D: keras.Model, real: tf.Tensor, fake: tf.Tensor, gan_mode: str, lambda_gp: float,
                       training: bool = True, stacked: bool = False) -> tf.Tensor:
    """One discriminator's loss on a real and a fake batch, with WGAN-GP's penalty when that is the mode."""
    real_logits, fake_logits = two_passes(D, real, fake, stacked, training)
    term = losses.discriminator_loss(real_logits, fake_logits, gan_mode)
    if gan_mode == "wgangp":
        term += losses.gradient_penalty(D, real, fake, lambda_gp)
    return term


class AdversarialModel(keras.Model):
    """What every model here shares: loss trackers, the step counter, one optimizer per player, the step's end.

    Subclasses name their networks in `GENERATOR_NAMES` and `DISCRIMINATOR_NAMES` and the rest of their
    training state in `TRAINING_STATE` (attribute names; `checkpoints` saves `NETWORKS` + `TRAINING_STATE`),
    and their loss terms in `LOSS_NAMES`.
    """

    LOSS_NAMES: tuple[str, ...] = ()
    GENERATOR_NAMES: tuple[str, ...] = ()
    DISCRIMINATOR_NAMES: tuple[str, ...] = ()
    TRAINING_STATE: tuple[str, ...] = ("g_optimizer", "d_optimizer", "step_counter")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.NETWORKS = cls.GENERATOR_NAMES + cls.DISCRIMINATOR_NAMES  # all a checkpoint's networks

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.LOSS_NAMES}
        # Training steps taken. Not the optimizers' `iterations`: under float16 loss scaling those skip
        # the steps whose gradients overflowed, and checkpoints and epochs count every step.
        self.step_counter = keras.Variable(0, dtype="int64", trainable=False, name="step_counter")

    @property
    def generators(self) -> list[keras.Model]:
        return [getattr(self, name) for name in self.GENERATOR_NAMES]

    @property
    def discriminators(self) -> list[keras.Model]:
        return [getattr(self, name) for name in self.DISCRIMINATOR_NAMES]

    def compile(self, g_optimizer: keras.optimizers.Optimizer, d_optimizer: keras.optimizers.Optimizer, **kwargs):
        # Keras' own `optimizer` is left unused: one optimizer per player, as in the reference.
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        g_optimizer.build(self.trainable_variables_of(self.generators))
        d_optimizer.build(self.trainable_variables_of(self.discriminators))

    @staticmethod
    def trainable_variables_of(networks: list[keras.Model]) -> list:
        return [v for network in networks for v in network.trainable_variables]

    @property
    def metrics(self):
        return list(self.trackers.values())

    def finish_step(self, terms: dict[str, tf.Tensor], learning_rate) -> dict[str, tf.Tensor]:
        """The end of every `train_step`: count the step, update the loss means, return the logs.

        Terms a configuration leaves out (an ablation switch, identity off) keep their tracker at 0, so
        every run of a model logs the same columns.
        """
        self.step_counter.assign_add(1)
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        logs = {name: tracker.result() for name, tracker in self.trackers.items()}
        logs["lr"] = learning_rate
        return logs


class CycleGAN(AdversarialModel):
    """Unpaired image-to-image translation (Zhu et al. 2017).

    `fit` takes batches `(real_A, real_B)` of float32 images in [-1, 1]. Each step updates both
    generators on GAN + cycle + identity losses, then both discriminators on real images and on
    fakes drawn from an `ImagePool`. `train_step` returns every loss term and the learning rate.
    """

    LOSS_NAMES = ("G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B")
    # The attributes a checkpoint holds: networks (all a translation needs), then the rest of the training state.
    GENERATOR_NAMES = ("G_AB", "G_BA")
    DISCRIMINATOR_NAMES = ("D_A", "D_B")
    TRAINING_STATE = ("g_optimizer", "d_optimizer", "pool_A", "pool_B", "step_counter")

    def __init__(self, G_AB: keras.Model, G_BA: keras.Model, D_A: keras.Model, D_B: keras.Model,
                 weights: CycleLossWeights | None = None, pool_size: int = 50, image_shape: tuple | None = None,
                 seed: int | None = None, stack_passes: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.G_AB, self.G_BA, self.D_A, self.D_B = G_AB, G_BA, D_A, D_B
        # Run a network's two passes on same-size inputs as one call (see `two_passes`); only valid with
        # per-sample normalization and a fixed training size, which `build_cycle_gan` checks.
        self.stack_passes = bool(stack_passes and image_shape)
        self.loss_weights = weights or CycleLossWeights()
        self.pool_A = ImagePool(pool_size if image_shape else 0, seed=seed, name="pool_A")
        self.pool_B = ImagePool(pool_size if image_shape else 0, seed=None if seed is None else seed + 1,
                                name="pool_B")
        if image_shape:  # (height, width): the fixed training size the pools store
            self.pool_A.build((None, *image_shape, G_BA.output_shape[-1]))
            self.pool_B.build((None, *image_shape, G_AB.output_shape[-1]))


    def call(self, real_A, training=False):
        return self.G_AB(real_A, training=training)

    def generator_losses(self, real_A, real_B, training=True):
        """The generators' loss terms and the fakes, each generator pass computed once."""
        w = self.loss_weights
        if w.lambda_identity > 0:
            # A generator fed an image of its target domain should leave it as it is.
            fake_B, same_B = two_passes(self.G_AB, real_A, real_B, self.stack_passes, training)
            fake_A, same_A = two_passes(self.G_BA, real_B, real_A, self.stack_passes, training)
        else:
            fake_B = self.G_AB(real_A, training=training)
            fake_A = self.G_BA(real_B, training=training)
        terms = {}
        if w.use_gan:
            terms["G_AB"] = losses.generator_loss(self.D_B(fake_B, training=training), w.gan_mode)
            terms["G_BA"] = losses.generator_loss(self.D_A(fake_A, training=training), w.gan_mode)
        if w.cycle in ("forward", "both"):
            terms["cycle_A"] = w.lambda_A * losses.l1(self.G_BA(fake_B, training=training), real_A)
        if w.cycle in ("backward", "both"):
            terms["cycle_B"] = w.lambda_B * losses.l1(self.G_AB(fake_A, training=training), real_B)
        if w.lambda_identity > 0:
            terms["idt_B"] = w.lambda_B * w.lambda_identity * losses.l1(same_B, real_B)
            terms["idt_A"] = w.lambda_A * w.lambda_identity * losses.l1(same_A, real_A)
        return terms, fake_A, fake_B

    def discriminator_losses(self, real_A, real_B, fake_A, fake_B, training=True):
        w = self.loss_weights
        return {name: discriminator_term(D, real, fake, w.gan_mode, w.lambda_gp, training, self.stack_passes)
                for name, D, real, fake in (("D_A", self.D_A, real_A, fake_A), ("D_B", self.D_B, real_B, fake_B))}

    def train_step(self, data):
        real_A, real_B = data
        g_vars = self.trainable_variables_of(self.generators)
        d_vars = self.trainable_variables_of(self.discriminators)

        learning_rate = self.g_optimizer.learning_rate  # the rate this step uses
        with tf.GradientTape() as tape:
            g_terms, fake_A, fake_B = self.generator_losses(real_A, real_B)
            g_loss = self.g_optimizer.scale_loss(tf.add_n(list(g_terms.values())))
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars, strict=False))

        d_terms = {}
        if self.loss_weights.use_gan:  # cycle alone (--no-gan) has no discriminator to train
            # The discriminators see this step's fakes (no new generator pass), mixed with older ones.
            fake_A = self.pool_A(tf.stop_gradient(fake_A))
            fake_B = self.pool_B(tf.stop_gradient(fake_B))
            with tf.GradientTape() as tape:
                d_terms = self.discriminator_losses(real_A, real_B, fake_A, fake_B)
                d_loss = self.d_optimizer.scale_loss(tf.add_n(list(d_terms.values())))
            self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars, strict=False))
        return self.finish_step({**g_terms, **d_terms}, learning_rate)


@dataclass
class Pix2PixLossWeights:
    """How pix2pix's generator loss is made up, with the paper's ablation switches (Table 1)."""

    gan_mode: str = "vanilla"
    lambda_L1: float = 100.0  # 0: GAN or cGAN alone
    lambda_gp: float = 10.0
    use_gan: bool = True  # False (--no-gan): L1 alone, no discriminator updates
    conditional: bool = True  # False (--unconditional-D): D sees the output only, not the input with it


class Pix2Pix(AdversarialModel):
    """Paired image-to-image translation (Isola et al. 2017): a generator and a conditional PatchGAN.

    `fit` takes batches `(input, target)` (the loader has already swapped A and B for `--direction BtoA`).
    The step follows the reference's order: one generator pass, then the discriminator on real pair vs
    fake pair (loss x 0.5), then the generator on GAN(D(input, fake)) + lambda_L1 * L1(fake, target),
    judged by the discriminator just updated. Dropout is the generator's only noise, as in the paper.
    """

    LOSS_NAMES = ("G_GAN", "G_L1", "D")
    # `G_AB` is the run's generator whatever its direction (the reference's netG), so `translate` finds it.
    GENERATOR_NAMES = ("G_AB",)
    DISCRIMINATOR_NAMES = ("D",)
    TRAINING_STATE = ("g_optimizer", "d_optimizer", "step_counter")

    def __init__(self, G_AB: keras.Model, D: keras.Model, weights: Pix2PixLossWeights | None = None, **kwargs):
        super().__init__(**kwargs)
        self.G_AB, self.D = G_AB, D
        self.loss_weights = weights or Pix2PixLossWeights()

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
                                        w.lambda_gp, training)}

    def train_step(self, data):
        inputs, target = data
        g_vars = self.trainable_variables_of(self.generators)
        d_vars = self.trainable_variables_of(self.discriminators)
        learning_rate = self.g_optimizer.learning_rate
        d_terms = {}
        with tf.GradientTape() as g_tape:
            fake = self.G_AB(inputs, training=True)
            if self.loss_weights.use_gan:
                with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                    d_terms = self.discriminator_losses(inputs, target, tf.stop_gradient(fake))
                    d_loss = self.d_optimizer.scale_loss(tf.add_n(list(d_terms.values())))
                self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars, strict=False))
            g_terms = self.generator_losses(inputs, target, fake)
            g_loss = self.g_optimizer.scale_loss(tf.add_n(list(g_terms.values())))
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars, strict=False))
        return self.finish_step({**g_terms, **d_terms}, learning_rate)


def build_generator(cfg: TrainConfig, direction: str = "AtoB") -> keras.Model:
    """The generator of a run for `direction` ("AtoB" -> G_AB, "BtoA" -> G_BA)."""
    forward = direction == "AtoB"
    return define_generator(
        cfg.netG, input_nc=cfg.input_nc if forward else cfg.output_nc,
        output_nc=cfg.output_nc if forward else cfg.input_nc, ngf=cfg.ngf, norm=cfg.norm,
        use_dropout=cfg.dropout, init_type=cfg.init_type, init_gain=cfg.init_gain,
        name="G_AB" if forward else "G_BA",
    )


def build_discriminator(cfg: TrainConfig, input_nc: int, name: str) -> keras.Model:
    return define_discriminator(net_d=cfg.netD, input_nc=input_nc, ndf=cfg.ndf, norm=cfg.norm, n_layers=cfg.n_layers_D,
                                init_type=cfg.init_type, init_gain=cfg.init_gain, name=name)


def build_networks(cfg: TrainConfig) -> dict[str, keras.Model]:
    """The four networks of a CycleGAN run, named as in `CycleGAN`."""
    return {
        "G_AB": build_generator(cfg, "AtoB"),
        "G_BA": build_generator(cfg, "BtoA"),
        "D_A": build_discriminator(cfg, cfg.input_nc, "D_A"),
        "D_B": build_discriminator(cfg, cfg.output_nc, "D_B"),
    }


def build_pix2pix_networks(cfg: TrainConfig) -> dict[str, keras.Model]:
    """pix2pix's generator for the run's `--direction` and its (conditional) discriminator."""
    source_nc, target_nc = (cfg.input_nc, cfg.output_nc) if cfg.direction == "AtoB" else (cfg.output_nc, cfg.input_nc)
    d_input_nc = target_nc if cfg.unconditional_D else source_nc + target_nc
    return {"G_AB": build_generator(cfg, cfg.direction), "D": build_discriminator(cfg, d_input_nc, "D")}


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX); without it oneDNN emulates it."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def dtype_policy(mixed_precision: str) -> str:
    """The Keras dtype policy for `--mixed-precision` off|bf16|fp16|auto."""
    if mixed_precision == "auto":
        if tf.config.list_physical_devices("GPU"):
            mixed_precision = "fp16"
        else:
            mixed_precision = "bf16" if cpu_has_native_bfloat16() else "off"
    policies = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
    if mixed_precision not in policies:
        raise ValueError(f"mixed_precision must be off, bf16, fp16 or auto, not {mixed_precision!r}")
    return policies[mixed_precision]


def build_cycle_gan(cfg: TrainConfig, steps_per_epoch: int, image_shape: tuple | None) -> CycleGAN:
    """A compiled CycleGAN with the reference's optimizers and learning-rate schedule.

    Under mixed precision the layers compute in bfloat16/float16 while variables stay float32;
    generator and discriminator outputs, losses and the image pools are float32 (see `networks`).
    """
    weights = CycleLossWeights(gan_mode=cfg.gan_mode, lambda_A=cfg.lambda_A, lambda_B=cfg.lambda_B,
                               lambda_identity=cfg.lambda_identity, use_gan=not cfg.no_gan, cycle=cfg.cycle)
    networks = build_under_policy(cfg, build_networks)
    model = CycleGAN(**networks, weights=weights, pool_size=cfg.pool_size, image_shape=image_shape, seed=cfg.seed,
                     stack_passes=cfg.norm != "batch")  # batch norm would mix the stacked images' statistics
    return compile_with_reference_optimizers(model, cfg, steps_per_epoch)


def build_pix2pix(cfg: TrainConfig, steps_per_epoch: int, image_shape: tuple | None = None) -> Pix2Pix:
    """A compiled pix2pix model (same optimizers, schedule and precision handling as `build_cycle_gan`).

    `image_shape` is unused (pix2pix keeps no image pool); it is taken so that every builder has one signature.
    """
    weights = Pix2PixLossWeights(gan_mode=cfg.gan_mode, lambda_L1=cfg.lambda_L1, use_gan=not cfg.no_gan,
                                 conditional=not cfg.unconditional_D)
    model = Pix2Pix(**build_under_policy(cfg, build_pix2pix_networks), weights=weights)
    return compile_with_reference_optimizers(model, cfg, steps_per_epoch)


BUILDERS: dict[str, Callable[[TrainConfig, int, tuple | None], AdversarialModel]] = {
    "cycle_gan": build_cycle_gan, "pix2pix": build_pix2pix,
}


def build_model(cfg: TrainConfig, steps_per_epoch: int, image_shape: tuple | None) -> AdversarialModel:
    """The compiled model of `cfg.model` (see `BUILDERS`)."""
    if cfg.model not in BUILDERS:
        raise UserError(f"--model must be one of {', '.join(BUILDERS)}, not {cfg.model!r}")
    return BUILDERS[cfg.model](cfg, steps_per_epoch, image_shape)


def build_under_policy(cfg: TrainConfig, make: Callable[[TrainConfig], dict]) -> dict:
    """`make(cfg)` with the Keras dtype policy of `--mixed-precision` (layers take it when they are made)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype_policy(cfg.mixed_precision))
    try:
        return make(cfg)
    finally:
        keras.config.set_dtype_policy(previous)


def compile_with_reference_optimizers(model: AdversarialModel, cfg: TrainConfig, steps_per_epoch: int):
    """Compile with one Adam per player (lr, beta1, linear decay as the reference), loss scaling under fp16."""
    policy = dtype_policy(cfg.mixed_precision)

    def adam():
        schedule = LinearDecay(cfg.lr, steps_per_epoch, cfg.n_epochs, cfg.n_epochs_decay)
        optimizer = keras.optimizers.Adam(schedule, beta_1=cfg.beta1, beta_2=0.999)
        # float16 gradients underflow without loss scaling; bfloat16 has float32's range.
        return keras.optimizers.LossScaleOptimizer(optimizer) if policy == "mixed_float16" else optimizer

    jit = {"auto": "auto", "on": True, "off": False}[cfg.jit_compile]
    model.compile(g_optimizer=adam(), d_optimizer=adam(), jit_compile=jit,
                  steps_per_execution=cfg.steps_per_execution)
    return model
