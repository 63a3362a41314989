"""`cyclegan-tf pretrained ...`: the reference's published generators by name."""

from __future__ import annotations

import click

from cyclegan_tf.cli.common import CONTEXT, DOWNLOAD_TIMEOUT, MIRROR, MODELS_DIR


@click.group(context_settings=CONTEXT)
def pretrained() -> None:
    """The reference's pretrained generators: 18 CycleGAN ones (ResNet-9) and its pix2pix ones (U-Net-256).

    Each is downloaded once into the models dir and imported into a run directory there, which
    `translate`, `evaluate` and `export` take with --pretrained NAME (downloading on first use).

    \b
    Examples:
      cyclegan-tf pretrained list
      cyclegan-tf pretrained download horse2zebra style_monet
      cyclegan-tf translate horse.jpg --pretrained horse2zebra -o out/
    """


@pretrained.command("list", context_settings=CONTEXT)
@MODELS_DIR
def pretrained_list(models) -> None:
    """Every name: model, what it translates (the direction of its dataset), network, size, source and
    whether it is downloaded.

    \b
    Examples:
      cyclegan-tf pretrained list
      cyclegan-tf pretrained list --models-dir /mnt/models
    """
    from cyclegan_tf.interop.pretrained import PRETRAINED, is_cached, models_dir

    click.echo(f"models dir: {models_dir(models)}")
    rows = [("name", "model", "translates", "netG", "size", "status", "source")]
    for m in PRETRAINED.values():
        what = f"{m.translates} ({m.dataset} {m.direction})" if m.dataset else m.translates
        source = m.url() + ("" if m.in_script else " (not in the reference's script)")
        rows.append((m.name, m.model, what, m.net_g, f"{m.size_mb:.0f} MB", "cached" if is_cached(m.name, models)
                     else "-", source))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1])


@pretrained.command("download", context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@MODELS_DIR
@MIRROR
@DOWNLOAD_TIMEOUT
def pretrained_download(names, models, mirror, timeout) -> None:
    """Download pretrained generators by name and import each into a run directory (a cached one makes no
    request). An interrupted download resumes when the command runs again.

    \b
    Examples:
      cyclegan-tf pretrained download horse2zebra
      cyclegan-tf pretrained download pix2pix_facades_label2photo --models-dir ~/models
    """
    from cyclegan_tf.interop.pretrained import lookup
    from cyclegan_tf.startup import import_tensorflow_quietly

    for name in names:
        lookup(name)  # every name checked before the first download
    import_tensorflow_quietly()
    from cyclegan_tf.interop.pretrained import pretrained_run

    for name in names:
        click.echo(pretrained_run(name, models, mirror, timeout=timeout))
