"""Scientific images: any number of bands, 8-bit, 16-bit or float values, from PNG, TIFF or `.npy`, and back.

A domain whose files are all 8-bit grey or colour images (and whose `--value-range` is `auto`) keeps the ordinary
path (`data.images.load_image`, uint8). Any other domain (16-bit or float values, more than three bands, a
`.npy` file, a `--value-range` given) is read here as its stored values, never rounded to 8 bits, and scaled to
the networks' [-1, 1] by the domain's `ValueRange`: the one the trainer resolves once over the training set and
stores in the run's config.json (`scaling_A`, `scaling_B`), so that translate, evaluate, samples and export scale
as training did. Outputs are written back at a depth (8, 16 or float) in the format that holds it: PNG for 8-bit
and one-band 16-bit, TIFF for more bands or float, `.npy` when the input was one. TF-free.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from cyclegan_tf.choices import DOMAINS
from cyclegan_tf.data.limits import check_pixels
from cyclegan_tf.errors import UserError
from cyclegan_tf.pixels import range_to_signed, signed_to_range, to_uint8

DEPTHS = ("8", "16", "float")
TIFF_SUFFIXES = (".tif", ".tiff")
# Pillow modes decoded as their stored values, bands as they are; the others (palette, 1-bit, ...) go to RGB first
RAW_MODES = frozenset({"L", "LA", "RGB", "RGBA", "CMYK", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
SAMPLES = 65_536  # values per file a percentile is estimated from (an even stride over the file)


def tifffile_module() -> Any:
    """The `tifffile` module, or a `UserError` naming the pip extra that installs it."""
    try:
        import tifffile
    except ImportError:
        raise UserError("multi-band and float TIFF need tifffile: pip install 'cyclegan-tf[tiff]'") from None
    return tifffile


def depth_of(dtype: np.dtype) -> str:
    """The depth a data type holds: "8" (uint8, bool), "16" (other integers) or "float"."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return "float"
    return "8" if dtype.itemsize == 1 else "16"


def _pillow_dtype(mode: str) -> np.dtype:
    return np.dtype({"F": np.float32, "I": np.int32}.get(mode, np.uint16 if mode.startswith("I;16") else np.uint8))


@dataclass(frozen=True)
class BandsInfo:
    """What a file's header says: size, bands and data type, nothing decoded."""

    height: int
    width: int
    bands: int
    dtype: str

    @property
    def depth(self) -> str:
        return depth_of(np.dtype(self.dtype))


