"""The pixel limit every reader checks before decoding (`--max-pixels`): Pillow images (`data.images`) and
TIFF / `.npy` bands (`data.scientific`) alike. TF-free."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from cyclegan_tf.errors import UserError

# Pillow's own decompression-bomb check is replaced by ours (`check_pixels`), whose limit a user can raise.
Image.MAX_IMAGE_PIXELS = None
DEFAULT_MAX_PIXELS = 100_000_000  # 10,000 x 10,000: larger images are refused unless --max-pixels says otherwise


class ImageTooLarge(UserError):
    """An image above the pixel limit: a decompression bomb, or larger than the user allowed."""


def check_pixels(path: Path | str, width: int, height: int, max_pixels: int | None) -> None:
    """An `ImageTooLarge` when a file's header announces more than `max_pixels` pixels (None: the default; 0:
    no limit)."""
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    if limit and width * height > limit:
        raise ImageTooLarge(f"{path}: {width} x {height} = {width * height / 1e6:,.0f} megapixels, more than "
                            f"--max-pixels {limit:,} (a decompression bomb, or raise --max-pixels)")
