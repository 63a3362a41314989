"""The reference's pretrained generators by name: downloaded once, imported into a run directory, cached.

Each name is one generator `.pth` on the reference's server (its `scripts/download_cyclegan_model.sh` and
`scripts/download_pix2pix_model.sh`): the CycleGAN ones are ResNet-9 generators with instance norm, the pix2pix
ones U-Net-256 generators with batch norm. `pretrained_run(NAME)` downloads the file (resumable, through the
datasets' mirror setting), imports it (`importer.import_torch`, architecture read from the file) into
`<models dir>/<NAME>/`, a run directory that `translate`, `evaluate` and `export` take, and deletes the `.pth`.

The models dir is `$CYCLEGAN_TF_MODELS`, or `~/.cache/cyclegan-tf/models` (under `$XDG_CACHE_HOME` if set).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cyclegan_tf.data.download import DownloadError, fetch
from cyclegan_tf.data.registry import DEFAULT_MIRROR, MIRROR_ENV
from cyclegan_tf.errors import UserError
from cyclegan_tf.files import cache_dir

MODELS_ENV = "CYCLEGAN_TF_MODELS"


@dataclass(frozen=True)
class PretrainedModel:
    """One of the reference's published generators."""

    name: str
    model: str  # "cycle_gan" or "pix2pix": how the generator was trained
    translates: str  # what into what, for people
    dataset: str | None  # the dataset it was trained on (its test split is what `evaluate` scores)
    direction: str  # the direction of that dataset it translates
    size_mb: float  # the .pth file
    in_script: bool = True  # listed by the reference's download script (False: same server, not in the script)

    @property
    def net_g(self) -> str:
        return "resnet_9blocks" if self.model == "cycle_gan" else "unet_256"

    def url(self, mirror: str | None = None) -> str:
        """The file's URL; `mirror` (or $CYCLEGAN_TF_MIRROR) replaces http://efrosgans.eecs.berkeley.edu."""
        base = (mirror or os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR).rstrip("/")
        if self.model == "cycle_gan":
            return f"{base}/cyclegan/pretrained_models/{self.name}.pth"
        return f"{base}/pix2pix/models-pytorch/{self.name.removeprefix('pix2pix_')}.pth"  # our prefix, not theirs


def _registry() -> dict[str, PretrainedModel]:
    resnet_mb, unet_mb = 45.5, 217.7  # 11,378,179 and 54,413,955 float32 parameters (+ batch norm statistics)
    cyclegan = [  # name, what into what, dataset, direction
        ("apple2orange", "apple -> orange", "apple2orange", "AtoB"),
        ("orange2apple", "orange -> apple", "apple2orange", "BtoA"),
        ("summer2winter_yosemite", "summer -> winter", "summer2winter_yosemite", "AtoB"),
        ("winter2summer_yosemite", "winter -> summer", "summer2winter_yosemite", "BtoA"),
        ("horse2zebra", "horse -> zebra", "horse2zebra", "AtoB"),
        ("zebra2horse", "zebra -> horse", "horse2zebra", "BtoA"),
        ("monet2photo", "Monet painting -> photo", "monet2photo", "AtoB"),
        ("style_monet", "photo -> Monet painting", "monet2photo", "BtoA"),
        ("style_cezanne", "photo -> Cezanne painting", "cezanne2photo", "BtoA"),
        ("style_ukiyoe", "photo -> ukiyo-e print", "ukiyoe2photo", "BtoA"),
        ("style_vangogh", "photo -> Van Gogh painting", "vangogh2photo", "BtoA"),
        ("sat2map", "aerial photo -> map", "maps", "AtoB"),
        ("map2sat", "map -> aerial photo", "maps", "BtoA"),
        ("cityscapes_photo2label", "street photo -> label map", None, "AtoB"),
        ("cityscapes_label2photo", "label map -> street photo", None, "AtoB"),
        ("facades_photo2label", "facade photo -> label map", None, "AtoB"),
        ("facades_label2photo", "label map -> facade photo", None, "AtoB"),
        ("iphone2dslr_flower", "phone photo -> DSLR depth of field", "iphone2dslr_flower", "AtoB"),
    ]
    pix2pix = [  # name, what into what, dataset (pix2pix's A|B sets), direction, in the reference's script
        ("facades_label2photo", "label map -> facade photo", "facades", "BtoA", True),
        ("sat2map", "aerial photo -> map", "maps", "AtoB", True),
        ("map2sat", "map -> aerial photo", "maps", "BtoA", True),
        ("edges2shoes", "edge drawing -> shoe photo", "edges2shoes", "AtoB", True),
        ("edges2handbags", "edge drawing -> handbag photo", "edges2handbags", "AtoB", False),
        ("day2night", "day photo -> night photo", "night2day", "BtoA", True),
        ("cityscapes_label2photo", "label map -> street photo", None, "BtoA", False),
        ("cityscapes_photo2label", "street photo -> label map", None, "AtoB", False),
    ]
    models = [PretrainedModel(n, "cycle_gan", t, d, r, resnet_mb) for n, t, d, r in cyclegan]
    models += [PretrainedModel(f"pix2pix_{n}", "pix2pix", t, d, r, unet_mb, s) for n, t, d, r, s in pix2pix]
    return {m.name: m for m in models}


