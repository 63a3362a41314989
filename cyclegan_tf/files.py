"""Files: written so that a reader, or a process killed half-way, never sees a partial one; their checksums; and
the user's cache folder where datasets and pretrained models are kept.

Every file the toolkit writes while others may read it (checkpoints, `LATEST`, logs, the gallery, images)
goes through `write_atomic`: the bytes go to a hidden temporary file in the same folder, are flushed to
disk, and the file is renamed over the target (a rename within a folder is atomic on POSIX).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomic(path: Path | str, content: bytes | Callable[[BinaryIO], object]) -> Path:
    """Write `content` (bytes, or a function that writes to a binary file) to `path` atomically.

    Args:
        path: the file to create or replace; its folder is created if needed.
        content: the bytes, or a callable given the open temporary file.

    Returns:
        `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            if isinstance(content, bytes):
                f.write(content)
            else:
                content(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: Path | str, text: str) -> Path:
    """`write_atomic` for text (UTF-8).

    Args:
        path: the file to create or replace; its folder is created if needed.
        text: the content, written encoded as UTF-8.

    Returns:
        `path`, as a `Path`.
    """
    return write_atomic(path, text.encode())


def fsync_dir(path: Path | str) -> None:
    """Flush a folder's entries (new and renamed files) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_of(path: Path | str) -> str:
    """The SHA-256 (hex) of a file's bytes, or of a folder's files' bytes in the order of their sorted paths."""
    path = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
        with open(file, "rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def cache_dir(env: str, leaf: str) -> Path:
    """$`env` if set, else $XDG_CACHE_HOME/cyclegan-tf/`leaf` (~/.cache by default)."""
    if os.environ.get(env):
        return Path(os.environ[env])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cyclegan-tf" / leaf
