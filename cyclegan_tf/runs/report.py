"""What a run directory shows a person: sample grids, a time-lapse GIF, CSV logs, a loss plot, `index.html`.

Pure numpy + Pillow (matplotlib only for `losses.png`, and optional), so it is cheap to import and to test.
Every file a reader may open while training runs is written to a temporary name and renamed into place.
Callers pass uint8 images (height, width, 1 or 3 channels).
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cyclegan_tf.files import write_atomic, write_text_atomic
from cyclegan_tf.models.health import is_signal

log = logging.getLogger("cyclegan_tf")

BACKGROUND = 255  # white gaps and caption strips
GAP = 4
CAPTION_HEIGHT = 14


# --- images -------------------------------------------------------------------------------------------------

def to_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W), (H, W, 1) or (H, W, 3) -> (H, W, 3)."""
    image = np.asarray(image, np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image


def hstack(images: Sequence[np.ndarray], gap: int = 0) -> np.ndarray:
    """Images side by side, top-aligned on a white ground (heights may differ; grayscale becomes RGB).

    Args:
        images: uint8 (H, W), (H, W, 1) or (H, W, 3) images; at least one.
        gap: white pixels between neighbours.

    Returns:
        uint8 (max H, sum of W + gaps, 3).
    """
    images = [to_rgb(image) for image in images]
    height = max(image.shape[0] for image in images)
    width = sum(image.shape[1] for image in images) + gap * (len(images) - 1)
    out = np.full((height, width, 3), BACKGROUND, np.uint8)
    x = 0
    for image in images:
        out[: image.shape[0], x: x + image.shape[1]] = image
        x += image.shape[1] + gap
    return out


def vstack(images: Sequence[np.ndarray], gap: int = 0) -> np.ndarray:
    """Images one under the other, left-aligned on a white ground.

    Args:
        images: uint8 (H, W), (H, W, 1) or (H, W, 3) images; at least one.
        gap: white pixels between neighbours.

    Returns:
        uint8 (sum of H + gaps, max W, 3).
    """
    return np.swapaxes(hstack([np.swapaxes(to_rgb(image), 0, 1) for image in images], gap), 0, 1)


def caption(image: np.ndarray, text: str) -> np.ndarray:
    """The image with `text` in a white strip above it.

    Args:
        image: uint8 (H, W), (H, W, 1) or (H, W, 3).
        text: one short line, in black; what does not fit the image's width is cut off.

    Returns:
        uint8 (H + CAPTION_HEIGHT, W, 3).
    """
    image = to_rgb(image)
    strip = Image.new("RGB", (image.shape[1], CAPTION_HEIGHT), (BACKGROUND,) * 3)
    ImageDraw.Draw(strip).text((2, 1), text, fill=(0, 0, 0), font=ImageFont.load_default())
    return vstack([np.asarray(strip), image])


def sample_grid(rows: Sequence[Sequence[np.ndarray]], labels: Sequence[str]) -> np.ndarray:
    """A grid of equally sized panels, one row per sample, with a label over each column of the first row.

    Args:
        rows: one sequence of uint8 panels per sample; at least one row.
        labels: one caption per column (extra labels or panels of the first row are dropped).

    Returns:
        uint8 RGB (height, width, 3), panels GAP pixels apart.
    """
    lines = [hstack([caption(p, label) for p, label in zip(rows[0], labels, strict=False)], GAP)]
    lines += [hstack(row, GAP) for row in rows[1:]]
    return vstack(lines, GAP)


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """Scale the shorter side to `size` (bicubic) and crop the centre square: display panels of one size.

    Args:
        image: uint8 (H, W, 1) or (H, W, 3); or a scientific image (float32 values, any bands), resized band by band
            in float.
        size: the side of the square, in pixels.

    Returns:
        (size, size, channels of `image`), of its dtype.
    """
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    if image.dtype != np.uint8 or image.shape[-1] not in (1, 3):
        bands = [Image.fromarray(image[..., i].astype(np.float32), "F") for i in range(image.shape[-1])]
        image = np.stack([np.asarray(band.resize(new, Image.BICUBIC)) for band in bands], axis=-1)
        width, height = new
    squeeze = image[..., 0] if image.shape[-1] == 1 else image
    resized = np.asarray(Image.fromarray(squeeze).resize(new, Image.BICUBIC)) if new != (width, height) else squeeze
    top, left = (new[1] - size) // 2, (new[0] - size) // 2
    cropped = resized[top: top + size, left: left + size]
    return cropped[..., None] if cropped.ndim == 2 else cropped


# --- files --------------------------------------------------------------------------------------------------

def save_png(path: Path, image: np.ndarray) -> Path:
    """Write an image as a PNG atomically (see `files.write_atomic`).

    Args:
        path: the file to create or replace; its folder is created if needed.
        image: uint8 (H, W), (H, W, 1) (saved as RGB) or (H, W, 3).

    Returns:
        `path`.
    """
    image = to_rgb(image) if image.ndim == 3 and image.shape[-1] == 1 else image
    return write_atomic(path, lambda f: Image.fromarray(image).save(f, format="PNG"))


def write_gif(frames: Sequence[Path], path: Path, frame_ms: int = 600, last_frame_ms: int = 2000) -> Path:
    """An endlessly looping GIF of the image files `frames`, in order; the last frame is held longer.

    Args:
        frames: image files, at least one; each is converted to RGB.
        path: the GIF to create or replace, atomically.
        frame_ms: how long each frame but the last is shown, in milliseconds.
        last_frame_ms: how long the last frame is shown, in milliseconds.

    Returns:
        `path`.
    """
    images = []
    for frame in frames:
        with Image.open(frame) as image:
            images.append(image.convert("RGB"))
    durations = [frame_ms] * (len(images) - 1) + [last_frame_ms]
    return write_atomic(path, lambda f: images[0].save(f, format="GIF", save_all=True, append_images=images[1:],
                                                         duration=durations, loop=0))


def numbered(folder: Path, prefix: str = "epoch_", suffix: str = ".png") -> list[tuple[int, Path]]:
    """(number, path) of the files `<prefix><number><suffix>` in `folder`, by number.

    Args:
        folder: the folder to look in (not its subfolders); a missing one gives [].
        prefix: what the names start with, before the number.
        suffix: what they end with, after the number.

    Returns:
        The matches, sorted by number.
    """
    pattern = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(suffix) + "$")
    found = [(int(m.group(1)), p) for p in Path(folder).glob(f"{prefix}*{suffix}") if (m := pattern.match(p.name))]
    return sorted(found)


