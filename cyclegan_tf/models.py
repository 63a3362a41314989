"""The CycleGAN model: two generators, two discriminators and one `train_step`.

Naming: `G_AB` translates A -> B and `G_BA` B -> A; `D_A` judges images of domain A and `D_B`
images of domain B. (The reference calls the discriminator of domain B `netD_A`, after the
generator it trains against; naming by domain is easier to read.)

To add a model: a `keras.Model` subclass with its own `train_step`, built by a `build_*` function
from a `TrainConfig`, reusing `networks`, `losses` and the `ImagePool`.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from cyclegan_tf import losses
from cyclegan_tf.config import TrainConfig
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


class CycleGAN(keras.Model):
    """Unpaired image-to-image translation (Zhu et al. 2017).

    `fit` takes batches `(real_A, real_B)` of float32 images in [-1, 1]. Each step updates both
    generators on GAN + cycle + identity losses, then both discriminators on real images and on
    fakes drawn from an `ImagePool`. `train_step` returns every loss term and the learning rate.
    """

    LOSS_NAMES = ("G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B")

    def __init__(self, G_AB: keras.Model, G_BA: keras.Model, D_A: keras.Model, D_B: keras.Model,
                 weights: CycleLossWeights | None = None, pool_size: int = 50, image_shape: tuple | None = None,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.G_AB, self.G_BA, self.D_A, self.D_B = G_AB, G_BA, D_A, D_B
        self.loss_weights = weights or CycleLossWeights()
        self.pool_A = ImagePool(pool_size if image_shape else 0, seed=seed, name="pool_A")
        self.pool_B = ImagePool(pool_size if image_shape else 0, seed=None if seed is None else seed + 1,
                                name="pool_B")
        if image_shape:  # (height, width): the fixed training size the pools store
            self.pool_A.build((None, *image_shape, G_BA.output_shape[-1]))
            self.pool_B.build((None, *image_shape, G_AB.output_shape[-1]))
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.LOSS_NAMES}
        # Training steps taken. Not the optimizers' `iterations`: under float16 loss scaling those skip
        # the steps whose gradients overflowed, and checkpoints and epochs count every step.
        self.step_counter = keras.Variable(0, dtype="int64", trainable=False, name="step_counter")

    @property
    def generators(self) -> list[keras.Model]:
        return [self.G_AB, self.G_BA]

    @property
    def discriminators(self) -> list[keras.Model]:
        return [self.D_A, self.D_B]

    def compile(self, g_optimizer: keras.optimizers.Optimizer, d_optimizer: keras.optimizers.Optimizer, **kwargs):
        # Keras' own `optimizer` is left unused: one optimizer per player, as in the reference.
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        g_vars = self.G_AB.trainable_variables + self.G_BA.trainable_variables
        d_vars = self.D_A.trainable_variables + self.D_B.trainable_variables
        g_optimizer.build(g_vars)
        d_optimizer.build(d_vars)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, real_A, training=False):
        return self.G_AB(real_A, training=training)

    def generator_losses(self, real_A, real_B, training=True):
        """The generators' loss terms and the fakes, each generator pass computed once."""
        w = self.loss_weights
        fake_B = self.G_AB(real_A, training=training)
        fake_A = self.G_BA(real_B, training=training)
        terms = {
            "G_AB": losses.generator_loss(self.D_B(fake_B, training=training), w.gan_mode),
            "G_BA": losses.generator_loss(self.D_A(fake_A, training=training), w.gan_mode),
            "cycle_A": w.lambda_A * losses.l1(self.G_BA(fake_B, training=training), real_A),
            "cycle_B": w.lambda_B * losses.l1(self.G_AB(fake_A, training=training), real_B),
        }
        if w.lambda_identity > 0:
            # A generator fed an image of its target domain should leave it as it is.
            terms["idt_B"] = w.lambda_B * w.lambda_identity * losses.l1(self.G_AB(real_B, training=training), real_B)
            terms["idt_A"] = w.lambda_A * w.lambda_identity * losses.l1(self.G_BA(real_A, training=training), real_A)
        return terms, fake_A, fake_B

    def discriminator_losses(self, real_A, real_B, fake_A, fake_B, training=True):
        w = self.loss_weights
        terms = {}
        for name, D, real, fake in (("D_A", self.D_A, real_A, fake_A), ("D_B", self.D_B, real_B, fake_B)):
            terms[name] = losses.discriminator_loss(D(real, training=training), D(fake, training=training), w.gan_mode)
            if w.gan_mode == "wgangp":
                terms[name] += losses.gradient_penalty(D, real, fake, w.lambda_gp)
        return terms

    def train_step(self, data):
        real_A, real_B = data
        g_vars = self.G_AB.trainable_variables + self.G_BA.trainable_variables
        d_vars = self.D_A.trainable_variables + self.D_B.trainable_variables

        learning_rate = self.g_optimizer.learning_rate  # the rate this step uses
        with tf.GradientTape() as tape:
            g_terms, fake_A, fake_B = self.generator_losses(real_A, real_B)
            g_loss = self.g_optimizer.scale_loss(tf.add_n(list(g_terms.values())))
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars, strict=False))

        # The discriminators see this step's fakes (no new generator pass), mixed with older ones.
        fake_A = self.pool_A(tf.stop_gradient(fake_A))
        fake_B = self.pool_B(tf.stop_gradient(fake_B))
        with tf.GradientTape() as tape:
            d_terms = self.discriminator_losses(real_A, real_B, fake_A, fake_B)
            d_loss = self.d_optimizer.scale_loss(tf.add_n(list(d_terms.values())))
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars, strict=False))

        self.step_counter.assign_add(1)
        for name, value in {**g_terms, **d_terms}.items():
            self.trackers[name].update_state(value)
        logs = {name: tracker.result() for name, tracker in self.trackers.items()}
        logs["lr"] = learning_rate
        return logs


