"""Translating the frames of a video without flicker: instance-norm statistics that change slowly over time.

Instance norm normalizes each image by its own per-channel mean and variance. In a video those statistics move
with everything that moves (an object entering the frame, the camera's noise), and every pixel of the frame
moves with them: the still background pumps from frame to frame. Here each instance norm is replaced (with the
machinery of `inference.tiles`, which gives tiles the statistics of the whole image) by one whose statistics are
a running average over the frames: an exponential average over about the last `span` frames, started (at
the clip's start and at each scene cut) from the plain mean of the scene's first `span` frames, which are
held back for that (`translate_frames`). The average is causal past that start, so frames stream through in
batches of any size and give the same result; the network's later layers see the earlier layers' steady
outputs, so all of it is one pass.

A scene cut (the frame's mean absolute difference from the previous one above `CUT_LEVEL` grey levels) restarts
the average, so that a new scene does not inherit the last one's colours.

Batch-norm generators (in eval mode) have no per-image statistics: their frames are translated as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import keras
import numpy as np
import tensorflow as tf

from cyclegan_tf.choices import TEMPORAL_MODES
from cyclegan_tf.errors import UserError
from cyclegan_tf.inference.graph import ImageTranslator
from cyclegan_tf.inference.tiles import FixedStatisticsNormalization, affine_weights, replace_norms
from cyclegan_tf.nn.layers import InstanceNormalization

# Frames whose mean absolute difference (grey levels, on a 1/8 scale copy) exceeds this start a new scene.
CUT_LEVEL = 40.0
DEFAULT_SPAN_SECONDS = 2.0


class RunningStatisticsNormalization(FixedStatisticsNormalization):
    """Instance norm whose statistics are a running average over the images it has seen, in order.

    Image t of a batch is normalized by the average of its own per-channel statistics and those of every image
    before it (this batch's and the earlier batches'), weighted `max(1 / t, 1 / span)`: the plain mean of the
    first `span` frames, then an exponential average over about the last `span`. `reset` starts over.

    Args:
        span: frames the average reaches back, about.
        epsilon: the instance norm's.
        gamma: an affine instance norm's scale, folded in (None: not affine).
        beta: its offset.
    """

    def __init__(self, span: float, epsilon: float, gamma=None, beta=None, **kwargs):
        super().__init__(np.zeros(1), np.ones(1), epsilon, gamma, beta, **kwargs)
        self.span = max(1.0, float(span))

    def build(self, input_shape):
        channels = int(input_shape[-1])
        # the running (mean, variance) and the frames averaged so far: state, not weights of the network
        self.statistics = self.add_weight(shape=(2, channels), initializer="zeros", trainable=False, name="statistics")
        self.frames = self.add_weight(shape=(), initializer="zeros", trainable=False, name="frames")

    def reset(self) -> None:
        """Forget the frames seen (a new clip or scene)."""
        self.statistics.assign(np.zeros(self.statistics.shape, np.float32))
        self.frames.assign(0.0)

    def call(self, x):
        mean, variance = tf.nn.moments(tf.cast(x, "float32"), axes=[1, 2])  # each (N, C): every frame's own
        weight_floor = 1.0 / self.span

        def step(carry, frame):
            running, count = carry
            count = count + 1.0
            return running + tf.maximum(1.0 / count, weight_floor) * (frame - running), count

        # a scan over the batch in order: frame t's statistics include frames < t of this batch
        running, counts = tf.scan(step, tf.stack([mean, variance], axis=1),
                                  initializer=(tf.convert_to_tensor(self.statistics.value),
                                               tf.convert_to_tensor(self.frames.value)))
        self.statistics.assign(running[-1])
        self.frames.assign(counts[-1])
        scale, shift = self.scale_and_shift(running[:, 0, None, None, :], running[:, 1, None, None, :])
        return x * tf.cast(scale, x.dtype) + tf.cast(shift, x.dtype)


def with_running_statistics(generator: keras.Model, span: float) -> keras.Model:
    """A copy of `generator` whose instance norms average their statistics over frames
    (`RunningStatisticsNormalization`); the generator itself is unchanged."""
    return replace_norms(generator, lambda norm: RunningStatisticsNormalization(
        span, norm.epsilon, *affine_weights(norm), name=norm.name))


class FrameTranslator:
    """The frames of one clip, batch after batch, in order: uint8 (N, H, W, C) in, uint8 out.

    Args:
        translator: an `inference.translator.Translator` (its generator, size multiple and mode).
        temporal: "running": steady statistics (`RunningStatisticsNormalization`); "off": each frame on its own
            statistics, as `translate` translates an image.
        span: frames the running average reaches back, about.
    """

    def __init__(self, translator, temporal: str = "running", span: float = 48.0):
        if temporal not in TEMPORAL_MODES:
            raise UserError(f"--temporal must be one of {', '.join(TEMPORAL_MODES)}, not {temporal!r}")
        self.translator, self.temporal, self.span = translator, temporal, float(span)
        self.channels = translator.channels
        self._norms: list[RunningStatisticsNormalization] = []
        self._run = translator.batch
        has_norms = any(isinstance(layer, InstanceNormalization) for layer in translator.generator.layers)
        if temporal == "running" and has_norms:
            steady = with_running_statistics(translator.generator, span)
            self._norms = [layer for layer in steady.layers if isinstance(layer, RunningStatisticsNormalization)]
            model = ImageTranslator(steady, translator.multiple, translator.min_size,
                                    training=translator.model.training)
            spec = tf.TensorSpec((None, None, None, self.channels), tf.uint8)
            run = tf.function(model, input_signature=[spec])
            self._run = lambda frames: run(tf.constant(frames)).numpy()
        # as in training (batch norm on the batch's statistics), frames of one batch would share them
        self.max_batch = 1 if translator.model.training else None

    def reset(self) -> None:
        """Start a new clip or scene: the running statistics forget the frames before."""
        for norm in self._norms:
            norm.reset()

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """The next frames of the clip, uint8 (N, H, W, C), translated in order."""
        if self.max_batch:
            return np.concatenate([self._run(frames[i:i + 1]) for i in range(len(frames))])
        return self._run(frames)


def _thumbnail(frame: np.ndarray) -> np.ndarray:
    """A 1/8 scale float copy (every 8th pixel): enough to tell a scene cut from motion, cheaply."""
    return frame[::8, ::8].astype(np.float32)


def _checked(frames: Iterable[np.ndarray], channels: int) -> Iterator[tuple[np.ndarray, bool]]:
    """(frame, whether it starts a scene) for each frame: uint8 (H, W, C), one size, `channels` channels."""
    shape, previous = None, None
    for frame in frames:
        frame = np.asarray(frame, np.uint8)
        if frame.ndim == 2:
            frame = frame[..., None]
        if frame.shape[-1] != channels:
            raise UserError(f"the network takes frames of {channels} channel(s), not {frame.shape[-1]}")
        if shape is not None and frame.shape != shape:
            raise UserError(f"the frames of a clip must have one size: {frame.shape[:2]} after {shape[:2]}")
        thumbnail = _thumbnail(frame)
        yield frame, previous is None or float(np.abs(thumbnail - previous).mean()) > CUT_LEVEL
        shape, previous = frame.shape, thumbnail


def translate_frames(translator, frames: Iterable[np.ndarray], batch_size: int = 8, temporal: str = "running",
                     span: float = 24.0) -> Iterator[np.ndarray]:
    """Translate a clip's frames, streamed: frames in, translated frames out, in order, `batch_size` at a time.

    With `temporal="running"` the statistics of a scene's first `span` frames are averaged before its first frame
    is translated (those frames are held meanwhile: memory grows with `span`, never with the clip), so that the
    start of a scene is as steady as the rest; then the average runs on (see the module's docstring).

    Args:
        translator: an `inference.translator.Translator` (`load_translator`).
        frames: uint8 (H, W, C) frames of one size, in order (an iterator: it is read as the output is taken).
        batch_size: frames translated together.
        temporal: "running" (default): instance-norm statistics averaged over about the last `span` frames
            (steady colours); "off": each frame on its own, as `translate` does an image.
        span: frames the running average reaches back, about (e.g. a second's worth).

    Yields:
        uint8 (H, W, output channels), one per input frame.
    """
    steady = FrameTranslator(translator, temporal, span)
    running = temporal == "running"
    head = int(steady.span) if running else 0  # frames held at a scene's start, to average their statistics
    batch: list[np.ndarray] = []
    held: list[np.ndarray] = []

    def start_scene() -> Iterator[np.ndarray]:  # the held frames: averaged, then translated
        steady.reset()
        for first in range(0, len(held), batch_size):
            steady(np.stack(held[first:first + batch_size]))
        for first in range(0, len(held), batch_size):
            yield from steady(np.stack(held[first:first + batch_size]))
        held.clear()

    for frame, cut in _checked(frames, steady.channels):
        if cut and running:  # the frames so far belong to the last scene
            yield from _flush(steady, batch)
            yield from start_scene()
            held.append(frame)
        elif held and len(held) < head:
            held.append(frame)
        elif held:
            yield from start_scene()
            batch.append(frame)
        else:
            batch.append(frame)
        if len(batch) >= batch_size:
            yield from _flush(steady, batch)
    yield from _flush(steady, batch)
    yield from start_scene()


def _flush(steady: FrameTranslator, batch: list[np.ndarray]) -> Iterator[np.ndarray]:
    """The batch's frames translated, one by one; the batch emptied."""
    if batch:
        outputs = steady(np.stack(batch))
        batch.clear()
        yield from outputs
