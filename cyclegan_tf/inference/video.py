"""Translating a video clip into a clip: decode, translate in batches, encode, streamed.

ffmpeg does the decoding and encoding: the binary inside the `imageio-ffmpeg` wheel (the `[video]` extra), run
as two processes that frames stream through as raw RGB, so that a clip of any length takes the memory of a few
batches. The output keeps the input's size, frame rate and duration, and the input's audio track is muxed in
(re-encoded into the output container's usual codec). A folder of frames (images, in name order) reads as a
clip too, at `fps`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from cyclegan_tf.choices import VIDEO_EXTENSIONS, is_video
from cyclegan_tf.data.images import IMAGE_EXTENSIONS, load_image
from cyclegan_tf.errors import UserError
from cyclegan_tf.inference.temporal import translate_frames

MISSING = "video needs ffmpeg from the imageio-ffmpeg package: pip install 'cyclegan-tf[video]'"
X264 = ["-c:v", "libx264", "-crf", "17", "-preset", "medium"]
# (ffmpeg muxer, video codec options, audio codec options) per output extension; no B-frames in AVI, whose
# timestamps do not carry them (its duration came out 20% long)
CONTAINERS = {
    ".mp4": ("mp4", X264, ["-c:a", "aac", "-b:a", "192k"]),
    ".mov": ("mov", X264, ["-c:a", "aac", "-b:a", "192k"]),
    ".avi": ("avi", [*X264, "-bf", "0"], ["-c:a", "libmp3lame", "-b:a", "192k"]),
    ".webm": ("webm", ["-c:v", "libvpx-vp9", "-crf", "30", "-b:v", "0"], ["-c:a", "libopus", "-b:a", "128k"]),
}


def ffmpeg() -> str:
    """The ffmpeg binary of imageio-ffmpeg; a `UserError` naming the extra when it is not installed."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise UserError(MISSING) from None
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass
class Clip:
    """A clip opened for reading: what it is, and its frames (an iterator, read once).

    Attributes:
        source: the video file or folder of frames.
        fps: frames per second.
        size: (width, height).
        frames: the frames to translate, uint8 (H, W, 3), in order.
        expected: how many frames it should give (from its duration; 0 when unknown).
        audio: whether it has an audio track.
        start: seconds skipped at its start.
        duration: seconds read (None: to its end).
    """

    source: Path
    fps: float
    size: tuple[int, int]
    frames: Iterator[np.ndarray]
    expected: int
    audio: bool
    start: float = 0.0
    duration: float | None = None


def open_clip(source: Path | str, start: float = 0.0, duration: float | None = None, fps: float = 25.0,
              channels: int = 3) -> Clip:
    """Open a video file or a folder of frames for reading, from `start` seconds, for `duration` seconds.

    Args:
        source: a video file (`VIDEO_EXTENSIONS`) or a folder of images (frames in name order).
        start: seconds to skip.
        duration: seconds to read; None: to the end.
        fps: a folder's frame rate (a video file has its own).
        channels: 3 for RGB frames, 1 for grey.

    Returns:
        A `Clip`. A missing file, a start beyond the clip's end or an unreadable video is a `UserError`.
    """
    source = Path(source)
    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        first = int(round(start * fps))
        last = len(paths) if duration is None else min(len(paths), first + int(round(duration * fps)))
        if first >= len(paths):
            raise UserError(f"--start {start} s is beyond the end of {source} ({len(paths) / fps:.2f} s at {fps} fps)")
        height, width = load_image(paths[first], channels).shape[:2]
        frames = (load_image(path, channels) for path in paths[first:last])
        return Clip(source, fps, (width, height), frames, last - first, False, start, duration)
    if not source.is_file():
        raise UserError(f"input not found: {source}")
    if not is_video(source):
        raise UserError(f"{source}: not a video ({', '.join(VIDEO_EXTENSIONS)}) or a folder of frames")
    import imageio_ffmpeg  # ffmpeg() checked that it is there

    ffmpeg()
    options = ["-ss", f"{start}"] + (["-t", f"{duration}"] if duration is not None else [])
    reader = imageio_ffmpeg.read_frames(str(source), pix_fmt="gray" if channels == 1 else "rgb24",
                                        input_params=options, bits_per_pixel=8 * channels)
    try:
        meta = next(reader)
    except (OSError, RuntimeError) as error:
        raise UserError(f"{source}: cannot read it as a video ({str(error).splitlines()[0]})") from None
    total = float(meta.get("duration") or 0)
    if total and start >= total:
        reader.close()
        raise UserError(f"--start {start} s is beyond the end of {source} ({total:.2f} s)")
    width, height = meta["size"]
    rate = float(meta.get("fps") or fps)
    seconds = max(0.0, (min(total, start + duration) if duration is not None else total) - start) if total \
        else (duration or 0.0)
    frames = (np.frombuffer(data, np.uint8).reshape(height, width, channels) for data in reader)
    return Clip(source, rate, (width, height), frames, int(round(seconds * rate)), "audio_codec" in meta, start,
                duration)


