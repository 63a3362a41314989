"""Checkpoints in a run directory, written so that a killed process never leaves a broken one.

Layout of `<checkpoints-dir>/<name>/`:

    config.json                  the run's full TrainConfig
    checkpoints/LATEST           the name of the newest complete checkpoint
    checkpoints/latest_<step>/   full training state: networks, both optimizers, both image pools
    checkpoints/epoch_<NNN>/     networks only, kept every --save-epoch-freq epochs

Each checkpoint directory holds `weights.npz` (arrays keyed `<group>/<index>`, in the order
Keras lists the variables, which is fixed by the architecture; the groups are the model's attributes
named in its class's `NETWORKS` and `TRAINING_STATE`, e.g. `G_AB`, `D_A`, `g_optimizer`, `pool_A`),
`state.json` (step, epoch) and a copy of `config.json`, so that it can be used on its own
(`translate --checkpoint DIR`).
A checkpoint is written into a hidden temporary directory and renamed into place; `LATEST` is
replaced atomically afterwards. A reader that finds `LATEST` stale falls back to the newest
complete checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import keras
import numpy as np

from cyclegan_tf.config import TrainConfig, write_text_atomic
from cyclegan_tf.errors import UserError


def network_groups(model) -> tuple[str, ...]:
    """The attribute names of a model's networks (what an `epoch_N` checkpoint keeps)."""
    return tuple(model.NETWORKS)


def all_groups(model) -> tuple[str, ...]:
    """Every attribute name of a model's training state (what a `latest_N` checkpoint keeps)."""
    return network_groups(model) + tuple(model.TRAINING_STATE)


def variable_groups(model, groups: tuple[str, ...]) -> dict[str, list]:
    """The variables of each named part of a model (networks, optimizers, pools)."""
    out = {}
    for group in groups:
        part = getattr(model, group)
        if isinstance(part, keras.Variable):
            out[group] = [part]
        else:
            out[group] = list(part.variables if group.endswith("optimizer") else part.weights)
    return out


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(model, run_dir: Path, tag: str, step: int, epoch: int, config: TrainConfig,
                    training_state: bool) -> Path:
    """Write checkpoint `tag` of `model` under `run_dir/checkpoints` and point LATEST at it if it is full."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{tag}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    groups = all_groups(model) if training_state else network_groups(model)
    arrays = {f"{group}/{i:04d}": np.asarray(v.numpy()) for group, variables in variable_groups(model, groups).items()
              for i, v in enumerate(variables)}
    with open(tmp / "weights.npz", "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    write_text_atomic(tmp / "state.json", json.dumps(
        {"step": step, "epoch": epoch, "training_state": training_state, "groups": list(groups)}) + "\n")
    config.save(tmp / "config.json")
    _fsync_dir(tmp)

    final = root / tag
    if final.exists():  # rewriting a tag (after a resume): move the old one out of the way first
        trash = root / f".old-{tag}-{os.getpid()}"
        os.rename(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.rename(tmp, final)
    _fsync_dir(root)
    if training_state:
        write_text_atomic(root / "LATEST", tag + "\n")
        for old in root.glob("latest_*"):  # one full state is enough
            if old.name != tag:
                shutil.rmtree(old, ignore_errors=True)
    return final


def is_complete(path: Path) -> bool:
    return (path / "weights.npz").is_file() and (path / "state.json").is_file() and (path / "config.json").is_file()


def read_state(checkpoint: Path) -> dict:
    return json.loads((Path(checkpoint) / "state.json").read_text())


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete full-state checkpoint of a run, or None."""
    root = Path(run_dir) / "checkpoints"
    pointer = root / "LATEST"
    if pointer.is_file():
        candidate = root / pointer.read_text().strip()
        if is_complete(candidate):
            return candidate
    found = [p for p in root.glob("latest_*") if is_complete(p)]
    return max(found, key=lambda p: read_state(p)["step"]) if found else None


def find_checkpoint(path: Path, epoch: int | None = None) -> Path:
    """A checkpoint directory from a run directory, its checkpoints/ folder or a checkpoint itself."""
    path = Path(path)
    if is_complete(path):
        return path
    run_dir = path.parent if path.name == "checkpoints" else path
    if not (run_dir / "checkpoints").is_dir():
        raise UserError(f"no checkpoints found at {path}")
    if epoch is not None:
        candidate = run_dir / "checkpoints" / f"epoch_{epoch:03d}"
        if not is_complete(candidate):
            kept = sorted(p.name for p in (run_dir / "checkpoints").glob("epoch_*") if is_complete(p))
            raise UserError(f"no checkpoint of epoch {epoch} in {run_dir} (kept: {', '.join(kept) or 'none'})")
        return candidate
    latest = latest_checkpoint(run_dir)
    if latest is None:
        raise UserError(f"no complete checkpoint in {run_dir / 'checkpoints'}")
    return latest


def restore(checkpoint: Path, groups: dict[str, list]) -> None:
    """Assign the saved arrays of each group to its variables (see `variable_groups`); shapes must match."""
    with np.load(Path(checkpoint) / "weights.npz") as saved:
        for group, variables in groups.items():
            keys = sorted(k for k in saved.files if k.startswith(group + "/"))
            if len(keys) != len(variables):
                raise UserError(f"checkpoint {checkpoint} does not fit this model: {group} has "
                                f"{len(keys)} arrays, the model {len(variables)}")
            for key, variable in zip(keys, variables, strict=False):
                value = saved[key]
                if tuple(value.shape) != tuple(variable.shape):
                    raise UserError(f"checkpoint {checkpoint} does not fit this model: {key} has shape "
                                    f"{value.shape}, the model {tuple(variable.shape)}")
                variable.assign(value)
