"""Checking and preparing dataset folders before hours of training are spent on them (no TensorFlow).

- `inspect_dataset`: counts per split, size and mode histograms, every unusable file by path, duplicates,
  and the warnings that matter for training. Each file is decoded by `images.check_image`, the same
  check the trainer runs before training, so both agree on what is readable.
- `combine`: side-by-side A|B images for aligned (pix2pix) training, from two folders matched by file stem.
- `resize_images`: a resized copy of a folder tree, names kept (cover = fill NxN and centre-crop, fit = fit
  inside NxN keeping the aspect ratio).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps

from cyclegan_tf.data.images import (
    ImageCheck,
    channels_of,
    check_image,
    conversion_note,
    is_image_name,
    list_images,
    load_image,
    mixed_channels_note,
)
from cyclegan_tf.data.scientific import (
    TIFF_SUFFIXES,
    ValueStats,
    describe,
    encode_file,
    read_bands,
    value_stats,
)
from cyclegan_tf.errors import UserError
from cyclegan_tf.files import sha256_of, write_atomic

SPLITS = {
    "unpaired": ("trainA", "trainB", "valA", "valB", "testA", "testB"),
    "aligned": ("train", "val", "test"),
}
TRAIN_SPLITS = ("trainA", "trainB", "train")
THREADS = 4
T = TypeVar("T")
R = TypeVar("R")
OnItem = Callable[[int, int], None] | None  # called with (done, total) after each file


def _parallel(function: Callable[[T], R], items: list[T], on_item: OnItem = None) -> Iterator[R]:
    """`function` over `items` in a few threads (Pillow releases the GIL while decoding), results in order."""
    with ThreadPoolExecutor(THREADS) as pool:
        for done, result in enumerate(pool.map(function, items), 1):
            if on_item:
                on_item(done, len(items))
            yield result


# ---------------------------------------------------------------------------------------------------------------
# inspect


@dataclass
class Problem:
    """One finding of `inspect`: an error (training would skip files or cannot start) or a warning."""

    level: str  # "error" | "warning" | "note" (readable files that training converts)
    message: str
    items: list[str] = field(default_factory=list)  # one line per file or group of files


@dataclass
class SplitReport:
    name: str  # "trainA", "train", ... or "." for a plain folder of images
    folder: Path
    checks: list[ImageCheck] = field(default_factory=list)  # every file with an image extension
    other_files: list[Path] = field(default_factory=list)  # files without an image extension
    image_named_folders: list[Path] = field(default_factory=list)  # e.g. a folder called x.png
    values: ValueStats | None = None  # depth, bands and value range of its readable files, as training reads them

    @property
    def readable(self) -> list[ImageCheck]:
        return [c for c in self.checks if c.ok]

    @property
    def unreadable(self) -> list[ImageCheck]:
        return [c for c in self.checks if not c.ok]


@dataclass
class InspectReport:
    root: Path
    kind: str  # "unpaired" | "aligned" | "folder"
    splits: list[SplitReport]
    sizes: Counter  # (width, height) -> count of readable images
    modes: Counter  # Pillow mode -> count
    duplicates: list[list[Path]]  # groups of files with identical bytes
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]


def detect_layout(root: Path, kind: str = "auto") -> tuple[str, list[str]]:
    """(kind, split folder names) of a dataset folder; "folder" with ["."] for a plain folder of images.

    Args:
        root: the dataset folder; a `UserError` if it is missing, or holds neither split folders nor images.
        kind: "auto" tries unpaired, then aligned; "unpaired" or "aligned" looks only for that layout.

    Returns:
        (kind, the split folders present plus any missing training split, in the layout's order).
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"folder not found: {root}")
    kinds = ("unpaired", "aligned") if kind == "auto" else (kind,)
    for k in kinds:
        present = [s for s in SPLITS[k] if (root / s).is_dir()]
        if present:
            missing = [s for s in TRAIN_SPLITS if s in SPLITS[k] and s not in present]
            return k, sorted(present + missing, key=SPLITS[k].index)
    if any(is_image_name(p) for p in root.iterdir()):
        return ("folder" if kind == "auto" else kind), ["."]
    raise UserError(f"{root} holds no split folders (trainA/ trainB/ testA/ testB/, or train/ val/ test/) and no "
                    "images: give the dataset's folder")


