"""What every model shares: `AdversarialModel` (what a model declares about itself, loss trackers, the step
counter, one optimizer per player, the end of a step), `register_model`, and the helpers of their `train_step`s.

Importing a model module costs no TensorFlow (`cyclegan_tf.lazy`): `AdversarialModel` is a plain class until a
model is made, when Keras' `Model` joins it (`__new__`), so that `train --help`, config files and their checks read
every model's declarations in a fraction of a second.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any, ClassVar

from cyclegan_tf.compat import SkipSymbolicBuild, multiworker_logs
from cyclegan_tf.errors import UserError
from cyclegan_tf.lazy import keras, tf

if TYPE_CHECKING:
    from cyclegan_tf.config import TrainConfig
    from cyclegan_tf.models.health import HealthProbe


def two_passes(network: keras.Model, first: tf.Tensor, second: tf.Tensor, stacked: bool,
               training: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
    """`network(first)` and `network(second)`, as one call on both batches stacked when `stacked`.

    One call on a batch of two keeps a CPU's cores busier than two calls on batches of one (docs/performance.md
    has the measurement). It is the same computation only when every normalization is
    per sample (instance norm, or none) and both batches have one image size: the caller decides.

    Args:
        network: the network to run on both batches.
        first: a batch (N, H, W, C).
        second: another batch; of `first`'s height, width and channels when `stacked`.
        stacked: run one call on both batches concatenated along the batch axis; False: two calls.
        training: passed to the network (batch norm statistics, dropout).

    Returns:
        (network(first), network(second)).
    """
    if not stacked:
        return network(first, training=training), network(second, training=training)
    both = network(tf.concat([first, second], axis=0), training=training)
    n = tf.shape(first)[0]
    return both[:n], both[n:]


def per_replica(loss: tf.Tensor) -> tf.Tensor:
    """A loss to differentiate on one replica of a `tf.distribute` strategy: divided by the number of replicas,
    since the optimizers sum the replicas' gradients (the identity outside a strategy)."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss / replicas


def discriminator_term(D: keras.Model, real: tf.Tensor, fake: tf.Tensor, gan_mode: str, lambda_gp: float,
                       training: bool = True, stacked: bool = False, probe: HealthProbe | None = None) -> tf.Tensor:
    """One discriminator's loss on a real and a fake batch, with WGAN-GP's penalty when that is the mode.

    Args:
        D: the discriminator.
        real: a batch of real images (or real conditioned pairs), in [-1, 1].
        fake: a batch of generated images of the same shape.
        gan_mode: "lsgan", "vanilla", "hinge" or "wgangp" (see `nn.losses`).
        lambda_gp: the weight of the gradient penalty; used with "wgangp" only.
        training: passed to the discriminator.
        stacked: judge both batches in one call (see `two_passes`).
        probe: where the model's training-health signals are recorded (its `health`), or None.

    Returns:
        The float32 scalar loss (halved as in the reference, plus the penalty).
    """
    from cyclegan_tf.nn import losses

    real_logits, fake_logits = two_passes(D, real, fake, stacked, training)
    if probe is not None:
        probe.separation(real_logits, fake_logits)
    term = losses.discriminator_loss(real_logits, fake_logits, gan_mode)
    if gan_mode == "wgangp":
        term += losses.gradient_penalty(D, real, fake, lambda_gp)
    return term


MODELS: dict[str, type[AdversarialModel]] = {}  # --model name -> class, filled by `register_model`


def register_model(model: type[AdversarialModel]) -> type[AdversarialModel]:
    """Class decorator: `model` answers to `--model <model.NAME>` (`models.registry` finds every model module)."""
    if not model.NAME or model.NAME in MODELS:
        raise ValueError(f"model {model.__name__} needs a NAME no other model has, not {model.NAME!r}")
    MODELS[model.NAME] = model
    return model


