"""Datasets by name: the reference's registry, where each lives, and downloading on first use.

`demo`, `labels2photo_demo` and `colorization_demo` are generated on first use (`data.demo`, `data.labels2photo`,
`data.colorization_demo`). The reference's CycleGAN and pix2pix datasets are downloaded on first use into the data dir
($CYCLEGAN_TF_DATA, else ~/.cache/cyclegan-tf/datasets, or `--data-dir`); any other name is read from
`<data dir>/<name>`. Three names exist both as a CycleGAN (unpaired) and a pix2pix (aligned) dataset:
facades, maps and cityscapes. They are told apart by `kind` and kept apart on disk:

    <data dir>/NAME            unpaired (CycleGAN): trainA/ trainB/ testA/ testB/
    <data dir>/pix2pix/NAME    aligned (pix2pix): train/ val/ test/ of A|B side-by-side images

(mini_pix2pix and mini_colorization come from the CycleGAN server and sit at `<data dir>/NAME`.)
`datasets.sh` and the `cyclegan-tf datasets` commands read this registry; it is the only list of names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cyclegan_tf.choices import DATASET_KINDS
from cyclegan_tf.config import TrainConfig
from cyclegan_tf.data import colorization_demo, demo, labels2photo
from cyclegan_tf.data.download import ArchiveError, DownloadError, extract_archive, fetch, part_path
from cyclegan_tf.data.synthetic import is_written
from cyclegan_tf.errors import UserError
from cyclegan_tf.files import cache_dir
from cyclegan_tf.models.registry import model_class

DEMO = demo.NAME
DEFAULT_MIRROR = "http://efrosgans.eecs.berkeley.edu"
MIRROR_ENV = "CYCLEGAN_TF_MIRROR"  # replaces DEFAULT_MIRROR in every URL
KINDS = DATASET_KINDS
LAYOUTS = {  # the folder a complete dataset of each kind has, and how to describe its layout
    "unpaired": ("trainA", "trainA/ trainB/ testA/ testB/ folders"),
    "aligned": ("train", "train/ val/ test/ folders of A|B side-by-side images"),
    "single": ("train", "train/ test/ folders (one image per file)"),
}
DOWNLOADS = ".downloads"  # archives (and their .part files) inside the data dir

@dataclass(frozen=True)
class DatasetInfo:
    """One downloadable dataset of the reference."""

    name: str
    kind: str  # "unpaired" (CycleGAN), "aligned" (pix2pix A|B), "single" (colorization)
    source: str  # "cyclegan" (zip) or "pix2pix" (tar.gz): the reference's two download scripts
    size_mb: int  # approximate archive size
    manual: bool = False  # licence: cannot be downloaded automatically (cityscapes)

    @property
    def key(self) -> str:
        """Unique id and folder below the data dir: NAME, or pix2pix/NAME for the pix2pix downloads."""
        return f"pix2pix/{self.name}" if self.source == "pix2pix" else self.name

    @property
    def archive_name(self) -> str:
        return self.name + (".tar.gz" if self.source == "pix2pix" else ".zip")

    def url(self, mirror: str | None = None) -> str:
        """The archive's URL; `mirror` (or $CYCLEGAN_TF_MIRROR) replaces http://efrosgans.eecs.berkeley.edu."""
        base = (mirror or os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR).rstrip("/")
        return f"{base}/{self.source}/datasets/{self.archive_name}"


def _registry() -> dict[str, DatasetInfo]:
    cyclegan = [  # name, kind, approximate MB
        ("ae_photos", "unpaired", 10), ("apple2orange", "unpaired", 78), ("summer2winter_yosemite", "unpaired", 133),
        ("horse2zebra", "unpaired", 117), ("monet2photo", "unpaired", 305), ("cezanne2photo", "unpaired", 280),
        ("ukiyoe2photo", "unpaired", 293), ("vangogh2photo", "unpaired", 307), ("maps", "unpaired", 1480),
        ("cityscapes", "unpaired", 0), ("facades", "unpaired", 35), ("iphone2dslr_flower", "unpaired", 340),
        ("mini", "unpaired", 1), ("mini_pix2pix", "aligned", 1), ("mini_colorization", "single", 1),
    ]
    pix2pix = [("facades", 30), ("cityscapes", 0), ("maps", 250), ("edges2shoes", 2170),
               ("edges2handbags", 8600), ("night2day", 1950)]
    infos = [DatasetInfo(n, k, "cyclegan", mb, manual=n == "cityscapes") for n, k, mb in cyclegan]
    infos += [DatasetInfo(n, "aligned", "pix2pix", mb, manual=n == "cityscapes") for n, mb in pix2pix]
    return {info.key: info for info in infos}