def _scan(split: SplitReport) -> list[Path]:
    """Sort a split folder's entries into image candidates, other files and folders named like images."""
    candidates = []
    for path in sorted(split.folder.iterdir()) if split.folder.is_dir() else []:
        if path.name.startswith("."):
            continue  # .DS_Store and friends
        if path.is_dir():
            if is_image_name(path):
                split.image_named_folders.append(path)
        elif is_image_name(path):
            candidates.append(path)
        else:
            split.other_files.append(path)
    return candidates


def _examine(path: Path) -> tuple[ImageCheck, str, ValueStats | None]:
    """The trainer's check of one file, a hash of its bytes for finding duplicates, and its depth, bands and
    values (`data.scientific.value_stats`)."""
    check = check_image(path)
    return check, sha256_of(path) if check.ok else "", value_stats(path) if check.ok else None


def inspect_dataset(root: Path | str, crop_size: int = 256, kind: str = "auto",
                    on_item: OnItem = None) -> InspectReport:
    """Check every file of a dataset folder; `kind`: auto, unpaired, aligned (A|B images).

    Args:
        root: the dataset folder, or a plain folder of images.
        crop_size: images (or A|B halves) smaller than this, in pixels, get a warning.
        kind: "auto" (from the folders present), "unpaired" or "aligned".
        on_item: called with (done, total) after each file is checked; None for nothing.

    Returns:
        Counts per split (with each split's depth, bands and value range), size and mode histograms, duplicate
        groups and the problems, errors first.
    """
    root = Path(root)
    kind, names = detect_layout(root, kind)
    splits = [SplitReport(name, root / name) for name in names]
    candidates = [(split, path) for split in splits for path in _scan(split)]
    digests: dict[str, list[Path]] = {}
    results = _parallel(_examine, [path for _, path in candidates], on_item)
    for (split, _), (check, digest, stats) in zip(candidates, results, strict=True):
        split.checks.append(check)
        if stats is not None:
            split.values = stats if split.values is None else split.values.merged(stats)
        if digest:
            digests.setdefault(digest, []).append(check.path)
    readable = [c for s in splits for c in s.readable]
    duplicates = [paths for paths in digests.values() if len(paths) > 1]
    problems = _problems(root, kind, splits, duplicates, crop_size)
    return InspectReport(root, kind, splits, Counter(c.size for c in readable), Counter(c.mode for c in readable),
                         duplicates, problems)


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _problems(root: Path, kind: str, splits: list[SplitReport], duplicates: list[list[Path]],
              crop_size: int) -> list[Problem]:
    problems: list[Problem] = []

    def add(level: str, message: str, items: Iterable[str] = ()) -> None:
        problems.append(Problem(level, message, list(items)))

    for split in splits:
        label = "the folder" if split.name == "." else f"split {split.name}/"
        if not split.folder.is_dir():
            add("error", f"{label} is missing: training needs it")
        elif not split.readable:
            level = "error" if split.name in TRAIN_SPLITS or split.name == "." else "warning"
            add(level, f"{label} has no readable images" + (": training needs them" if level == "error" else ""))
        note = mixed_channels_note(split.checks)
        if note:
            add("warning", f"{label}: {note}")
    everything = [c for s in splits for c in s.checks]
    bad = [c for c in everything if not c.ok]
    if bad:
        add("error", "unreadable image files (training skips them, or stops with --strict)",
            (f"{_rel(root, c.path)}: {c.error}" for c in bad))
    folders = [p for s in splits for p in s.image_named_folders]
    if folders:
        add("warning", "folders named like images (training ignores them)", (_rel(root, p) + "/" for p in folders))
    others = [p for s in splits for p in s.other_files]
    if others:
        add("warning", "files without an image extension (training ignores them)", (_rel(root, p) for p in others))
    good = [c for c in everything if c.ok]
    aligned = kind == "aligned"
    small = [c for c in good if min(c.size[0] // 2 if aligned else c.size[0], c.size[1]) < crop_size]
    if small:
        what = "A|B images whose halves are" if aligned else "images"
        add("warning", f"{what} smaller than --crop-size {crop_size} (training scales them up, so they look blurred)",
            (f"{_rel(root, c.path)}: {c.size[0]}x{c.size[1]}" for c in small))
    if aligned:
        odd = [c for c in good if c.size[0] % 2]
        if odd:
            add("warning", "A|B images of odd width (the halves are not the same size; one column is lost)",
                (f"{_rel(root, c.path)}: {c.size[0]}x{c.size[1]}" for c in odd))
    if duplicates:
        add("warning", "files with identical content",
            (" = ".join(_rel(root, p) for p in group) for group in duplicates))
    converted = [c for c in good if conversion_note(c)]
    if converted:
        add("note", "readable images that training converts", (f"{_rel(root, c.path)}: {conversion_note(c)}"
                                                              for c in converted))
    order = ("error", "warning", "note")
    return sorted(problems, key=lambda p: order.index(p.level))


def format_report(report: InspectReport, limit: int = 20) -> list[str]:
    """The report as text lines; each list of files is cut at `limit` lines (0 = no limit).

    Args:
        report: what `inspect_dataset` found.
        limit: the most files listed under each problem; 0 lists all.

    Returns:
        The lines, without newlines.
    """
    lines = [f"{report.root} ({report.kind}{' dataset' if report.kind != 'folder' else ' of images'})"]
    lines.append(f"  {'split':<8} {'images':>7} {'unreadable':>10} {'ignored':>8}")
    for s in report.splits:
        ignored = len(s.other_files) + len(s.image_named_folders)
        state = "" if s.folder.is_dir() else "  (missing)"
        lines.append(f"  {s.name:<8} {len(s.readable):>7} {len(s.unreadable):>10} {ignored:>8}{state}")
    sizes = report.sizes.most_common()
    shown = ", ".join(f"{w}x{h}: {n}" for (w, h), n in sizes[:6])
    lines.append(f"sizes (WxH): {shown or 'none'}" + (f", and {len(sizes) - 6} other sizes" if len(sizes) > 6 else ""))
    lines.append("modes: " + (", ".join(f"{m}: {n}" for m, n in report.modes.most_common()) or "none"))
    lines += [f"  {s.name:<8} {s.values.text()}" for s in report.splits if s.values is not None]
    for p in report.problems:
        lines.append(f"{p.level}: {p.message}" + (f" ({len(p.items)})" if p.items else ""))
        cut = p.items if not limit else p.items[:limit]
        lines += [f"    {item}" for item in cut]
        if len(cut) < len(p.items):
            lines.append(f"    ... and {len(p.items) - len(cut)} more (--limit 0 lists all)")
    n_err, n_warn = len(report.errors), len(report.warnings)
    lines.append(f"{n_err} error(s), {n_warn} warning(s)" if report.problems else "no problems found")
    return lines


# ---------------------------------------------------------------------------------------------------------------
# combine


@dataclass
class CombineResult:
    written: list[Path] = field(default_factory=list)
    only_a: list[str] = field(default_factory=list)  # names (split/stem) found in A only
    only_b: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)  # stems with several files in one folder (skipped)
    failed: list[str] = field(default_factory=list)  # "path: reason" of images that could not be read


OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def _by_stem(folder: Path) -> tuple[dict[str, Path], list[str]]:
    files: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and is_image_name(path):
            files.setdefault(path.stem, []).append(path)
    return {stem: paths[0] for stem, paths in files.items() if len(paths) == 1}, \
        [stem for stem, paths in files.items() if len(paths) > 1]


def _check_distinct(inputs: list[Path], out: Path, what: str) -> None:
    out = out.resolve()
    for folder in inputs:
        folder = folder.resolve()
        if out == folder or out.is_relative_to(folder) or folder.is_relative_to(out):
            raise UserError(f"{what} {out} must be outside the input folder {folder}")


def _pair_folders(a: Path, b: Path) -> list[tuple[str, Path, Path]]:
    """(split, A folder, B folder): the two folders, or their common subfolders (train/ val/ test/)."""
    for folder in (a, b):
        if not folder.is_dir():
            raise UserError(f"folder not found: {folder}")
    if any(is_image_name(p) and p.is_file() for p in a.iterdir()):
        return [("", a, b)]
    common = sorted(p.name for p in a.iterdir() if p.is_dir() and (b / p.name).is_dir())
    if not common:
        raise UserError(f"no images in {a}, and no subfolders (train/ val/ test/) that {b} has too")
    return [(name, a / name, b / name) for name in common]


def combine(a: Path | str, b: Path | str, out: Path | str, overwrite: bool = False,
            on_item: OnItem = None) -> CombineResult:
    """Write out/NAME = A/NAME | B/NAME side by side (B resized to A's size) for every stem in both folders.

    If A and B hold subfolders instead of images (train/ val/ test/), each common one is combined into the
    same subfolder of `out`, as the reference's combine_A_and_B.py does.

    Args:
        a: the folder of A images (the left halves).
        b: the folder of B images, matched to A's by file name without extension.
        out: the output folder; must be outside `a` and `b`. PNG and JPEG keep A's extension, others become PNG.
        overwrite: replace existing output files; otherwise any existing one is a `UserError` before any work.
        on_item: called with (done, total) after each pair; None for nothing.

    Returns:
        The files written, the names found in only one folder, the ambiguous stems and the failures.
    """
    a, b, out = Path(a), Path(b), Path(out)
    _check_distinct([a, b], out, "--out")
    result = CombineResult()
    jobs = []
    for split, folder_a, folder_b in _pair_folders(a, b):
        files_a, ambiguous_a = _by_stem(folder_a)
        files_b, ambiguous_b = _by_stem(folder_b)
        prefix = f"{split}/" if split else ""
        ambiguous = set(ambiguous_a) | set(ambiguous_b)
        result.only_a += [prefix + s for s in sorted(files_a.keys() - files_b.keys() - ambiguous)]
        result.only_b += [prefix + s for s in sorted(files_b.keys() - files_a.keys() - ambiguous)]
        result.ambiguous += [prefix + s for s in sorted(ambiguous)]
        for stem in sorted(files_a.keys() & files_b.keys() - ambiguous):
            suffix = files_a[stem].suffix.lower()
            target = out / split / (stem + (suffix if suffix in OUTPUT_FORMATS else ".png"))
            jobs.append((files_a[stem], files_b[stem], target))
    if not jobs:
        raise UserError(f"no file names match between {a} and {b} (pairs are matched by name without extension): "
                        f"only in A: {', '.join(result.only_a[:3]) or 'none'}; "
                        f"only in B: {', '.join(result.only_b[:3]) or 'none'}")
    _check_overwrite([target for _, _, target in jobs], out, overwrite)
    for target, error in _parallel(_combine_pair, jobs, on_item):
        if error:
            result.failed.append(error)
        else:
            result.written.append(target)
    return result


def _check_overwrite(targets: list[Path], out: Path, overwrite: bool) -> None:
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise UserError(f"{out} already holds {len(existing)} of the output files (e.g. {existing[0].name}): "
                        "add --overwrite to replace them")


def _combine_pair(job: tuple[Path, Path, Path]) -> tuple[Path, str]:
    path_a, path_b, target = job
    try:
        image_a = Image.fromarray(load_image(path_a, 3))
    except Exception as error:  # reported per file, the others go on
        return target, f"{path_a}: {check_image(path_a).error or error}"
    try:
        image_b = Image.fromarray(load_image(path_b, 3))
    except Exception as error:
        return target, f"{path_b}: {check_image(path_b).error or error}"
    if image_b.size != image_a.size:
        image_b = image_b.resize(image_a.size, Image.BICUBIC)
    pair = Image.new("RGB", (image_a.width * 2, image_a.height))
    pair.paste(image_a, (0, 0))
    pair.paste(image_b, (image_a.width, 0))
    save_atomic(pair, target)
    return target, ""


def save_atomic(image: Image.Image, target: Path) -> None:
    """Save in the format of `target`'s extension so that an interrupted run never leaves a half-written image
    under the final name.

    Args:
        image: the image; converted to RGB for JPEG when its mode is neither RGB nor L.
        target: the file to write, in the format its extension names (PNG if Pillow knows none); JPEG at quality 95.
    """
    fmt = Image.registered_extensions().get(target.suffix.lower(), "PNG")
    options = {"quality": 95} if fmt == "JPEG" else {}
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    write_atomic(target, lambda f: image.save(f, format=fmt, **options))


# ---------------------------------------------------------------------------------------------------------------
# resize


@dataclass
class ResizeResult:
    written: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "path: reason"
    skipped: list[Path] = field(default_factory=list)  # files without an image extension (not copied)


RESIZE_MODES = ("cover", "fit")


def resized(image: Image.Image, size: int, mode: str = "cover") -> Image.Image:
    """cover: scale so the image covers size x size, then centre-crop; fit: scale to fit inside, keep aspect.

    Args:
        image: the image to resize (bicubic).
        size: the side of the square, in pixels.
        mode: "cover" or "fit"; anything else is a `UserError`.

    Returns:
        A new image: size x size for cover, at most that for fit.
    """
    if mode == "cover":
        return ImageOps.fit(image, (size, size), Image.BICUBIC, centering=(0.5, 0.5))
    if mode == "fit":
        return ImageOps.contain(image, (size, size), Image.BICUBIC)
    raise UserError(f"unknown resize mode {mode!r}: one of {', '.join(RESIZE_MODES)}")


def resized_bands(values: np.ndarray, size: int, mode: str = "cover") -> np.ndarray:
    """`resized` of a scientific image (H, W, bands) of any data type: each band resized as a float image
    (bicubic), rounded and clipped back to an integer type, so 16-bit levels stay 16-bit."""
    bands = [resized(Image.fromarray(values[..., i].astype(np.float32), "F"), size, mode)
             for i in range(values.shape[-1])]
    out = np.stack([np.asarray(band) for band in bands], axis=-1)
    if values.dtype.kind in "ui":
        info = np.iinfo(values.dtype)
        out = np.clip(np.round(out), info.min, info.max)
    return out.astype(values.dtype)


def resize_plan(src: Path | str, dst: Path | str) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """(source, target) of every image below `src` (names and subfolders kept), and the other files.

    Args:
        src: a folder (searched recursively, hidden files left out), or a single image file.
        dst: the output folder; must be outside `src`.

    Returns:
        ([(image under `src`, its path under `dst`)], [the non-image files]); a `UserError` if there is no image.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        if src.is_file() and is_image_name(src):
            return [(src, dst / src.name)], []
        raise UserError(f"folder not found: {src}")
    _check_distinct([src], dst, "DST")
    files = sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith("."))
    images = [(p, dst / p.relative_to(src)) for p in files if is_image_name(p)]
    if not images:
        list_images(src)  # raises the usual "no images (...) in SRC"
    return images, [p for p in files if not is_image_name(p)]


def resize_images(src: Path | str, dst: Path | str, size: int, mode: str = "cover", overwrite: bool = False,
                  on_item: OnItem = None) -> ResizeResult:
    """A copy of every image below `src` at `dst`, same relative names, resized by `mode` to `size`.

    Args:
        src: a folder (searched recursively), or a single image file.
        dst: the output folder; must be outside `src`.
        size: the side of the square, in pixels; at least 1.
        mode: "cover" (fill and centre-crop) or "fit" (fit inside, keep the aspect ratio).
        overwrite: replace existing output files; otherwise any existing one is a `UserError` before any work.
        on_item: called with (done, total) after each image; None for nothing.

    Returns:
        The files written, the failures ("path: reason") and the non-image files skipped.
    """
    if size < 1:
        raise UserError("--size must be at least 1")
    resized(Image.new("L", (1, 1)), 1, mode)  # an unknown mode fails before any work
    jobs, others = resize_plan(src, dst)
    _check_overwrite([t for _, t in jobs], Path(dst), overwrite)
    result = ResizeResult(skipped=others)
    for target, error in _parallel(lambda job: _resize_one(job, size, mode), jobs, on_item):
        if error:
            result.failed.append(error)
        else:
            result.written.append(target)
    return result


def _resize_one(job: tuple[Path, Path], size: int, mode: str) -> tuple[Path, str]:
    source, target = job
    check = check_image(source)
    if not check.ok:
        return target, f"{source}: {check.error}"
    if check.bands is not None or source.suffix.lower() == ".npy" or describe(source).depth != "8":
        # 16-bit, float or N-band: each band resized in float and stored at its own depth, in its own format
        values = read_bands(source)
        write_atomic(target, encode_file(resized_bands(values, size, mode), target.suffix.lower()
                                         if target.suffix.lower() in (".npy", *TIFF_SUFFIXES) else ".png"))
        return target, ""
    channels = channels_of(check.mode)
    array = load_image(source, channels)
    image = Image.fromarray(array[..., 0] if channels == 1 else array)
    save_atomic(resized(image, size, mode), target)
    return target, ""
