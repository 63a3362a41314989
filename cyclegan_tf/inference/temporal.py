"""Translating the frames of a video without flicker: instance-norm statistics that change slowly over time.

Instance norm normalizes each image by its own per-channel mean and variance. In a video those statistics move
with everything that moves (an object entering the frame, the camera's noise), and every pixel of the frame
moves with them: the still background pumps from frame to frame. Here each frame is translated in two passes,
with the machinery of `inference.tiles` (which gives tiles the statistics of the whole image):

1. the generator runs on the frame as it is, and every instance norm's own statistics of the frame are recorded
   (`statistics_probe`);
2. a copy of the generator whose instance norms take given statistics (`GivenStatisticsNormalization`) translates
   the frame with the mean of the recorded statistics over a window centred on it: the scene's frames within
   `span / 2` frames before and after it (fewer at the scene's ends).

A centred window follows an object that grows, shrinks or crosses the frame without lagging (the mean of a
steady change over a symmetric window is the change's value at its centre), while what jitters from frame to
frame (noise, the codec) averages out. The frames stream through with a delay of `span / 2` frames: memory
grows with the span, never with the clip, and the batch size changes nothing.

Why these choices, measured on the demo clip (`data.demo_video`, 48 frames at 24 fps, span 24; flicker on the
still ground in grey levels, the objects' demo-style IoU): per-frame translation 3.38 and 74.1%; the causal
exponential average over about the last 24 frames this replaced 1.00 but 70.5% (it lagged behind a shrinking
object); the centred mean 0.84 and 78.6%, a centred triangular weighting 1.02 and 78.8%, a centred median 1.18
and 78.4%. Deeper layers' recorded statistics come from the per-frame pass, whose earlier layers used the frame's
own statistics; recording them instead on a second pass with the window's statistics (and translating on a
third) was measured worse, 4.37 and 54.8%: the per-frame pass's statistics are the consistent ones to average.

A scene cut (the frame's mean absolute difference from the previous one above `CUT_LEVEL` grey levels) ends the
window, so that a new scene does not inherit the last one's colours.

Batch-norm generators (in eval mode) have no per-image statistics: their frames are translated as they are.
The steady mode costs a second pass of the generator per frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import tensorflow as tf

from cyclegan_tf.choices import TEMPORAL_MODES
from cyclegan_tf.errors import UserError
from cyclegan_tf.inference.graph import ImageTranslator, pad_to_multiple
from cyclegan_tf.inference.tiles import FixedStatisticsNormalization, affine_weights, replace_norms, statistics_probe
from cyclegan_tf.pixels import signed_tensor

# Frames whose mean absolute difference (grey levels, on a 1/8 scale copy) exceeds this start a new scene.
CUT_LEVEL = 40.0


class GivenStatisticsNormalization(FixedStatisticsNormalization):
    """Instance norm whose statistics are given per image: image i of a batch is normalized by the (mean,
    variance) that `statistics[i]` held at the call (set by `FrameTranslator`).

    Args:
        capacity: the largest batch.
        epsilon: the instance norm's.
        gamma: an affine instance norm's scale, folded in (None: not affine).
        beta: its offset.
    """

    def __init__(self, capacity: int, epsilon: float, gamma=None, beta=None, **kwargs):
        super().__init__(np.zeros(1), np.ones(1), epsilon, gamma, beta, **kwargs)
        self.capacity = int(capacity)

    def build(self, input_shape):
        # (images, mean and variance, channels): set before each batch, not weights of the network
        self.statistics = self.add_weight(shape=(self.capacity, 2, int(input_shape[-1])), initializer="zeros",
                                          trainable=False, name="statistics")

    def call(self, x):
        given = self.statistics.value[:tf.shape(x)[0]]
        scale, shift = self.scale_and_shift(given[:, 0, None, None, :], given[:, 1, None, None, :])
        return x * tf.cast(scale, x.dtype) + tf.cast(shift, x.dtype)


class FrameTranslator:
    """The frames of a clip, batch after batch: uint8 (N, H, W, C) in, uint8 out.

    Args:
        translator: an `inference.translator.Translator` (its generator, size multiple and mode).
        temporal: "running": each frame with given statistics (`statistics` records them, the call takes them);
            "off": each frame on its own statistics, as `translate` translates an image.
        batch_size: the most frames translated together.
    """

    def __init__(self, translator, temporal: str = "running", batch_size: int = 8):
        if temporal not in TEMPORAL_MODES:
            raise UserError(f"--temporal must be one of {', '.join(TEMPORAL_MODES)}, not {temporal!r}")
        self.translator, self.channels = translator, translator.channels
        # as in training (batch norm on the batch's statistics), frames of one batch would share them
        self.max_batch = 1 if translator.model.training else max(1, int(batch_size))
        probe = statistics_probe(translator.generator, per_image=True)
        self.steady = temporal == "running" and probe is not None
        if not self.steady:
            return
        generator, training = translator.generator, translator.model.training
        copy = replace_norms(generator, lambda norm: GivenStatisticsNormalization(
            self.max_batch, norm.epsilon, *affine_weights(norm), name=norm.name))
        self._norms = [layer for layer in copy.layers if isinstance(layer, GivenStatisticsNormalization)]
        model = ImageTranslator(copy, translator.multiple, translator.min_size, training=training)
        spec = tf.TensorSpec((None, None, None, self.channels), tf.uint8)
        self._translate = tf.function(model, input_signature=[spec])

        def record(images):
            x = pad_to_multiple(signed_tensor(images), translator.multiple, translator.min_size)[0]
            own = probe(x, training=training)
            return tf.concat([tf.reshape(own[norm.name], (tf.shape(x)[0], -1)) for norm in self._norms], axis=1)

        self._record = tf.function(record, input_signature=[spec])

    def statistics(self, frames: np.ndarray) -> np.ndarray:
        """Each frame's own statistics, every instance norm's, float32 (N, D): what the call takes."""
        return np.concatenate([self._record(tf.constant(frames[i:i + self.max_batch])).numpy()
                               for i in range(0, len(frames), self.max_batch)])

    def __call__(self, frames: np.ndarray, statistics: np.ndarray | None = None) -> np.ndarray:
        """`frames` translated, uint8 (N, H, W, C); in the steady mode with `statistics` (N, D) (`statistics`)."""
        outputs = []
        for i in range(0, len(frames), self.max_batch):
            batch = frames[i:i + self.max_batch]
            if not self.steady:
                outputs.append(self.translator.batch(batch))
                continue
            given = np.zeros((self.max_batch, statistics.shape[1]), np.float32)
            given[:len(batch)] = statistics[i:i + len(batch)]
            offset = 0
            for norm in self._norms:
                size = int(np.prod(norm.statistics.shape[1:]))
                norm.statistics.assign(given[:, offset:offset + size].reshape(norm.statistics.shape))
                offset += size
            outputs.append(self._translate(tf.constant(batch)).numpy())
        return np.concatenate(outputs)


class _Window:
    """A scene's frames on their way through: the frames not yet translated, and the recorded statistics of the
    scene's frames from `reach` before the first of them; a frame goes with the mean of those within `reach` of
    it."""

    def __init__(self, reach: int):
        self.reach = reach
        self.frames: list[np.ndarray] = []
        self.statistics: list[np.ndarray] = []
        self.behind = 0  # statistics of frames already translated

    def add(self, frame: np.ndarray, statistics: np.ndarray) -> None:
        self.frames.append(frame)
        self.statistics.append(statistics)

    def ready(self, scene_ends: bool) -> int:
        """How many frames have their whole window (all of them when the scene ends here)."""
        seen_after = len(self.statistics) - self.behind - self.reach
        return len(self.frames) if scene_ends else max(0, min(len(self.frames), seen_after))

    def take(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The first `count` frames (N, H, W, C) and their windows' mean statistics (N, D); forgotten."""
        at = [self.behind + i for i in range(count)]
        means = np.stack([np.mean(self.statistics[max(0, t - self.reach):t + self.reach + 1], axis=0) for t in at])
        frames = np.stack(self.frames[:count])
        del self.frames[:count]
        self.behind += count
        drop = max(0, self.behind - self.reach)
        del self.statistics[:drop]
        self.behind -= drop
        return frames, means


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

    With `temporal="running"` each frame is translated with its instance norms' statistics averaged over the
    scene's frames within `span / 2` of it (see the module's docstring): a frame comes out once the `span / 2`
    frames after it are in (they are held meanwhile: memory grows with `span`, never with the clip).

    Args:
        translator: an `inference.translator.Translator` (`load_translator`).
        frames: uint8 (H, W, C) frames of one size, in order (an iterator: it is read as the output is taken).
        batch_size: frames translated together.
        temporal: "running" (default): instance-norm statistics averaged over a window of about `span` frames
            centred on each (steady colours); "off": each frame on its own, as `translate` does an image.
        span: frames the window covers, about (e.g. a second's worth).

    Yields:
        uint8 (H, W, output channels), one per input frame.
    """
    steady = FrameTranslator(translator, temporal, batch_size)
    window = _Window(int(max(1.0, span)) // 2)
    batch: list[tuple[np.ndarray, bool]] = []
    for item in _checked(frames, steady.channels):
        batch.append(item)
        if len(batch) == batch_size:
            yield from _translated(steady, window, batch)
    yield from _translated(steady, window, batch)
    if steady.steady:
        yield from _ready(steady, window, scene_ends=True)


def _translated(steady: FrameTranslator, window: _Window, batch: list[tuple[np.ndarray, bool]]
                ) -> Iterator[np.ndarray]:
    """The frames that `batch` ((frame, starts a scene) pairs, emptied) makes ready, translated in order."""
    if not batch:
        return
    frames = np.stack([frame for frame, _ in batch])
    cuts = [cut for _, cut in batch]
    batch.clear()
    if not steady.steady:
        yield from steady(frames)
        return
    for frame, cut, statistics in zip(frames, cuts, steady.statistics(frames), strict=True):
        if cut:  # the frames so far belong to the last scene
            yield from _ready(steady, window, scene_ends=True)
        window.add(frame, statistics)
    yield from _ready(steady, window, scene_ends=False)


def _ready(steady: FrameTranslator, window: _Window, scene_ends: bool) -> Iterator[np.ndarray]:
    """The window's frames that are ready, translated `steady.max_batch` at a time."""
    while count := min(steady.max_batch, window.ready(scene_ends)):
        yield from steady(*window.take(count))
