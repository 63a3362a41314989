"""What every command module shares: click settings and help texts."""

from __future__ import annotations

import sys

import click

CONTEXT = dict(help_option_names=["-h", "--help"], max_content_width=110)
DATA_DIR_HELP = "Where named datasets live [default: $CYCLEGAN_TF_DATA or ~/.cache/cyclegan-tf/datasets]."
CHECKPOINTS_DIR = click.option("--checkpoints-dir", "--checkpoints_dir", "checkpoints_dir", default="./checkpoints",
                               show_default=True, help="Where run directories are kept.")
STRICT_FILES = click.option("--strict", is_flag=True,
                            help="Stop at the first unreadable image [default: warn, skip it, go on, exit 1 at the "
                                 "end].")
MAX_PIXELS = click.option("--max-pixels", "--max_pixels", "max_pixels", type=click.IntRange(min=0),
                          help="Refuse images with more pixels than this (decompression bombs) [default: 100000000; "
                               "0: no limit].")


def finish_batch(skipped) -> None:
    """After a batch job: the summary of the files it skipped, on stderr, and exit status 1 if there were any."""
    if skipped.files:
        click.echo(skipped.summary(), err=True)
        sys.exit(1)
