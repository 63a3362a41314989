"""Checkpoints in a run directory, written so that a killed process never leaves a broken one.

Layout of `<checkpoints-dir>/<name>/`:

    config.json                  the run's full TrainConfig
    checkpoints/LATEST           the name of the newest complete checkpoint
    checkpoints/latest_<step>/   full training state: networks, both optimizers, the image pools, the step counter
    checkpoints/epoch_<NNN>/     networks only, kept every --save-epoch-freq epochs

Each checkpoint directory holds:

- `G_AB.keras` (and `G_BA.keras` for a CycleGAN): each generator as a Keras model file in float32, which
  `keras.saving.load_model` opens after `import cyclegan_tf` (our layers are registered Keras objects);
- `state.npz`: every variable of the saved parts, keyed by name, not by position: a network's weights as
  `<part>/<layer>/<weight>` (`G_AB/stem_conv/kernel`), everything else as `<part>/<variable path>`
  (`g_optimizer/g_adam/G_AB_stem_conv_kernel_momentum`, `pool_A/pool_A/images`, `step_counter/step_counter`);
  the parts are the model's attributes named in its class's `NETWORKS` and `TRAINING_STATE`. A restore
  checks that the names and shapes match the model's exactly, and names what differs;
- `state.json` (step, epoch, parts, format) and a copy of `config.json`, so that it can be used on its own
  (`translate --checkpoint DIR`).

Why our own name-keyed arrays rather than Keras' `.weights.h5` or `tf.train.Checkpoint`: both key by
position where it matters here (measured with Keras 3.15: `.weights.h5` stores `D_A/layers/conv2d_1/vars/0`
and `d_optimizer/vars/12`, `tf.train.Checkpoint` stores `d_optimizer/_trainable_variables/12`), so a change
of layer order or of the optimizer's variable list would restore silently into the wrong variables.

Checkpoints of release 0.1 (`weights.npz`, arrays keyed `<part>/<index>` in Keras' variable order) are still
read (`restore` falls back to the order of the variables) and translate and resume as before.

A checkpoint is written into a hidden temporary directory and renamed into place; `LATEST` is replaced
atomically afterwards. A reader that finds `LATEST` stale falls back to the newest complete checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import keras
import numpy as np

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.errors import UserError
from cyclegan_tf.files import fsync_dir, write_atomic, write_text_atomic
from cyclegan_tf.models.builders import build_generator
from cyclegan_tf.models.registry import model_class

STATE = "state.npz"
LEGACY_STATE = "weights.npz"  # release 0.1
FORMAT = 2


def network_groups(model) -> tuple[str, ...]:
    """The attribute names of a model's networks (what an `epoch_N` checkpoint keeps)."""
    return tuple(model.NETWORKS)


def all_groups(model) -> tuple[str, ...]:
    """Every attribute name of a model's training state (what a `latest_N` checkpoint keeps)."""
    return network_groups(model) + tuple(model.TRAINING_STATE)


def parts_of(model, groups: tuple[str, ...]) -> dict[str, object]:
    """{group: the model's attribute} for the named groups."""
    return {group: getattr(model, group) for group in groups}


def named_variables(parts: dict[str, object]) -> dict[str, keras.Variable]:
    """The variables of each part (a network, an optimizer, a layer or a variable), keyed by name (see above)."""
    named: dict[str, keras.Variable] = {}
    for group, part in parts.items():
        if isinstance(part, keras.Variable):
            items = [(part.path, part)]
        elif isinstance(part, keras.Model):
            items = [(f"{layer.name}/{weight.name}", weight) for layer in part.layers for weight in layer.weights]
        else:  # an optimizer or a layer (a pool): paths are unique, as networks are built under their own names
            variables = part.variables if isinstance(part, keras.optimizers.Optimizer) else part.weights
            items = [(variable.path, variable) for variable in variables]
        for name, variable in items:
            key = f"{group}/{name}"
            if key in named:
                raise ValueError(f"two variables are named {key}")
            named[key] = variable
    return named


def _positional_variables(parts: dict[str, object]) -> dict[str, list]:
    """Release 0.1's order: each part's variables as Keras lists them."""
    out = {}
    for group, part in parts.items():
        if isinstance(part, keras.Variable):
            out[group] = [part]
        else:
            out[group] = list(part.variables if group.endswith("optimizer") else part.weights)
    return out


def _save_generators(model, config: TrainConfig, folder: Path) -> None:
    """Each generator as `<attribute>.keras`, in float32 whatever the training precision, so that the file gives
    what `translate` gives."""
    for direction, attribute in model_class(config).directions(config).items():
        network = getattr(model, attribute)
        if network.dtype_policy.name != "float32":
            copy = build_generator(config, direction)
            copy.set_weights(network.get_weights())
            network = copy
        path = folder / f"{attribute}.keras"
        network.save(path)
        with open(path, "rb") as f:
            os.fsync(f.fileno())


