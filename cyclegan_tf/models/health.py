"""Training-health signals, computed inside a model's training step from tensors the step already has.

A step records what it made (`HealthProbe.translation`: a generator's inputs, outputs and the real images of its
target domain), what its discriminators said (`separation`: their outputs on real and on generated images) and
its generator's loss terms; `HealthProbe.signals` turns them into a few numbers, each smoothed over the last
steps (an exponential moving average, bias-corrected like Adam's), that `training.health` reads:

- `health_change`: how far a generator moves its input, as a fraction of how far apart images of the two domains
  are (mean |G(x) - x| against mean |a - b| of an input and a target image): near 0 when it copies its input;
- `health_spread`: how different its outputs are from one another, as a fraction of how different real target
  images are (mean distance of consecutive outputs against that of consecutive targets): near 0 when every input
  gets the same output;
- `health_D`: the chance that a discriminator scores a random real patch above a random generated one (the area
  under its ROC curve): 0.5 when it cannot tell them apart, 1 when it always can; of the strongest discriminator,
  and `health_D_weakest` of the weakest when there are two (CycleGAN);
- `health_G_gan`: the generator's adversarial loss terms, summed; `health_gan_share`: their share of all its
  terms.

Every image is compared as a 16 x 16 thumbnail (each cell the mean of its pixels): a few thousand operations a
step, whatever the image size. The statistics live in variables of the probe (not saved in checkpoints: a resumed
run warms them up again); with several replicas (`tf.distribute`) each step's values are the mean of the replicas'
(one all-reduce of a few numbers), so every replica holds the same statistics, those of the global batch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from cyclegan_tf.lazy import keras, tf

PREFIX = "health_"  # of the signals' names in a step's logs (loss_log.csv columns, TensorBoard train/health_*)
THUMBNAIL = 16  # the side of the thumbnails images are compared by
DECAY = 0.98  # of the moving averages: about the last 50 steps count
AUC_SAMPLES = 256  # discriminator outputs per batch compared pairwise (every one when fewer)


def is_signal(name: str) -> bool:
    """Whether a step's log `name` is a health signal (not a loss)."""
    return name.startswith(PREFIX)