class CsvLog:
    """A CSV file of one row per step, appended and flushed row by row, so a killed run keeps what it logged.

    Opened for a run that starts (or resumes) at `start_step`, it first drops the rows logged after that
    step by an earlier process that died before its next checkpoint: those steps are trained again
    (`start_step=None` keeps every row). A file that exists keeps its header (columns it lacks are not written).
    """

    def __init__(self, path: Path, columns: Sequence[str], start_step: int | None):
        self.path = Path(path)
        header = list(columns)
        if self.path.is_file() and self.path.stat().st_size:
            text = self.path.read_text()
            complete = text[: text.rfind("\n") + 1]  # a process killed while writing a row left part of it
            reader = csv.DictReader(io.StringIO(complete))
            header = list(reader.fieldnames or columns)
            rows = list(reader)
            kept = [row for row in rows if start_step is None or _int(row.get("step")) <= start_step]
            if complete != text or len(kept) < len(rows):
                self._rewrite(header, kept)
        else:
            self._rewrite(header, [])
        self.columns = header
        self._file = open(self.path, "a", newline="")
        self._writer = csv.DictWriter(self._file, header, extrasaction="ignore", restval="")

    def _rewrite(self, header: list[str], rows: list[dict]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomic(self.path, buffer.getvalue())

    def write(self, row: dict) -> None:
        self._writer.writerow({k: _cell(v) for k, v in row.items()})
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _cell(value):
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    return "" if value is None else value


def read_csv(path: Path) -> list[dict[str, str]]:
    if not Path(path).is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_losses(csv_path: Path, png_path: Path) -> bool:
    """Plot every loss column of `loss_log.csv` against the step into `png_path`.

    Discriminator losses (columns starting with "D") go in a panel of their own.

    Args:
        csv_path: the run's loss log (a missing or empty one plots nothing).
        png_path: the PNG to create or replace, atomically.

    Returns:
        False (and writes nothing) when matplotlib is not installed: it is an optional extra; True otherwise.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        from matplotlib import pyplot
    except ImportError:
        return False
    rows = read_csv(csv_path)
    if not rows:
        return True
    skip = {"epoch", "step", "lr", "images_per_s"}
    names = [c for c in rows[0] if c not in skip and not is_signal(c)]  # (not losses: health.json)
    steps = np.array([float(r["step"]) for r in rows])
    figure, (g_axes, d_axes) = pyplot.subplots(1, 2, figsize=(11, 3.6))
    for name in names:
        values = np.array([float(r[name]) if r.get(name) else np.nan for r in rows])
        (d_axes if name.startswith("D") else g_axes).plot(steps, values, label=name, linewidth=1.2)
    for axes, title in ((g_axes, "generators (GAN, cycle, identity)"), (d_axes, "discriminators")):
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    pyplot.close(figure)
    write_atomic(png_path, lambda f: f.write(buffer.getvalue()))
    return True


# --- training health ----------------------------------------------------------------------------------------

HEALTH = "health.json"  # the training-health episodes and latest signals (`training.health.Health.to_dict`)


def write_health(run_dir: Path, health: dict) -> None:
    write_text_atomic(Path(run_dir) / HEALTH, json.dumps(health, indent=1) + "\n")


def read_health(run_dir: Path) -> dict:
    """A run's health.json, or {} when it has none (or it cannot be read)."""
    try:
        return json.loads((Path(run_dir) / HEALTH).read_text())
    except (OSError, ValueError):
        return {}


def _health_panel(health: dict) -> str:
    episodes = health.get("episodes", [])
    if not episodes:
        verdict = "<p>No problem detected.</p>"
    else:
        items = "".join(
            f"<li><b>{html.escape(e['title'])}</b> from step {e['since']} (found at step {e['step']}"
            f"{'' if e.get('ended') is None else ', ended at step ' + str(e['ended'])}): {html.escape(e['meaning'])}."
            f" <i>Try:</i> {html.escape(e['advice'])}</li>" for e in episodes)
        verdict = f"<ul>{items}</ul>"
    latest = health.get("latest", {})
    values = ", ".join(f"{html.escape(k.removeprefix('health_'))} {v:.3g}" for k, v in sorted(latest.items()))
    return "<h2>Training health</h2>" + verdict + (f"<p>Latest signals: {values}.</p>" if values else "")


# --- the gallery --------------------------------------------------------------------------------------------

def write_gallery(run_dir: Path, title: str, status: str = "", samples_note: str = "") -> Path:
    """`index.html`: time-lapse, loss plot, evaluations and every epoch's sample grid, newest first.

    It is made from the files in the run directory alone, so it can be rebuilt at any time and a resumed
    run's page goes on from the earlier epochs.

    Args:
        run_dir: the run directory; the page is written there, atomically.
        title: the page's title and heading.
        status: a sentence shown under the heading (e.g. how far training is); "" for none.
        samples_note: a sentence shown above the sample grids (e.g. what their columns are); "" for none.

    Returns:
        The path of `index.html`.
    """
    run_dir = Path(run_dir)
    version = int(time.time())  # in the image URLs, so a reloaded page shows the new GIF and plot
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>{html.escape(status)} Updated {time.strftime('%Y-%m-%d %H:%M:%S')}. "
             '<a href="config.json">config.json</a> &middot; <a href="loss_log.csv">loss_log.csv</a></p>']
    health = read_health(run_dir)
    if health:
        parts.append(_health_panel(health))
    if (run_dir / "timelapse.gif").is_file():
        parts.append(f'<h2>Time-lapse</h2><p>One test image translated at the end of each epoch.</p>'
                     f'<img src="timelapse.gif?v={version}" class="pixel">')
    if (run_dir / "losses.png").is_file():
        parts.append(f'<h2>Losses</h2><img src="losses.png?v={version}">')
    evaluations = read_csv(run_dir / "eval_log.csv")
    if evaluations:
        parts.append("<h2>Evaluation</h2>" + _table(evaluations) + '<p><a href="eval/">eval/</a> holds each '
                     "evaluation as JSON; best.json the epoch with the lowest FID.</p>")
    samples = numbered(run_dir / "samples")
    if samples:
        parts.append(f"<h2>Samples</h2><p>{html.escape(samples_note)}</p>")
    for epoch, path in reversed(samples):
        parts.append(f'<h3>epoch {epoch}</h3><img src="samples/{path.name}" class="pixel">')
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:1.5em}}"
            "img.pixel{image-rendering:pixelated;min-width:400px;max-width:100%}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
            "</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
    write_text_atomic(run_dir / "index.html", page)
    return run_dir / "index.html"


def _table(rows: list[dict[str, str]]) -> str:
    columns = [c for c in rows[0] if any(r.get(c) for r in rows)]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(r.get(c) or '')}</td>" for c in columns) + "</tr>"
                   for r in reversed(rows))
    return f"<table><tr>{head}</tr>{body}</table>"