def save_checkpoint(model, run_dir: Path, tag: str, step: int, epoch: int, config: TrainConfig,
                    training_state: bool) -> Path:
    """Write checkpoint `tag` of `model` under `run_dir/checkpoints` and point LATEST at it if it is full.

    Args:
        model: the model in training (an `AdversarialModel`).
        run_dir: the run directory.
        tag: the checkpoint's folder name, `latest_<step>` or `epoch_<NNN>`.
        step: training steps done.
        epoch: epochs done.
        config: the run's config (copied into the checkpoint).
        training_state: save the optimizers, pools and step counter too (a `latest` checkpoint).

    Returns:
        The checkpoint's folder.
    """
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{tag}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    groups = all_groups(model) if training_state else network_groups(model)
    arrays = {key: np.asarray(variable.numpy()) for key, variable in named_variables(parts_of(model, groups)).items()}
    write_atomic(tmp / STATE, lambda f: np.savez(f, **arrays))
    _save_generators(model, config, tmp)
    write_text_atomic(tmp / "state.json", json.dumps(
        {"step": step, "epoch": epoch, "training_state": training_state, "groups": list(groups),
         "format": FORMAT}) + "\n")
    config.save(tmp / "config.json")
    fsync_dir(tmp)

    final = root / tag
    if final.exists():  # rewriting a tag (after a resume): move the old one out of the way first
        trash = root / f".old-{tag}-{os.getpid()}"
        os.rename(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.rename(tmp, final)
    fsync_dir(root)
    if training_state:
        write_text_atomic(root / "LATEST", tag + "\n")
        for old in root.glob("latest_*"):  # one full state is enough
            if old.name != tag:
                shutil.rmtree(old, ignore_errors=True)
    return final


def is_complete(path: Path) -> bool:
    """Whether `path` is a checkpoint folder with everything a reader needs."""
    path = Path(path)
    has_state = (path / STATE).is_file() or (path / LEGACY_STATE).is_file()
    return has_state and (path / "state.json").is_file() and (path / "config.json").is_file()


def read_state(checkpoint: Path) -> dict:
    """A checkpoint's `state.json`: step, epoch, training_state, groups."""
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


def restore(checkpoint: Path, parts: dict[str, object]) -> None:
    """Assign a checkpoint's saved values to the variables of `parts` ({group: network, optimizer, layer or
    variable}, see `parts_of`); names and shapes must match (a `UserError` lists what does not)."""
    checkpoint = Path(checkpoint)
    if not (checkpoint / STATE).is_file():
        _restore_legacy(checkpoint, _positional_variables(parts))
        return
    wanted = named_variables(parts)
    with np.load(checkpoint / STATE) as saved:
        prefixes = tuple(f"{group}/" for group in parts)
        stored = {key for key in saved.files if key.startswith(prefixes)}
        missing, unexpected = sorted(set(wanted) - stored), sorted(stored - set(wanted))
        misshapen = [f"{key} {saved[key].shape} vs {tuple(v.shape)}" for key, v in wanted.items()
                     if key in stored and tuple(saved[key].shape) != tuple(v.shape)]
        if missing or unexpected or misshapen:
            problems = [f"{what} ({len(keys)}): {', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''}"
                        for what, keys in (("missing", missing), ("unexpected", unexpected),
                                           ("of another shape", misshapen)) if keys]
            raise UserError(f"checkpoint {checkpoint} does not fit this model: " + "; ".join(problems))
        for key, variable in wanted.items():
            variable.assign(saved[key])


def _restore_legacy(checkpoint: Path, groups: dict[str, list]) -> None:
    """Release 0.1's `weights.npz`: arrays keyed `<group>/<index>`, assigned in the variables' order."""
    with np.load(checkpoint / LEGACY_STATE) as saved:
        for group, variables in groups.items():
            keys = sorted(k for k in saved.files if k.startswith(group + "/"))
            if len(keys) != len(variables):
                raise UserError(f"checkpoint {checkpoint} does not fit this model: {group} has "
                                f"{len(keys)} arrays, the model {len(variables)}")
            for key, variable in zip(keys, variables, strict=True):
                value = saved[key]
                if tuple(value.shape) != tuple(variable.shape):
                    raise UserError(f"checkpoint {checkpoint} does not fit this model: {key} has shape "
                                    f"{value.shape}, the model {tuple(variable.shape)}")
                variable.assign(value)
