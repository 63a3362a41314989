"""What every command module shares: click settings and help texts."""

from __future__ import annotations

import click

CONTEXT = dict(help_option_names=["-h", "--help"], max_content_width=110)
DATA_DIR_HELP = "Where named datasets live [default: $CYCLEGAN_TF_DATA or ~/.cache/cyclegan-tf/datasets]."
CHECKPOINTS_DIR = click.option("--checkpoints-dir", "--checkpoints_dir", "checkpoints_dir", default="./checkpoints",
                               show_default=True, help="Where run directories are kept.")
