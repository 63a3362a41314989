"""What every model shares: `AdversarialModel` (loss trackers, the step counter, one optimizer per player, the
end of a step) and the helpers of their `train_step`s."""

from __future__ import annotations

import keras
import tensorflow as tf

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.nn import losses


def two_passes(network: keras.Model, first: tf.Tensor, second: tf.Tensor, stacked: bool,
               training: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
    """`network(first)` and `network(second)`, as one call on both batches stacked when `stacked`.

    One call on a batch of two keeps a CPU's cores busier than two calls on batches of one (the README's
    performance section has the measurement). It is the same computation only when every normalization is
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
                       training: bool = True, stacked: bool = False) -> tf.Tensor:
    """One discriminator's loss on a real and a fake batch, with WGAN-GP's penalty when that is the mode.

    Args:
        D: the discriminator.
        real: a batch of real images (or real conditioned pairs), in [-1, 1].
        fake: a batch of generated images of the same shape.
        gan_mode: "lsgan", "vanilla", "hinge" or "wgangp" (see `nn.losses`).
        lambda_gp: the weight of the gradient penalty; used with "wgangp" only.
        training: passed to the discriminator.
        stacked: judge both batches in one call (see `two_passes`).

    Returns:
        The float32 scalar loss (halved as in the reference, plus the penalty).
    """
    real_logits, fake_logits = two_passes(D, real, fake, stacked, training)
    term = losses.discriminator_loss(real_logits, fake_logits, gan_mode)
    if gan_mode == "wgangp":
        term += losses.gradient_penalty(D, real, fake, lambda_gp)
    return term


class AdversarialModel(keras.Model):
    """What every model here shares: loss trackers, the step counter, one optimizer per player, the step's end.

    Subclasses name their networks in `GENERATOR_NAMES` and `DISCRIMINATOR_NAMES` and the rest of their
    training state in `TRAINING_STATE` (attribute names; `runs.checkpoints` saves `NETWORKS` + `TRAINING_STATE`),
    their loss terms in `LOSS_NAMES`, and which generator translates which way in `directions`.
    """

    LOSS_NAMES: tuple[str, ...] = ()
    GENERATOR_NAMES: tuple[str, ...] = ()
    DISCRIMINATOR_NAMES: tuple[str, ...] = ()
    TRAINING_STATE: tuple[str, ...] = ("g_optimizer", "d_optimizer", "step_counter")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.NETWORKS = cls.GENERATOR_NAMES + cls.DISCRIMINATOR_NAMES  # all a checkpoint's networks

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed = int(seed)  # of the step's stateless random draws (`step_seed`)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.LOSS_NAMES}
        # Training steps taken. Not the optimizers' `iterations`: under float16 loss scaling those skip
        # the steps whose gradients overflowed, and checkpoints and epochs count every step.
        # Under tf.distribute each replica adds 1 per step; the first replica's count is the step.
        self.step_counter = keras.Variable(0, dtype="int64", trainable=False, name="step_counter",
                                           aggregation="only_first_replica")

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

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a tf.distribute strategy, Keras' `fit` (3.15) takes a batch from the epoch's iterator to build the
        # model symbolically, so that batch is never trained on, and under MultiWorkerMirroredStrategy it fails on
        # a tuple batch. Our models are built in `compile` (functional networks, optimizers, pools, trackers), so
        # there is nothing to build: skip it. A private method: setup.cfg pins Keras below 3.16, and
        # tests/test_distribute.py checks that N replicas train as one replica on the global batch.
        return None

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
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15 reduces multi-worker logs with `strategy.reduce(..., axis=0)`, which needs a dimension
            logs = {name: tf.reshape(tf.cast(value, tf.float32), [1]) for name, value in logs.items()}
        return logs