def thumbnails(images: tf.Tensor) -> tf.Tensor:
    """(N, H, W, C) -> (N, 16, 16, C) float32: each cell the mean of its block of pixels, for any H and W.

    Block means as two small matrix products (no resize op: every XLA device compiles these).
    """
    images = tf.cast(images, tf.float32)

    def pooling(size):  # (size, 16): column j averages the rows that fall into cell j
        cells = tf.one_hot(tf.range(size) * THUMBNAIL // size, THUMBNAIL)
        return cells / tf.maximum(tf.reduce_sum(cells, axis=0, keepdims=True), 1.0)

    shape = tf.shape(images)
    return tf.einsum("nhwc,hi,wj->nijc", images, pooling(shape[1]), pooling(shape[2]))


def separation(real_scores: tf.Tensor, fake_scores: tf.Tensor) -> tf.Tensor:
    """P(a real patch's score > a generated patch's score), ties counted half: the ROC AUC of the discriminator.

    Every GAN mode here scores real images higher, so the same number reads the same for each. Up to
    `AUC_SAMPLES` evenly spaced outputs of each batch are compared, every one with every one.
    """
    def sampled(scores):
        flat = tf.reshape(tf.cast(scores, tf.float32), [-1])
        last = tf.cast(tf.size(flat) - 1, tf.float32)
        return tf.gather(flat, tf.cast(tf.round(tf.linspace(0.0, last, AUC_SAMPLES)), tf.int32))

    real, fake = sampled(real_scores)[:, None], sampled(fake_scores)[None, :]
    above = tf.cast(real > fake, tf.float32) + 0.5 * tf.cast(tf.equal(real, fake), tf.float32)
    return tf.reduce_mean(above)


def _across_replicas(values: tf.Tensor, counts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Each value's mean over the replicas that counted it, and whether any did (the inputs, outside a strategy)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values, counts
    total, counted = context.all_reduce(tf.distribute.ReduceOp.SUM, [values * counts, counts])
    return total / tf.maximum(counted, 1.0), tf.minimum(counted, 1.0)


@dataclass
class _Records:
    """What one step recorded (filled while the step is traced)."""

    change: list = field(default_factory=list)  # (slot, moved, apart)
    # (slot, outputs' distance, targets' distance, pairs compared, the last output's and target's grey thumbnails)
    spread: list = field(default_factory=list)
    separation: list = field(default_factory=list)


class HealthProbe:
    """The health signals of one model's steps (see the module's docstring).

    Args:
        slots: generators whose outputs are followed (each keeps its previous output and target).
    """

    # the averaged quantities, per slot: [moved, apart, outputs' distance, targets' distance]
    PER_SLOT = 4

    def __init__(self, slots: int):
        def variable(shape, name):
            return keras.Variable(tf.zeros(shape), trainable=False, name=name, aggregation="only_first_replica")

        self.slots = slots
        # the last output and target thumbnail (grey) of each slot, to compare the next step's first with
        self.previous = variable((slots, 2, THUMBNAIL, THUMBNAIL), "health_previous")
        self.started = variable((slots,), "health_started")  # 1 once a slot has a previous output
        size = slots * self.PER_SLOT + 4  # + the strongest and the weakest discriminator, GAN terms, other terms
        self.averages = variable((size,), "health_averages")
        # each average's sum of weights so far, to correct its bias towards the initial 0 (as Adam does)
        self.weights = variable((size,), "health_weights")
        # a step's records, per thread: MirroredStrategy traces each replica's step in a thread of its own
        self._local = threading.local()

    @property
    def records(self) -> _Records:
        if not hasattr(self._local, "records"):
            self._local.records = _Records()
        return self._local.records

    def translation(self, slot: int, inputs: tf.Tensor | None, outputs: tf.Tensor, targets: tf.Tensor) -> None:
        """Record a generator's batch: its inputs (None when it has none, or of other channels than its outputs),
        its outputs, and real images of the domain it writes."""
        made, real = thumbnails(outputs), thumbnails(targets)
        if inputs is not None and inputs.shape[-1] == outputs.shape[-1] == targets.shape[-1]:
            shown = thumbnails(inputs)
            moved = tf.reduce_mean(tf.abs(made - shown))
            # input and target images of one batch are unrelated (unpaired) or a pair: their distance is the
            # domains' distance either way
            apart = tf.reduce_mean(tf.abs(shown - real))
            self.records.change.append((slot, moved, apart))
        grey_made, grey_real = tf.reduce_mean(made, -1), tf.reduce_mean(real, -1)
        made_distance, pairs = self._stream_distance(slot, 0, grey_made)
        real_distance, _ = self._stream_distance(slot, 1, grey_real)
        self.records.spread.append((slot, made_distance, real_distance, pairs,
                                    tf.stack([grey_made[-1], grey_real[-1]])))

    def _stream_distance(self, slot: int, which: int, grey: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Mean distance of consecutive thumbnails, and how many pairs: the previous step's last one (once there is
        one), then this batch's: with a batch of one, consecutive steps' images are what is compared."""
        stream = tf.concat([self.previous[slot, which][None], grey], axis=0)
        steps = tf.reduce_mean(tf.abs(stream[1:] - stream[:-1]), axis=[1, 2])
        counted = tf.concat([self.started[slot:slot + 1], tf.ones_like(steps[1:])], axis=0)
        pairs = tf.reduce_sum(counted)
        return tf.reduce_sum(steps * counted) / tf.maximum(pairs, 1.0), pairs

    def separation(self, real_scores: tf.Tensor, fake_scores: tf.Tensor) -> None:
        """Record a discriminator's outputs on real and on generated images."""
        self.records.separation.append(separation(real_scores, fake_scores))

    def signals(self, gan_terms: list[tf.Tensor], other_terms: list[tf.Tensor]) -> dict[str, tf.Tensor]:
        """Average this step's records into the running statistics and return the signals (see the module).

        Args:
            gan_terms: the generator's adversarial loss terms this step.
            other_terms: its other loss terms (cycle, identity, L1, NCE).
        """
        records, self._local.records = self.records, _Records()
        updates = []  # (index into the averages, this step's value, whether it counts)
        always = tf.constant(True)
        for slot, moved, apart in records.change:
            updates += [(slot * self.PER_SLOT, moved, always), (slot * self.PER_SLOT + 1, apart, always)]
        for slot, made, real, pairs, _ in records.spread:  # (the first step of a batch of one has no pair yet)
            updates += [(slot * self.PER_SLOT + 2, made, pairs > 0), (slot * self.PER_SLOT + 3, real, pairs > 0)]
        last = self.slots * self.PER_SLOT
        if records.separation:
            updates += [(last, tf.reduce_max(records.separation), always),
                        (last + 1, tf.reduce_min(records.separation), always)]
        if gan_terms:
            updates.append((last + 2, tf.add_n([tf.cast(t, tf.float32) for t in gan_terms]), always))
        if other_terms:
            updates.append((last + 3, tf.add_n([tf.cast(t, tf.float32) for t in other_terms]), always))
        if updates:
            indices = [[index] for index, _, _ in updates]
            now = tf.scatter_nd(indices, tf.stack([value for _, value, _ in updates]), self.averages.shape)
            counts = tf.scatter_nd(indices, tf.stack([tf.cast(c, tf.float32) for _, _, c in updates]),
                                   self.averages.shape)
            now, counts = _across_replicas(now, counts)
            keep = 1.0 - (1.0 - DECAY) * counts  # DECAY where counted, 1 (unchanged) elsewhere
            self.averages.assign(keep * self.averages + (1.0 - keep) * now)
            self.weights.assign(keep * self.weights + (1.0 - keep))
        if records.spread:
            slots = [[entry[0]] for entry in records.spread]
            self.previous.assign(tf.tensor_scatter_nd_update(self.previous, slots, [e[-1] for e in records.spread]))
            self.started.assign(tf.tensor_scatter_nd_update(self.started, slots, tf.ones([len(slots)])))
        mean = self.averages / tf.maximum(self.weights, 1e-12)

        def ratio(numerator, denominator):
            return mean[numerator] / tf.maximum(mean[denominator], 1e-6)

        out = {}
        if records.change:
            out[PREFIX + "change"] = tf.reduce_min([ratio(s * self.PER_SLOT, s * self.PER_SLOT + 1)
                                                  for s, _, _ in records.change])
        if records.spread:
            out[PREFIX + "spread"] = tf.reduce_min([ratio(s * self.PER_SLOT + 2, s * self.PER_SLOT + 3)
                                                    for s, *_ in records.spread])
        if records.separation:
            out[PREFIX + "D"] = mean[last]
            if len(records.separation) > 1:
                out[PREFIX + "D_weakest"] = mean[last + 1]
        if gan_terms:
            out[PREFIX + "G_gan"] = mean[last + 2]
            if other_terms:
                out[PREFIX + "gan_share"] = mean[last + 2] / tf.maximum(mean[last + 2] + mean[last + 3], 1e-6)
        return out