REGISTRY: dict[str, DatasetInfo] = _registry()  # by key: NAME, or pix2pix/NAME for the pix2pix server's


def lookup(name: str, kind: str | None = None) -> DatasetInfo | None:
    """The registry entry for `name` ("facades" or "pix2pix/facades") of `kind` (None: any, unpaired first).

    Args:
        name: a registry name; "pix2pix/NAME" names the pix2pix server's entry exactly.
        kind: "unpaired", "aligned" or "single", or None for any; an unknown kind is a `UserError`.

    Returns:
        The entry, or None when the registry has no such name of that kind.
    """
    if kind is not None and kind not in KINDS:
        raise UserError(f"unknown dataset kind {kind!r}: one of {', '.join(KINDS)}")
    if name in REGISTRY and REGISTRY[name].name != name:  # "pix2pix/NAME" names one entry exactly
        info = REGISTRY[name]
        return info if kind in (None, info.kind) else None
    candidates = [info for info in REGISTRY.values() if info.name == name and kind in (None, info.kind)]
    candidates.sort(key=lambda info: KINDS.index(info.kind))
    return candidates[0] if candidates else None


def default_data_dir() -> Path:
    """$CYCLEGAN_TF_DATA, else $XDG_CACHE_HOME/cyclegan-tf/datasets (~/.cache by default)."""
    return cache_dir("CYCLEGAN_TF_DATA", "datasets")


def data_root(data_dir: str | Path | None = None) -> Path:
    """The data dir: `data_dir` if given, else `default_data_dir()`."""
    return Path(data_dir).expanduser() if data_dir else default_data_dir()


def dataset_folder(name: str, data_dir: str | Path | None = None, kind: str | None = "unpaired") -> Path:
    """Where dataset `name` of `kind` lives (downloaded or placed by hand), whether or not it is there yet.

    Args:
        name: a dataset name, registered or not.
        data_dir: the data dir; None: $CYCLEGAN_TF_DATA, else the cache folder (`default_data_dir`).
        kind: "unpaired", "aligned" (kept under `pix2pix/`) or "single"; None: the name's own, unpaired first.

    Returns:
        `<data dir>/NAME`, or `<data dir>/pix2pix/NAME` for aligned datasets.
    """
    info = lookup(name, kind)
    if info is not None:
        return data_root(data_dir) / info.key
    if kind == "aligned" and not name.startswith("pix2pix/"):
        return data_root(data_dir) / "pix2pix" / name
    return data_root(data_dir) / name


def archive_path(info: DatasetInfo, data_dir: str | Path | None = None) -> Path:
    """Where the archive is downloaded to (and deleted from after extraction, unless kept).

    Args:
        info: the registry entry.
        data_dir: the data dir; None: the default (`default_data_dir`).

    Returns:
        `<data dir>/.downloads/<archive name>`.
    """
    return data_root(data_dir) / DOWNLOADS / info.archive_name


def is_complete(folder: Path, kind: str) -> bool:
    """A dataset folder is usable once its first split exists (downloads appear there by one rename).

    Args:
        folder: the dataset's folder.
        kind: "unpaired" (needs trainA/), "aligned" or "single" (need train/).

    Returns:
        Whether that first split folder exists.
    """
    return (folder / LAYOUTS[kind][0]).is_dir()