class ClipWriter:
    """Encodes frames into a video file as they come, with another file's audio track muxed in.

    The file appears under its name only once complete (written beside it, renamed at `close`).

    Args:
        path: the video to write (`VIDEO_EXTENSIONS`: its container and codecs).
        fps: frames per second.
        size: (width, height).
        channels: of the frames: 3 (RGB) or 1 (grey).
        audio: ffmpeg input options naming where the audio comes from (e.g. `["-i", "clip.mp4"]`), or None.
        shortest: end the audio with the frames (an endless audio source); otherwise every frame is kept.
    """

    def __init__(self, path: Path | str, fps: float, size: tuple[int, int], channels: int = 3,
                 audio: list[str] | None = None, shortest: bool = False):
        self.path = Path(path)
        if not is_video(self.path):
            raise UserError(f"{self.path}: the output must end in one of {', '.join(VIDEO_EXTENSIONS)}")
        muxer, video, sound = CONTAINERS[self.path.suffix.lower()]
        width, height = size
        rate = Fraction(fps).limit_denominator(1001)
        # 4:2:0 colour halves both sides: an odd side keeps full colour resolution instead of changing size
        pixels = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        command = [ffmpeg(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt",
                   "gray" if channels == 1 else "rgb24", "-s", f"{width}x{height}", "-r", f"{rate}", "-i", "-"]
        command += audio or []
        command += ["-map", "0:v:0"] + (["-map", "1:a:0?"] + sound if audio else [])
        command += video + (["-shortest"] if shortest else []) + ["-pix_fmt", pixels, "-f", muxer, str(self.partial)]
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 (H, W, C) frame."""
        try:
            self._process.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
        except BrokenPipeError:
            self.close()  # raises with ffmpeg's message
        self.frames += 1

    def close(self) -> None:
        """Finish the file (and rename it into place); a `UserError` with ffmpeg's message if encoding failed."""
        if self._process.stdin and not self._process.stdin.closed:
            try:
                self._process.stdin.close()
            except BrokenPipeError:
                pass
        code = self._process.wait()
        self._log.seek(0)
        message = self._log.read().decode(errors="replace").strip()
        self._log.close()
        if code != 0:
            self.partial.unlink(missing_ok=True)
            raise UserError(f"ffmpeg could not write {self.path}: {message.splitlines()[-1] if message else code}")
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        """Stop and remove what was written (after an error or an interruption)."""
        self._process.kill()
        self._process.wait()
        self._log.close()
        self.partial.unlink(missing_ok=True)


def audio_of(clip: Clip) -> list[str] | None:
    """ffmpeg input options for `clip`'s audio over the part of it read (None: it has none)."""
    if not clip.audio:
        return None
    return ["-ss", f"{clip.start}"] + (["-t", f"{clip.duration}"] if clip.duration is not None else []) + \
        ["-i", str(clip.source)]


def translate_video(translator, source: Path | str, output: Path | str, batch_size: int = 8,
                    temporal: str = "running", span_seconds: float = 1.0, start: float = 0.0,
                    duration: float | None = None, fps: float = 25.0,
                    on_frame: Callable[[int], None] | None = None, opened: Clip | None = None) -> dict:
    """Translate a clip into a clip of the same size, frame rate and duration, with its audio.

    Args:
        translator: an `inference.translator.Translator` (`load_translator`).
        source: a video file or a folder of frames (`open_clip`).
        output: the video to write (`VIDEO_EXTENSIONS`).
        batch_size: frames translated together.
        temporal: "running" (steady colours) or "off" (each frame alone), see `inference.temporal`.
        span_seconds: how far back the running statistics reach, in seconds of the clip.
        start: seconds of the clip to skip.
        duration: seconds to translate; None: to the end.
        fps: a folder of frames' frame rate.
        on_frame: called after each frame is written with the count so far (a progress bar).
        opened: the clip already opened by `open_clip` (then `source`, `start`, `duration`, `fps` are its).

    Returns:
        {"frames", "fps", "size": (width, height), "audio": whether the output has the source's audio, "output"}.
    """
    clip = opened or open_clip(source, start, duration, fps, translator.channels)
    output_channels = translator.model.output_channels
    writer = ClipWriter(output, clip.fps, clip.size, output_channels, audio_of(clip))
    try:
        for frame in translate_frames(translator, clip.frames, batch_size, temporal,
                                      max(1.0, span_seconds * clip.fps)):
            writer.write(frame)
            if on_frame:
                on_frame(writer.frames)
    except BaseException:
        writer.abort()
        raise
    if writer.frames == 0:
        writer.abort()
        raise UserError(f"{clip.source}: no frames from {clip.start} s on")
    writer.close()
    return {"frames": writer.frames, "fps": clip.fps, "size": clip.size, "audio": clip.audio,
            "output": Path(output)}


def write_clip(path: Path | str, frames: Iterator[np.ndarray], fps: float, tone: float | None = None) -> int:
    """Encode frames (uint8 (H, W, 3), streamed) into a video, with a sine tone of `tone` Hz as its audio track
    (None: silent, no track): how the tests and `make bench` make a clip. Returns the frames written."""
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    audio = ["-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=44100"] if tone else None
    writer = ClipWriter(path, fps, (width, height), first.shape[-1] if first.ndim == 3 else 1, audio,
                        shortest=True)
    try:
        writer.write(first)
        for frame in frames:
            writer.write(frame)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return writer.frames