PRETRAINED: dict[str, PretrainedModel] = _registry()


def models_dir(models: str | Path | None = None) -> Path:
    """Where pretrained runs are kept: `models`, $CYCLEGAN_TF_MODELS, or ~/.cache/cyclegan-tf/models."""
    return Path(models or cache_dir(MODELS_ENV, "models")).expanduser()


def lookup(name: str) -> PretrainedModel:
    """The registry entry of `name`, or a `UserError` that lists the names."""
    if name not in PRETRAINED:
        raise UserError(f"no pretrained model {name!r}: one of {', '.join(PRETRAINED)} "
                        "(`cyclegan-tf pretrained list`)")
    return PRETRAINED[name]


def is_cached(name: str, models: str | Path | None = None) -> bool:
    """Whether `name` was downloaded and imported (the import writes the run's config.json last)."""
    return (models_dir(models) / name / "config.json").is_file()


def pretrained_run(name: str, models: str | Path | None = None, mirror: str | None = None,
                   progress: bool | None = None, timeout: float = 30.0) -> Path:
    """The run directory of pretrained model `name`, downloaded and imported on first use.

    Args:
        name: a name of `PRETRAINED` (`pretrained list`).
        models: the models dir (default: `models_dir()`).
        mirror: replaces http://efrosgans.eecs.berkeley.edu in the URL (default: $CYCLEGAN_TF_MIRROR).
        progress: a progress bar on stderr; None: when stderr is a terminal.
        timeout: seconds to wait for the server.

    Returns:
        `<models dir>/<name>`, a one-generator run directory.
    """
    from cyclegan_tf.interop.importer import import_torch  # TensorFlow: only when a model is made

    model = lookup(name)
    root = models_dir(models)
    run_dir = root / name
    if is_cached(name, root):
        return run_dir
    if run_dir.exists():  # an import that was killed half-way: nothing in it is worth keeping
        shutil.rmtree(run_dir)
    download = root / ".downloads" / f"{name}.pth"
    url = model.url(mirror)
    try:
        fetch(url, download, timeout=timeout, progress=progress)
    except DownloadError as error:
        unlisted = "" if model.in_script else " (this name is not in the reference's download script)"
        raise DownloadError(f"{error}{unlisted}; or download the file by hand and run `cyclegan-tf import-torch "
                            f"FILE --name {name}`") from None
    import_torch([download], name, root, direction=model.direction, dataset=model.dataset, model=model.model,
                 source=url)
    download.unlink()
    return run_dir