def describe(path: Path | str) -> BandsInfo:
    """The header of an image, TIFF or `.npy` file (`BandsInfo`); a file none of them reads raises."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        shape = _hwc_shape(array.shape, path)
        return BandsInfo(*shape, array.dtype.str)
    if suffix in TIFF_SUFFIXES:
        try:
            tifffile = tifffile_module()
        except UserError:
            try:  # an 8-bit TIFF Pillow reads keeps the ordinary path without tifffile
                return _describe_pillow(path)
            except Exception:
                raise UserError(f"{path}: multi-band and float TIFF need tifffile: pip install "
                                "'cyclegan-tf[tiff]'") from None
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            height, width = _tiff_size(series)
            bands = int(np.prod([n for n, axis in zip(series.shape, series.axes, strict=True) if axis not in "YX"]))
            return BandsInfo(height, width, bands, np.dtype(series.dtype).str)
    return _describe_pillow(path)


def _tiff_size(series: Any) -> tuple[int, int]:
    """(height, width) of a tifffile series, whose other axes (samples, pages, channels, ...) are its bands."""
    return series.shape[series.axes.index("Y")], series.shape[series.axes.index("X")]


def _describe_pillow(path: Path) -> BandsInfo:
    with Image.open(path) as image:
        width, height = image.size
        bands = 3 if image.mode not in RAW_MODES else len(image.getbands())
        return BandsInfo(height, width, bands, _pillow_dtype(image.mode).str)


def _hwc_shape(shape: tuple[int, ...], path: Path) -> tuple[int, int, int]:
    if len(shape) == 2:
        return shape[0], shape[1], 1
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    raise UserError(f"{path}: an array of shape {tuple(shape)}, not (height, width) or (height, width, bands)")


def _kind(source: Path | io.BytesIO) -> str:
    """".npy", ".tif" or "" (Pillow) for a file by its suffix, or for bytes (an upload) by their magic number."""
    if isinstance(source, Path):
        suffix = source.suffix.lower()
        return ".tif" if suffix in TIFF_SUFFIXES else (suffix if suffix == ".npy" else "")
    head = source.getvalue()[:6]
    if head.startswith(b"\x93NUMPY"):
        return ".npy"
    return ".tif" if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+") else ""


def read_bands(path: Path | str | io.BytesIO, max_pixels: int | None = None) -> np.ndarray:
    """A file's stored values as (H, W, bands), in its own data type (uint8, uint16, float32, ...).

    `.npy`: (H, W) or (H, W, bands); TIFF (tifffile): every plane of the first series (samples, pages, channels)
    as a band; anything else (16-bit PNG, ...) with Pillow, upright (EXIF), palette images as RGB.

    Args:
        path: the file, or its bytes (an upload: the type from its first bytes).
        max_pixels: refuse larger images before decoding (`data.limits.check_pixels`).
    """
    path = path if isinstance(path, io.BytesIO) else Path(path)
    suffix = _kind(path)
    if suffix == ".npy":  # a file is mapped, not read, until its size has been checked
        array = np.load(path, mmap_mode="r" if isinstance(path, Path) else None, allow_pickle=False)
        height, width, bands = _hwc_shape(array.shape, path)
        check_pixels(path, width, height, max_pixels)
        return np.array(array).reshape(height, width, bands)
    if suffix == ".tif":
        with tifffile_module().TiffFile(path) as tif:
            series = tif.series[0]
            axes = series.axes
            height, width = _tiff_size(series)
            check_pixels(path, width, height, max_pixels)
            data = series.asarray()
        order = [axes.index("Y"), axes.index("X")] + [i for i, axis in enumerate(axes) if axis not in "YX"]
        return np.transpose(data, order).reshape(height, width, -1)
    with Image.open(path) as image:
        check_pixels(path, *image.size, max_pixels)
        image = ImageOps.exif_transpose(image)
        if image.mode not in RAW_MODES:
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        array = np.asarray(image)
        if image.mode.startswith("I;16"):
            array = array.astype(np.uint16)
        elif image.mode == "I" and array.min(initial=0) >= 0 and array.max(initial=0) <= 65535:
            array = array.astype(np.uint16)  # a 16-bit PNG some Pillow versions open as 32-bit "I"
    return array.reshape(array.shape[0], array.shape[1], -1)


def fit_bands(array: np.ndarray, channels: int, path: Path | str = "") -> np.ndarray:
    """`array` (H, W, bands) with `channels` bands: as it is, a one-band image repeated, or the mean of the first
    three bands for one channel; any other count is a `UserError` naming the file."""
    bands = array.shape[-1]
    if bands == channels:
        return array
    if bands == 1:
        return np.repeat(array, channels, axis=-1)
    if channels == 1 and bands in (3, 4):  # colour (and alpha) into a one-band network: its grey
        return array[..., :3].astype(np.float32).mean(axis=-1, keepdims=True)
    raise UserError(f"{path}: {bands} bands, but the run takes {channels} (--input-nc/--output-nc)")


@dataclass(frozen=True)
class ValueRange:
    """How a domain's stored values map to the networks' [-1, 1]: `low` -> -1, `high` -> 1 (values beyond are
    clipped), and the depth its files hold (what translate writes by default).

    Args:
        low: the value that becomes -1.
        high: the value that becomes 1 (above `low`).
        depth: "8", "16" or "float": the training files' data type.
        spec: the `--value-range` it was resolved from (`auto`, `min,max` or `pNN,pMM`), for the record.
    """

    low: float
    high: float
    depth: str
    spec: str = "auto"

    def levels(self, values: np.ndarray) -> np.ndarray:
        """A file's values at the domain's depth, float32: an 8-bit file among 16-bit ones has its levels x 257
        (255 -> 65535), so a domain of mixed depths scales alike."""
        values = np.asarray(values)
        scale = 257.0 if self.depth == "16" and values.dtype.kind in "ub" and values.dtype.itemsize == 1 else 1.0
        return values.astype(np.float32) * np.float32(scale) if scale != 1.0 else values.astype(np.float32)

    def to_signed(self, values: np.ndarray) -> np.ndarray:
        """Stored values (any dtype, `levels`) -> float32 [-1, 1], clipped."""
        return np.clip(range_to_signed(self.levels(values), self.low, self.high), -1.0, 1.0)

    def from_signed(self, signed: np.ndarray) -> np.ndarray:
        """float [-1, 1] -> float32 values in [low, high]."""
        return signed_to_range(signed, self.low, self.high)

    def encode(self, values: np.ndarray, depth: str | None = None) -> np.ndarray:
        """Values in [low, high] as an array of `depth` (default: the domain's): float32 as they are; integers
        rounded, at the domain's own levels when it holds that depth, else `low..high` stretched to the full scale.
        """
        depth = depth or self.depth
        if depth == "float":
            return np.asarray(values, np.float32)
        top, dtype = (255, np.uint8) if depth == "8" else (65535, np.uint16)
        if depth != self.depth:
            values = (np.asarray(values, np.float64) - self.low) / (self.high - self.low) * top
        return np.clip(np.round(values), 0, top).astype(dtype)

    def view(self, values: np.ndarray) -> np.ndarray:
        """An 8-bit picture of stored values for grids, pages and FID: the first three bands as RGB (false colour
        of more), one band as grey (also of two), `low..high` stretched to 0..255."""
        bands = values[..., :3] if values.shape[-1] >= 3 else values[..., :1]
        return to_uint8(self.to_signed(bands))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict | None) -> ValueRange | None:
        return None if values is None else cls(**values)


def view_of(image: np.ndarray, scale: ValueRange | None) -> np.ndarray:
    """An 8-bit picture of an image of a domain (`ValueRange.view`); an 8-bit image (`scale` None) as it is."""
    return image if scale is None else scale.view(image)


def parse_range(spec: str) -> tuple[str, float, float]:
    """`--value-range`: ("auto", 0, 0), ("fixed", min, max) or ("percentile", NN, MM); a `UserError` otherwise."""
    text = spec.strip().lower()
    if text == "auto":
        return "auto", 0.0, 0.0
    parts = [part.strip() for part in text.split(",")]
    try:
        if len(parts) == 2 and all(part.startswith("p") for part in parts):
            low, high = float(parts[0][1:]), float(parts[1][1:])
            if 0 <= low < high <= 100:
                return "percentile", low, high
        elif len(parts) == 2:
            low, high = float(parts[0]), float(parts[1])
            if low < high:
                return "fixed", low, high
    except ValueError:
        pass
    raise UserError(f"--value-range {spec!r}: give auto, min,max (min < max) or pNN,pMM percentiles (e.g. p1,p99)")


def is_scientific(infos: Iterable[BandsInfo], channels: int, spec: str, paths: Iterable[Path] = ()) -> bool:
    """Whether a domain takes this module's path: a `--value-range` given, a channel count other than 1 or 3,
    a `.npy` file, or any file that is not 8-bit."""
    return (spec.strip().lower() != "auto" or channels not in (1, 3)
            or any(Path(p).suffix.lower() == ".npy" for p in paths) or any(i.depth != "8" for i in infos))


def resolve_range(paths: list[Path], channels: int, spec: str,
                  select: Callable[[np.ndarray], np.ndarray] | None = None) -> ValueRange:
    """A domain's `ValueRange` from its training files, computed once (the trainer stores it in the run).

    Args:
        paths: the domain's training files.
        channels: the bands the run takes (each file is checked to have them, or one).
        spec: `--value-range`: `auto` (0..255 for 8-bit, 0..65535 for 16-bit, the data's min..max for float),
            `min,max`, or `pNN,pMM` (percentiles of all bands of all files, each sampled at 65,536 values).
        select: the part of each file that is the domain (an A|B image's half).

    Returns:
        The range, with the depth of the widest data type among the files.
    """
    kind, low, high = parse_range(spec)
    depths, samples, lows, highs = set(), [], [], []
    for path in paths:
        values = read_bands(path)
        values = select(values) if select else values
        fit_bands(values[:1, :1], channels, path)  # the band count, before training starts
        depths.add(depth_of(values.dtype))
        flat = values.reshape(-1)
        if kind == "percentile":
            samples.append(flat[:: max(1, flat.size // SAMPLES)].astype(np.float64))
        elif kind == "auto" and flat.dtype.kind == "f":
            lows.append(float(np.nanmin(flat)))
            highs.append(float(np.nanmax(flat)))
    depth = "float" if "float" in depths else ("16" if "16" in depths else "8")
    if kind == "percentile":
        low, high = (float(v) for v in np.percentile(np.concatenate(samples), [low, high]))
    elif kind == "auto":
        low, high = (min(lows), max(highs)) if depth == "float" else (0.0, 255.0 if depth == "8" else 65535.0)
    if not high > low:
        raise UserError(f"--value-range {spec}: the training values of {paths[0].parent} span nothing "
                        f"({low:g} to {high:g}); give min,max")
    return ValueRange(low, high, depth, spec)


def output_suffix(values: np.ndarray, like: str = "") -> str:
    """The file type that holds `values` (H, W, bands) at their data type: `.npy` when the input (`like`, its
    suffix) was one; PNG for 8-bit of 1 or 3 bands and one-band 16-bit; TIFF otherwise (more bands, float)."""
    if like.lower() == ".npy":
        return ".npy"
    bands, dtype = values.shape[-1], values.dtype
    if (dtype == np.uint8 and bands in (1, 3)) or (dtype == np.uint16 and bands == 1):
        return ".png"
    return ".tif"


def encode_file(values: np.ndarray, suffix: str) -> bytes:
    """The bytes of a `suffix` file (`output_suffix`) holding (H, W, bands) `values` at their data type."""
    out = io.BytesIO()
    if suffix == ".npy":
        np.save(out, values, allow_pickle=False)
    elif suffix == ".png":
        Image.fromarray(values[..., 0] if values.shape[-1] == 1 else values).save(out, format="PNG")
    else:  # bands last, one page: what `read_bands` (and most TIFF readers) read back as (H, W, bands)
        tifffile_module().imwrite(out, values[..., 0] if values.shape[-1] == 1 else values,
                                  photometric="minisblack", planarconfig="contig")
    return out.getvalue()


def run_scaling(config: Any, domain: str) -> ValueRange | None:
    """The `ValueRange` a run stored for domain "A" or "B" (its config's `scaling_A` / `scaling_B`); None: 8-bit."""
    return ValueRange.from_dict(getattr(config, f"scaling_{domain}"))


def load_scaled(path: Path | str, channels: int, scale: ValueRange, max_pixels: int | None = None) -> np.ndarray:
    """A file of a scientific domain as float32 values (H, W, `channels`), unrounded (what translate and evaluate
    read; training reads `read_bands` and scales with `scale.to_signed`)."""
    return scale.levels(fit_bands(read_bands(path, max_pixels), channels, path))


def direction_scaling(config: Any, direction: str) -> tuple[ValueRange | None, ValueRange | None]:
    """(the source domain's, the target domain's) `run_scaling` of a direction ("AtoB": (A, B))."""
    source, target = DOMAINS[direction]
    return run_scaling(config, source), run_scaling(config, target)


@dataclass(frozen=True)
class ValueStats:
    """A file's (or a folder's) depth, bands and value range, for `datasets inspect`."""

    depth: str
    bands: int
    low: float
    high: float

    def merged(self, other: ValueStats) -> ValueStats:
        wider = max(self.depth, other.depth, key=DEPTHS.index)
        bands = self.bands if self.bands == other.bands else -1  # -1: files of different band counts
        return ValueStats(wider, bands, min(self.low, other.low), max(self.high, other.high))

    def text(self) -> str:
        depth = "float" if self.depth == "float" else f"{self.depth}-bit"
        bands = "mixed bands" if self.bands < 0 else f"{self.bands} band{'s' if self.bands != 1 else ''}"
        return f"{depth}, {bands}, values {self.low:g}..{self.high:g}"


def value_stats(path: Path | str) -> ValueStats | None:
    """`ValueStats` of one file as `read_bands` reads it; None when it cannot (e.g. a TIFF without tifffile)."""
    try:
        values = read_bands(path)
    except Exception:  # inspect's own check reports unreadable files; this is only the summary
        return None
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    return ValueStats(depth_of(values.dtype), values.shape[-1], low, high)