def build_generator(cfg: TrainConfig, direction: str = "AtoB") -> keras.Model:
    """The generator of a run for `direction` ("AtoB" -> G_AB, "BtoA" -> G_BA)."""
    forward = direction == "AtoB"
    return define_generator(
        cfg.netG, input_nc=cfg.input_nc if forward else cfg.output_nc,
        output_nc=cfg.output_nc if forward else cfg.input_nc, ngf=cfg.ngf, norm=cfg.norm,
        use_dropout=cfg.dropout, init_type=cfg.init_type, init_gain=cfg.init_gain,
        name="G_AB" if forward else "G_BA",
    )


def build_networks(cfg: TrainConfig) -> dict[str, keras.Model]:
    """The four networks of a CycleGAN run, named as in `CycleGAN`."""
    d = dict(net_d=cfg.netD, ndf=cfg.ndf, norm=cfg.norm, n_layers=cfg.n_layers_D,
             init_type=cfg.init_type, init_gain=cfg.init_gain)
    return {
        "G_AB": build_generator(cfg, "AtoB"),
        "G_BA": build_generator(cfg, "BtoA"),
        "D_A": define_discriminator(input_nc=cfg.input_nc, name="D_A", **d),
        "D_B": define_discriminator(input_nc=cfg.output_nc, name="D_B", **d),
    }


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
                               lambda_identity=cfg.lambda_identity)
    policy = dtype_policy(cfg.mixed_precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)  # layers take the policy when they are made
    try:
        networks = build_networks(cfg)
    finally:
        keras.config.set_dtype_policy(previous)
    model = CycleGAN(**networks, weights=weights, pool_size=cfg.pool_size, image_shape=image_shape, seed=cfg.seed)

    def adam():
        schedule = LinearDecay(cfg.lr, steps_per_epoch, cfg.n_epochs, cfg.n_epochs_decay)
        optimizer = keras.optimizers.Adam(schedule, beta_1=cfg.beta1, beta_2=0.999)
        # float16 gradients underflow without loss scaling; bfloat16 has float32's range.
        return keras.optimizers.LossScaleOptimizer(optimizer) if policy == "mixed_float16" else optimizer

    jit = {"auto": "auto", "on": True, "off": False}[cfg.jit_compile]
    model.compile(g_optimizer=adam(), d_optimizer=adam(), jit_compile=jit,
                  steps_per_execution=cfg.steps_per_execution)
    return model
