"""Writing a generated image set (the embedded `demo`, `labels2photo_demo` and `colorization_demo`): every set
is drawn split by split from seeded generators into a staging folder beside its own, then moved into place with
its README.txt last, so that an interrupted write leaves no half-written set and the README means complete."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

README = "README.txt"

# draw(split, rng) -> {subfolder: one image}: one example of a split, in each folder it is written to
Draw = Callable[[str, np.random.Generator], dict[str, np.ndarray]]


def write_image_set(folder: Path, counts: dict[str, int], draw: Draw, seed: int, readme: str) -> Path:
    """Write `counts[split]` examples of each split as `<subfolder>/0000.png`, ... under `folder`.

    Args:
        folder: the set's folder; the subfolders written replace those of the same names.
        counts: {split: examples}; each split draws from its own generator, seeded by (`seed`, its index).
        draw: makes one example of a split: {subfolder: uint8 image}.
        seed: the same seed writes the same images.
        readme: the text of README.txt, written last.

    Returns:
        `folder`, as a `Path`.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    for offset, (split, count) in enumerate(counts.items()):
        rng = np.random.default_rng([seed, offset])
        for i in range(count):
            for subfolder, image in draw(split, rng).items():
                (staging / subfolder).mkdir(exist_ok=True)
                Image.fromarray(image).save(staging / subfolder / f"{i:04d}.png")
    (staging / README).write_text(readme)
    _publish(staging, folder)
    return folder


def is_written(folder: Path, subfolders: tuple[str, ...]) -> bool:
    """Whether `write_image_set` finished `folder`: its README.txt and these subfolders are there."""
    folder = Path(folder)
    return (folder / README).is_file() and all((folder / name).is_dir() for name in subfolders)


def _publish(staging: Path, folder: Path) -> None:
    """Move a finished staging folder to `folder`: one rename when `folder` is new, else entry by entry
    (replacing those of the same names) with the README last."""
    try:
        os.rename(staging, folder)
        return
    except OSError:  # `folder` exists (and is not empty)
        pass
    for entry in sorted(staging.iterdir(), key=lambda path: path.name == README):
        target = folder / entry.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(entry, target)
    staging.rmdir()
