"""Datasets by name: where they live, and the settings a small dataset needs to train well.

`demo` is generated on first use (see `demo.py`). Other names are read from `<data dir>/<name>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cyclegan_tf import demo
from cyclegan_tf.config import TrainConfig, default_data_dir
from cyclegan_tf.errors import UserError

DEMO = "demo"

# Options a dataset brings when the user does not give them. The demo's are sized for a CPU:
# 64 px images, a slim ResNet-6 generator and a few epochs (about 5 minutes on 2 cores).
PRESETS: dict[str, dict[str, Any]] = {
    DEMO: dict(netG="resnet_6blocks", ngf=16, ndf=16, load_size=64, crop_size=64, preprocess="none",
               n_epochs=4, n_epochs_decay=4, lr=5e-4, save_epoch_freq=4, seed=0),
}

# The reference's unpaired datasets (downloading them is a separate feature).
REFERENCE_DATASETS = (
    "ae_photos", "apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo", "cezanne2photo",
    "ukiyoe2photo", "vangogh2photo", "maps", "cityscapes", "facades", "iphone2dslr_flower", "mini",
)


def preset(name: str | None) -> dict[str, Any]:
    return dict(PRESETS.get(name or "", {}))


def dataset_dir(name: str, data_dir: str | Path | None = None) -> Path:
    """The folder of a named dataset, generating the demo dataset there if it is missing."""
    root = Path(data_dir) if data_dir else default_data_dir()
    folder = root / name
    if name == DEMO:
        if not (folder / "testB").is_dir():
            demo.make_demo_dataset(folder)
        return folder
    if (folder / "trainA").is_dir():
        return folder
    known = " (one of the reference's datasets)" if name in REFERENCE_DATASETS else ""
    raise UserError(
        f"dataset {name!r}{known} not found at {folder}: put its trainA/ trainB/ testA/ testB/ folders there, "
        f"or pass --dataroot DIR (automatic download is not available yet)"
    )


def resolve_dataroot(cfg: TrainConfig) -> Path:
    if cfg.dataroot:
        root = Path(cfg.dataroot)
        if not root.is_dir():
            raise UserError(f"--dataroot folder not found: {root}")
        return root
    return dataset_dir(cfg.dataset, cfg.data_dir)