class AdversarialModel(SkipSymbolicBuild):
    """What every model here shares: what it declares about itself, loss trackers, the step counter, one
    optimizer per player, the step's end.

    A model is one module: a subclass registered with `@register_model` that declares

    - `NAME` (its `--model`; `DEFAULT`: the one `--model` defaults to), `SUMMARY` (its line in `train --help`),
      `DATA` (what it trains on: "unpaired" trainA/ trainB/, "aligned" A|B images, "single" one folder),
      `OPTIONS` (a dataclass of its own options, fields made with `options.option`; `TrainConfig` carries them
      under their names), `PRESET` (option values it brings, over the shared defaults), `GENERATES` (it makes
      images from noise, translating none), `XLA_SAFE` (False: `--jit-compile auto` leaves XLA off),
      `FULLY_CONVOLUTIONAL` (False: its networks take one image size, `--crop-size`), `RESUME_FIXED` (shared
      options that fix its weights' shapes), `REFERENCE_FILES` (the reference's .pth files of it), `SCIENTIFIC`
      (False: its data stay 8-bit grey or colour, no bands beyond 3 nor `--value-range`; `SCIENTIFIC_NOTE` says why);
    - `build(cfg, steps_per_epoch, image_shape)` (a classmethod: the compiled model, ready for `fit`; image_shape
      is None when the training images vary in size), and where the defaults do not fit `validate(cfg)`,
      `generator`, `discriminator`, `directions`, `translation_network`, `data_config`;
    - its networks in `GENERATOR_NAMES` and `DISCRIMINATOR_NAMES` and the rest of its training state in
      `TRAINING_STATE` (attribute names; `runs.checkpoints` saves `NETWORKS` + `TRAINING_STATE`), its loss terms
      in `LOSS_NAMES` (the generators' adversarial ones also in `GAN_TERMS`), and its `train_step`, which records
      what training health reads (`observe_translation`, `discriminator_term(probe=self.health)`) and ends
      with `finish_step`.
    """

    NAME: ClassVar[str] = ""
    DEFAULT: ClassVar[bool] = False  # the model `--model` defaults to (one has it)
    SUMMARY: ClassVar[str] = ""
    DATA: ClassVar[str] = "unpaired"
    OPTIONS: ClassVar[type | None] = None
    PRESET: ClassVar[dict[str, Any]] = {}
    GENERATES: ClassVar[bool] = False
    XLA_SAFE: ClassVar[bool] = True
    FULLY_CONVOLUTIONAL: ClassVar[bool] = True
    RESUME_FIXED: ClassVar[tuple[str, ...]] = ()
    SCIENTIFIC: ClassVar[bool] = True  # any --input-nc/--output-nc, 16-bit and float values (data.scientific)
    SCIENTIFIC_NOTE: ClassVar[str] = ""
    # the reference's checkpoint files of this model that `cyclegan-tf import-torch` reads: {our attribute: the
    # suffix of its latest_net_<suffix>.pth}
    REFERENCE_FILES: ClassVar[dict[str, str]] = {}

    LOSS_NAMES: tuple[str, ...] = ()
    GAN_TERMS: tuple[str, ...] = ()  # the generators' adversarial terms among LOSS_NAMES
    GENERATOR_NAMES: tuple[str, ...] = ()
    DISCRIMINATOR_NAMES: tuple[str, ...] = ()
    TRAINING_STATE: tuple[str, ...] = ("g_optimizer", "d_optimizer", "step_counter")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.NETWORKS = cls.GENERATOR_NAMES + cls.DISCRIMINATOR_NAMES  # all a checkpoint's networks

    def __new__(cls, *args, **kwargs):
        # A model is a Keras `Model` from the moment one is made: its class with `keras.Model` mixed in.
        keras_class = cls if issubclass(cls, keras.Model) else _with_keras_model(cls)
        return keras.Model.__new__(keras_class, *args, **kwargs)

    @classmethod
    def validate(cls, cfg: TrainConfig) -> None:
        """A `UserError` for options this model cannot train with (after the checks every model shares)."""

    @classmethod
    def generator(cls, cfg: TrainConfig, direction: str = "AtoB") -> keras.Model:
        """The generator for `direction` (`builders.reference_generator`: the reference's networks)."""
        from cyclegan_tf.models.builders import reference_generator

        return reference_generator(cfg, direction)

    @classmethod
    def discriminator(cls, cfg: TrainConfig, input_nc: int, name: str) -> keras.Model:
        """A discriminator of images of `input_nc` channels (`builders.reference_discriminator`)."""
        from cyclegan_tf.models.builders import reference_discriminator

        return reference_discriminator(cfg, input_nc, name)

    @classmethod
    def data_config(cls, cfg: TrainConfig) -> TrainConfig:
        """The config the data loader reads this model's training images with (`cfg` itself by default)."""
        return cfg

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed = int(seed)  # of the step's stateless random draws (`step_seed`)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.LOSS_NAMES}
        # Training steps taken. Not the optimizers' `iterations`: under float16 loss scaling those skip
        # the steps whose gradients overflowed, and checkpoints and epochs count every step.
        # Under tf.distribute each replica adds 1 per step; the first replica's count is the step.
        self.step_counter = keras.Variable(0, dtype="int64", trainable=False, name="step_counter",
                                           aggregation="only_first_replica")
        self.health: HealthProbe | None = None  # training-health signals, once `watch_health` is called

    def watch_health(self) -> None:
        """Compute the training-health signals in every step from now on (`models.health`; call it before the
        first step, in the strategy's scope)."""
        from cyclegan_tf.models.health import HealthProbe

        self.health = HealthProbe(slots=max(1, len(self.GENERATOR_NAMES)))

    def observe_translation(self, generator: str, inputs: tf.Tensor | None, outputs: tf.Tensor,
                            targets: tf.Tensor) -> None:
        """Record, for training health, a batch generator `generator` (an attribute name) made from `inputs`
        (None: from noise) and real images of the domain it writes."""
        if self.health is not None:
            self.health.translation(self.GENERATOR_NAMES.index(generator), inputs, outputs, targets)

    @classmethod
    def own_options(cls) -> tuple[str, ...]:
        """The names of this model's own options: the fields of its `OPTIONS` and of those of the models it extends
        (SinCUT's and CUT's)."""
        declared = [klass.OPTIONS for klass in cls.__mro__ if getattr(klass, "OPTIONS", None)]
        return tuple(dict.fromkeys(f.name for options in declared for f in dataclasses.fields(options)))

    @classmethod
    def directions(cls, config: TrainConfig) -> dict[str, str]:
        """{direction ("AtoB"/"BtoA"): generator attribute} of a run of this model with `config`.

        A model with one generator (pix2pix) translates the run's `--direction` with it; CycleGAN overrides this.
        """
        return {config.direction: cls.GENERATOR_NAMES[0]}

    def step_seed(self, stream: int) -> tf.Tensor:
        """A seed for stateless random op `stream` of this step on this replica: (run seed, step, replica) fix what
        a step draws, so a resumed run draws what the uninterrupted one would have, and replicas draw apart."""
        replica = tf.distribute.get_replica_context()
        replica_id = 0 if replica is None else tf.cast(replica.replica_id_in_sync_group, tf.int64)
        return tf.stack([tf.constant(self.seed, tf.int64) + 1_000_003 * replica_id, self.step_counter * 64 + stream])

    @classmethod
    def translation_network(cls, generator: keras.Model) -> keras.Model:
        """What translates images with a trained generator of this model: the generator itself, or a network
        around it (colorization: grey -> Lab -> the generator -> RGB). Samples, evaluation, translate, export and
        serve run it."""
        return generator

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

    def finish_step(self, generator_terms: dict[str, tf.Tensor], discriminator_terms: dict[str, tf.Tensor],
                    learning_rate) -> dict[str, tf.Tensor]:
        """The end of every `train_step`: count the step, update the loss means, return the logs (with the
        training-health signals when they are watched).

        Terms a configuration leaves out (an ablation switch, identity off) keep their tracker at 0, so
        every run of a model logs the same columns.
        """
        self.step_counter.assign_add(1)
        for name, value in {**generator_terms, **discriminator_terms}.items():
            self.trackers[name].update_state(value)
        logs = {name: tracker.result() for name, tracker in self.trackers.items()}
        logs["lr"] = learning_rate
        if self.health is not None:
            gan = [value for name, value in generator_terms.items() if name in self.GAN_TERMS]
            others = [value for name, value in generator_terms.items() if name not in self.GAN_TERMS]
            logs.update(self.health.signals(gan, others))
        return multiworker_logs(logs)


@functools.cache
def _with_keras_model(model: type[AdversarialModel]) -> type:
    """`model` with `keras.Model` after it in the method order: its methods (`train_step`, `compile`, `metrics`)
    override Keras' own, and `isinstance(made, model)` holds."""
    return type(model.__name__, (model, keras.Model), {"__module__": model.__module__, "__doc__": model.__doc__,
                                                       "__qualname__": model.__qualname__})


def check_positive(**values: float) -> None:
    """A `UserError` naming the first option (by its flag) whose value is below 1."""
    for name, value in values.items():
        if value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
