"""Image files with Pillow only (no TensorFlow): listing, decoding to arrays, and the per-file check.

The trainer's pre-flight check (`data.check_images`) and `cyclegan-tf datasets inspect` share
`check_image`, so a file that inspect calls readable is one the trainer can read, and the other way
round. This module must stay free of TensorFlow: the `datasets` commands import it and should start
instantly.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps

from cyclegan_tf.data.limits import DEFAULT_MAX_PIXELS as DEFAULT_MAX_PIXELS  # at home there, imported from here too
from cyclegan_tf.data.limits import ImageTooLarge, check_pixels
from cyclegan_tf.data.scientific import TIFF_SUFFIXES, read_bands
from cyclegan_tf.errors import UserError

log = logging.getLogger("cyclegan_tf")

# .npy: scientific arrays (data.scientific), (H, W) or (H, W, bands)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".npy")
T = TypeVar("T")

# Pillow modes whose pixels are one grey value (with or without alpha); the rest decode to colour.
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def is_image_name(path: Path | str) -> bool:
    """Whether a file name has one of the image extensions (any letter case)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: Path, max_count: int | None = None) -> list[Path]:
    """Image files directly in `folder` (any letter case of the extension), sorted by name.

    Args:
        folder: the folder to list (not its subfolders); a `UserError` if it is missing or holds no image.
        max_count: keep only the first this many, by name; None (or 0) keeps all.

    Returns:
        At least one path.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"folder not found: {folder}")
    paths = sorted(p for p in folder.iterdir() if is_image_name(p) and p.is_file())
    if not paths:
        raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return paths[:max_count] if max_count else paths


def channels_of(mode: str) -> int:
    """Channels an image of this Pillow mode has once decoded (1 = grey, 3 = colour); alpha is dropped."""
    return 1 if mode in GRAY_MODES else 3


def open_image(path: Path | str, max_pixels: int | None = None) -> Image.Image:
    """Open an image file (reading its header only), refusing one of more than `max_pixels` pixels.

    Args:
        path: the image file.
        max_pixels: the limit; None: `DEFAULT_MAX_PIXELS`; 0: none.

    Returns:
        The open Pillow image (close it, or use it in a `with` block).

    Raises:
        ImageTooLarge: the header announces more pixels than the limit (nothing has been decoded).
    """
    image = Image.open(path)
    try:
        check_pixels(path, *image.size, max_pixels)
    except ImageTooLarge:
        image.close()
        raise
    return image


def load_image(path: Path | str, channels: int = 3, max_pixels: int | None = None) -> np.ndarray:
    """An image file as a uint8 array (height, width, channels), whatever its mode.

    Transparency is composited on white; 16-bit images are scaled to 8 bits; EXIF rotation is applied, so
    photos from phones are upright.

    Args:
        path: the image file.
        channels: 1 decodes to grey; any other value to RGB (3 channels).
        max_pixels: refuse larger images (`open_image`).

    Returns:
        uint8 (H, W, 1) or (H, W, 3).
    """
    with open_image(path, max_pixels) as image:
        return _to_array(_eight_bit(image), channels)


def load_pair(path: Path | str, input_nc: int = 3, output_nc: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """An aligned A|B image file -> (A with `input_nc` channels, B with `output_nc`), decoded once and split
    as `split_pair` does.

    Args:
        path: an image holding A on its left half and B on its right.
        input_nc: channels of A: 1 (grey) or 3 (RGB).
        output_nc: channels of B: 1 (grey) or 3 (RGB).

    Returns:
        (A, B), each uint8 (H, width // 2, channels).
    """
    with open_image(path) as image:
        image = _eight_bit(image)
        a = _to_array(image, input_nc)
        b = a if output_nc == input_nc else _to_array(image, output_nc)
    return split_pair(a)[0], split_pair(b)[1]


def split_pair(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An A|B image -> (A, B), each `width // 2` wide; of an odd width the last column is dropped (as the reference)."""
    half = image.shape[1] // 2
    return image[:, :half], image[:, half: 2 * half]


def _eight_bit(image: Image.Image) -> Image.Image:
    """An opened image, upright, as 8-bit grey or colour without alpha (see `load_image`)."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        scale = 257.0 if values.max(initial=0) > 255 else 1.0
        image = Image.fromarray(np.clip(values / scale, 0, 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image


def _to_array(image: Image.Image, channels: int) -> np.ndarray:
    array = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    return array[..., None] if channels == 1 else array


# sRGB's luminance weights (the Y row of its D65 RGB -> XYZ matrix, as skimage's rgb2lab uses)
LUMINANCE = np.array([0.212671, 0.715160, 0.072169])


def grey_of_lightness(image: np.ndarray) -> np.ndarray:
    """The grey photo of a colour one: uint8 (H, W, 3) -> uint8 (H, W, 1) whose CIE Lab lightness is the colour
    image's (its luminance, sRGB-encoded), what a colorization model sees of a colour photo. Not Pillow's "L"
    conversion, whose luma weights gamma-encoded values and so differs from Lab's L."""
    c = image[..., :3].astype(np.float64) / 255.0
    linear = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    y = linear @ LUMINANCE
    encoded = np.where(y > 0.0031308, 1.055 * np.power(y, 1 / 2.4) - 0.055, 12.92 * y)
    return np.clip(np.round(encoded * 255.0), 0, 255).astype(np.uint8)[..., None]


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 (H, W, 1) or (H, W, 3) image as the bytes of a PNG file (one channel stays grey)."""
    out = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(out, format="PNG")
    return out.getvalue()


@dataclass(frozen=True)
class ImageCheck:
    """What one full decode of a file found: its size and mode, or why it cannot be used."""

    path: Path
    size: tuple[int, int] | None = None  # (width, height) when readable
    mode: str | None = None  # Pillow mode when readable: "RGB", "L", "P", "CMYK", "I;16", ...
    error: str = ""  # why the file is unusable; "" when readable
    alpha: bool = False  # has transparency (an alpha channel, or a transparent palette entry)
    bands: int | None = None  # a file Pillow cannot read, read by data.scientific (.npy, multi-band TIFF)

    @property
    def ok(self) -> bool:
        return self.size is not None

    @property
    def channels(self) -> int:
        """Bands once decoded: a scientific file's own, else 1 (grey) or 3 (`channels_of`)."""
        return self.bands if self.bands is not None else channels_of(self.mode or "")


def conversion_note(check: ImageCheck) -> str:
    """How `load_image` changes a readable image that is not plain 8-bit RGB or grey ("" when it does not)."""
    mode = check.mode or ""
    if check.bands is not None:  # read as its stored values: nothing to convert (inspect shows its depth and range)
        return ""
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return (f"{mode}: more than 8 bits per pixel, read unrounded and scaled by --value-range (scaled to 8 "
                "bits by colorization and DCGAN)")
    if check.alpha:
        return f"{mode} with transparency: composited on white"
    if mode == "P":
        return "P (palette): converted to RGB"
    if mode not in ("RGB", "L", ""):
        return f"{mode}: converted to {'grey' if channels_of(mode) == 1 else 'RGB'}"
    return ""


def check_image(path: Path | str) -> ImageCheck:
    """Decode a file once, fully (header checks miss truncated files), and say what it is."""
    path = Path(path)
    try:
        if path.is_dir():
            return ImageCheck(path, error="a folder, not a file")
        if path.stat().st_size == 0:
            return ImageCheck(path, error="empty file (0 bytes)")
        with open_image(path) as image:
            image.load()
            alpha = "transparency" in image.info or image.mode in ("RGBA", "LA", "PA", "La", "RGBa")
            return ImageCheck(path, image.size, image.mode, alpha=alpha)
    except ImageTooLarge as error:
        return ImageCheck(path, error=str(error).removeprefix(f"{path}: "))
    except Image.UnidentifiedImageError:
        if path.suffix.lower() in (".npy", *TIFF_SUFFIXES):
            return _check_bands(path)
        return ImageCheck(path, error="not an image Pillow can read (wrong extension or unknown format)")
    except Exception as error:  # any failure to decode makes the file unusable
        if path.suffix.lower() in TIFF_SUFFIXES:  # a TIFF whose header Pillow reads but whose bands it cannot
            return _check_bands(path)
        return ImageCheck(path, error=f"{type(error).__name__}: {error}".strip())


def _check_bands(path: Path) -> ImageCheck:
    """`check_image` of a file only `data.scientific` reads (a `.npy`, a multi-band or float TIFF)."""
    try:
        values = read_bands(path)
    except UserError as error:  # tifffile missing, or an array that is no image: one line, as for other files
        return ImageCheck(path, error=str(error).removeprefix(f"{path}: "))
    except Exception as error:  # any failure to decode makes the file unusable
        return ImageCheck(path, error=f"{type(error).__name__}: {error}".strip())
    height, width, bands = values.shape
    return ImageCheck(path, (width, height), f"{bands} x {values.dtype}", bands=bands)


def mixed_channels_note(checks: list[ImageCheck]) -> str:
    """A sentence when readable images mix grey and colour ("" when they agree), for the trainer and inspect."""
    modes = [c.channels for c in checks if c.ok]
    gray = sum(channels == 1 for channels in modes)
    if not gray or gray == len(modes):
        return ""
    return (f"mixed channel counts: {gray} grayscale and {len(modes) - gray} colour image(s); each is converted "
            "to --input-nc/--output-nc channels, so check that is what you want")


@dataclass
class Skipped:
    """The files a batch job (translate, evaluate, the dataset tools) could not read: each is warned about once
    (also when the job reads it twice), the job goes on, and `summary` says what was left out."""

    files: dict[Path, str] = field(default_factory=dict)  # path -> why
    seen: set[Path] = field(default_factory=set)  # every file the job tried

    def add(self, path: Path, reason: str) -> None:
        path = Path(path)
        if path not in self.files:
            log.warning("skipping %s: %s", path, reason)
            self.files[path] = reason

    def summary(self, limit: int = 5) -> str:
        """'2 of 1,000 files skipped: a.png (why); b.jpg (why)', or "" when none was."""
        if not self.files:
            return ""
        shown = "; ".join(f"{path} ({reason})" for path, reason in list(self.files.items())[:limit])
        more = f"; and {len(self.files) - limit:,} more" if len(self.files) > limit else ""
        return f"{len(self.files):,} of {len(self.seen):,} files skipped: {shown}{more}"


def attempt(read: Callable[[Path], T], path: Path) -> tuple[T | None, str]:
    """(`read(path)`, "") or, if it fails, (None, why: one line without the path). Safe to run on many threads."""
    try:
        return read(path), ""
    except Exception as error:  # any failure to decode makes the file unusable
        reason = str(error) if isinstance(error, ImageTooLarge) else f"{type(error).__name__}: {error}"
        return None, reason.removeprefix(f"{path}: ")


def record(path: Path, reason: str, skipped: Skipped, strict: bool = False) -> None:
    """Note that a job tried `path` and, when `reason` says why it could not read it, skip it (or, `strict`,
    stop with a `UserError`)."""
    skipped.seen.add(Path(path))
    if reason:
        if strict:
            raise UserError(f"cannot read image {path}: {reason} (--strict)")
        skipped.add(path, reason)


def read_each(paths: Iterable[Path], read: Callable[[Path], T], skipped: Skipped, strict: bool = False) -> list[T]:
    """`read(path)` of every path, leaving out (and recording in `skipped`) those that cannot be read.

    Args:
        paths: the files.
        read: decodes one file; any exception means the file is unreadable.
        skipped: where unreadable files are recorded (and every path, to count them).
        strict: stop at the first unreadable file with a `UserError` instead.

    Returns:
        What `read` returned for the readable files, in order.
    """
    out = []
    for path in paths:
        value, reason = attempt(read, path)
        record(path, reason, skipped, strict)
        if not reason:
            out.append(value)
    return out