def manual_steps(info: DatasetInfo, folder: Path) -> str:
    """Cityscapes' licence forbids redistribution: how to make the dataset by hand, as the reference says.

    Args:
        info: the registry entry of a dataset that cannot be downloaded automatically.
        folder: where the prepared dataset must be put.

    Returns:
        The instructions, as one message.
    """
    if info.kind == "aligned":
        result = f"put its train/ and val/ folders (A|B images) in {folder}"
    else:
        result = f"put trainA/ trainB/ in {folder} and rename valA/ valB/ to testA/ testB/ there"
    return (f"{info.name!r} cannot be downloaded automatically (the Cityscapes licence requires registration): "
            "register at https://www.cityscapes-dataset.com, download gtFine_trainvaltest.zip and "
            "leftImg8bit_trainvaltest.zip, unzip them, run the reference's datasets/prepare_cityscapes_dataset.py "
            "--gtFine_dir gtFine --leftImg8bit_dir leftImg8bit --output_dir OUT (it writes train/ val/ and trainA/ "
            f"trainB/ valA/ valB/), then {result}")


def placement_hint(info: DatasetInfo, folder: Path, url: str) -> str:
    """How to get the data without this tool: one sentence for every network error.

    Args:
        info: the registry entry (its kind says which folders to put in place).
        folder: where the data must be put.
        url: the archive's URL, to download elsewhere.

    Returns:
        The sentence, to append to the error message.
    """
    return (f"Check the connection, or use a mirror ({MIRROR_ENV}=URL or --mirror URL), or place the data by hand at "
            f"{folder}: download {url} elsewhere, unpack it and put its {LAYOUTS[info.kind][1]} there "
            "(or train with --dataroot DIR)")


def resolve_dataset(name: str, data_dir: str | Path | None = None, kind: str | None = "unpaired",
                    download: bool = True, mirror: str | None = None, timeout: float = 30.0,
                    keep_archive: bool = False, progress: bool | None = None) -> Path:
    """The folder of dataset `name`, downloading and extracting it on first use (a cached one makes no request).

    The generated datasets (`demo`, `labels2photo_demo`) are made on first use instead.

    Args:
        name: a registry name ("facades", "pix2pix/facades"), a generated one, or any folder name in the data dir.
        data_dir: the data dir; None: $CYCLEGAN_TF_DATA, else the cache folder (`default_data_dir`).
        kind: "unpaired" for CycleGAN (the default), "aligned" for pix2pix, None for whichever the name has.
        download: download a missing dataset; False: a `UserError` saying how to download it.
        mirror: replaces the reference's server in the URL; None: $CYCLEGAN_TF_MIRROR, else the reference's.
        timeout: seconds to wait for the server (see `fetch`).
        keep_archive: keep the downloaded archive in `<data dir>/.downloads` after extracting it.
        progress: a progress bar on stderr; None: when stderr is a terminal.

    Returns:
        The dataset's folder, complete.
    """
    if name == DEMO:
        folder = data_root(data_dir) / DEMO
        if not is_written(folder, tuple(demo.SPLITS)):
            demo.make_demo_dataset(folder)
        return folder
    if name == labels2photo.NAME:  # generated too; both layouts (aligned and unpaired) in one folder
        return labels2photo.ensure_dataset(data_root(data_dir) / name)
    if name == colorization_demo.NAME:
        return colorization_demo.ensure_dataset(data_root(data_dir) / name)
    info = lookup(name, kind)
    folder = dataset_folder(name, data_dir, kind)
    if is_complete(folder, info.kind if info else kind or "unpaired"):
        return folder
    if info is None:
        raise UserError(_not_found(name, kind, folder))
    if info.manual:
        raise UserError(manual_steps(info, folder))
    if not download:
        raise UserError(f"dataset {info.key!r} is not downloaded yet ({folder}): run cyclegan-tf datasets "
                        f"download {info.key}")
    return _download(info, folder, archive_path(info, data_dir), mirror, timeout, keep_archive, progress)


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _not_found(name: str, kind: str | None, folder: Path) -> str:
    other = lookup(name, None)
    if other is not None:  # a registry name of another kind, e.g. edges2shoes asked for as unpaired
        return (f"{name!r} is {_a(other.kind)} dataset ({LAYOUTS[other.kind][1]}), not {_a(kind or 'unpaired')} one "
                f"({LAYOUTS[kind or 'unpaired'][1]}); `cyclegan-tf datasets list` shows every name and kind")
    layout = LAYOUTS[kind or "unpaired"][1]
    return (f"dataset {name!r} not found at {folder}: put its {layout} there, or pass --dataroot DIR "
            "(`cyclegan-tf datasets list` shows the names that download by themselves)")


