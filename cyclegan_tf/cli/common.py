"""What every command module shares: click settings and help texts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cyclegan_tf.startup import import_tensorflow_quietly

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


MODELS_DIR = click.option("--models-dir", "models", type=click.Path(file_okay=False),
                          help="Where pretrained models are kept [default: $CYCLEGAN_TF_MODELS or "
                               "~/.cache/cyclegan-tf/models].")
# the download options of `datasets download` and `pretrained download`
MIRROR = click.option("--mirror", "--base-url", "mirror", metavar="URL",
                      help="Download from URL instead of http://efrosgans.eecs.berkeley.edu (same paths below it; "
                           "file:///dir works too) [default: $CYCLEGAN_TF_MIRROR].")
DOWNLOAD_TIMEOUT = click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
                                help="Seconds to wait for the server before giving up.")
PRETRAINED = click.option("--pretrained", metavar="NAME",
                          help="A pretrained model of the reference by name (`cyclegan-tf pretrained list`), "
                               "downloaded on first use.")


def run_source(name: str | None, checkpoints_dir: str, pretrained: str | None = None, checkpoint: str | None = None,
               takes_checkpoint: bool = False) -> Path:
    """The run (or checkpoint) directory a command reads: exactly one of --name, --pretrained (and --checkpoint
    for a command that `takes_checkpoint`)."""
    if sum(value is not None for value in (name, pretrained, checkpoint)) != 1:
        choices = "--name RUN, --pretrained NAME or --checkpoint DIR" if takes_checkpoint else \
            "--name RUN or --pretrained NAME"
        raise click.UsageError(f"give exactly one of {choices}")
    if pretrained:
        import_tensorflow_quietly()
        from cyclegan_tf.interop.pretrained import pretrained_run

        return pretrained_run(pretrained)
    return Path(checkpoint) if checkpoint else Path(checkpoints_dir) / name