def _download(info: DatasetInfo, folder: Path, archive: Path, mirror: str | None, timeout: float,
              keep_archive: bool, progress: bool | None) -> Path:
    """Fetch the archive (unless a complete one is already there), extract it into place, delete it."""
    url = info.url(mirror)
    if folder.exists() and any(folder.iterdir()):
        raise UserError(f"{folder} exists but holds no {LAYOUTS[info.kind][0]}/: move it away (or complete it "
                        f"by hand: {LAYOUTS[info.kind][1]}) and run again")
    try:
        archive.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create {archive.parent}: {error.strerror or error} (choose another --data-dir)") \
            from None
    if not archive.exists():
        try:
            fetch(url, archive, timeout=timeout, progress=progress)
        except DownloadError as error:
            raise DownloadError(f"{error}. {placement_hint(info, folder, url)}") from None
    try:
        extract_archive(archive, folder, expect=(LAYOUTS[info.kind][0],))
    except ArchiveError as error:
        archive.unlink(missing_ok=True)  # damaged: the next attempt downloads it again
        raise ArchiveError(f"{error}. The archive was deleted: run the command again to download it again") \
            from None
    if not keep_archive:
        archive.unlink(missing_ok=True)
    _remove_if_empty(archive.parent)
    return folder


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


@dataclass(frozen=True)
class Status:
    """A registry entry as `datasets list` shows it."""

    info: DatasetInfo
    folder: Path
    state: str  # "cached" | "partial download" | "not downloaded" | "manual (licence)"


def statuses(data_dir: str | Path | None = None) -> list[Status]:
    result = []
    for info in REGISTRY.values():
        folder = data_root(data_dir) / info.key
        archive = archive_path(info, data_dir)
        if is_complete(folder, info.kind):
            state = "cached"
        elif info.manual:
            state = "manual (licence)"
        elif part_path(archive).exists() or archive.exists():
            state = "partial download"
        else:
            state = "not downloaded"
        result.append(Status(info, folder, state))
    return result


def resolve_dataroot(cfg: TrainConfig) -> Path:
    """The training data folder of a run: --dataroot as given, or --dataset NAME resolved (and downloaded)."""
    if cfg.dataroot:
        root = Path(cfg.dataroot)
        if not root.is_dir():
            raise UserError(f"--dataroot folder not found: {root}")
        return root
    if not cfg.dataset:  # an imported run that does not say what it was trained on
        raise UserError(f"run {cfg.name} names no dataset: give --dataroot DIR")
    kind = model_class(cfg).DATA
    # a model of one folder of images takes any dataset (its train/, or its first domain's trainA/)
    return resolve_dataset(cfg.dataset, cfg.data_dir, kind=None if kind == "single" else kind)


def download_named(name: str, kind: str | None = None, data_dir: str | Path | None = None, mirror: str | None = None,
                   timeout: float = 30.0, keep_archive: bool = False) -> str:
    """`datasets download NAME`: the dataset ready in the data dir; returns the line to show ("NAME: ready in ...").

    Args:
        name: a registry name ("facades", "pix2pix/facades") or "demo".
        kind: "unpaired" or "aligned" for names that have both; None: the name's own (unpaired first).
        data_dir, mirror, timeout, keep_archive: see `resolve_dataset`.
    """
    info = lookup(name, kind)
    if info is None and name != DEMO:
        other = lookup(name, None)
        raise UserError(f"{name!r} has no {kind} dataset (it is {other.kind})" if other else
                        f"unknown dataset {name!r}: `cyclegan-tf datasets list` shows the names")
    cached = info is not None and is_complete(dataset_folder(name, data_dir, info.kind), info.kind)
    folder = resolve_dataset(name, data_dir, kind=info.kind if info else None, mirror=mirror, timeout=timeout,
                             keep_archive=keep_archive)
    return f"{name}: {'already in' if cached else 'ready in'} {folder}"
