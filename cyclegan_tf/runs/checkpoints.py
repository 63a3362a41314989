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
atomically afterwards, and the two newest `latest_*` are kept. A write that fails (a full disk, an I/O error)
removes its temporary directory and leaves `LATEST` at the previous checkpoint (`CheckpointWriteError`).

Readers (translate, evaluate, a resume) call `open_checkpoint`, which never fails because a trainer is writing
or rotating checkpoints at the same time: it opens every file it needs at once and keeps them open (a folder
the trainer deletes afterwards stays readable through them), looks again if the trainer deleted the folder
first, and falls back to the previous complete checkpoint, with a warning, when the newest one is damaged.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import keras
import numpy as np

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.errors import UserError
from cyclegan_tf.files import fsync_dir, write_atomic, write_text_atomic
from cyclegan_tf.models.registry import build_generator, model_class, translation_network

log = logging.getLogger("cyclegan_tf")

STATE = "state.npz"
LEGACY_STATE = "weights.npz"  # release 0.1
FORMAT = 2
KEEP_LATEST = 2  # full-state checkpoints kept: the newest, and one to fall back to if it is damaged
OPEN_ATTEMPTS = 5  # a reader looks again this often when a trainer deletes a checkpoint it was about to open


class CheckpointWriteError(UserError):
    """A checkpoint could not be written; the previous one is still the latest."""


class CheckpointDamaged(UserError):
    """A checkpoint's files are truncated or garbled."""


def network_groups(model) -> tuple[str, ...]:
    """The attribute names of a model's networks (what an `epoch_N` checkpoint keeps)."""
    return tuple(model.NETWORKS)


def all_groups(model) -> tuple[str, ...]:
    """Every attribute name of a model's training state (what a `latest_N` checkpoint keeps)."""
    return network_groups(model) + tuple(model.TRAINING_STATE)


def parts_of(model, groups: tuple[str, ...]) -> dict[str, object]:
    """The parts of a model a checkpoint saves or restores.

    Args:
        model: an `AdversarialModel`.
        groups: attribute names (`all_groups`, `network_groups`).

    Returns:
        {group: the model's attribute (a network, an optimizer, a pool or a variable)}.
    """
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


def _save_generators(generators: dict[str, keras.Model], config: TrainConfig, folder: Path) -> None:
    """Each generator ({attribute: network}) as `<attribute>.keras`, in float32 whatever the training precision,
    as what translates with it (`translation_network`), so that the file gives what `translate` gives; a DCGAN's
    generator from noise as it is."""
    model = model_class(config)
    attributes = model.directions(config) or {"AtoB": model.GENERATOR_NAMES[0]}
    for direction, attribute in attributes.items():
        network = generators[attribute]
        if network.dtype_policy.name != "float32":
            copy = build_generator(config, direction)
            copy.set_weights(network.get_weights())
            network = copy
        network = translation_network(config, network)
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
    groups = all_groups(model) if training_state else network_groups(model)
    parts = parts_of(model, groups)
    final = _write_safely(run_dir, tag, parts, step, epoch, config, training_state, training_state)
    if training_state:
        root = Path(run_dir) / "checkpoints"
        for old in sorted(root.glob("latest_*"), key=_step_of, reverse=True)[KEEP_LATEST:]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def save_networks(run_dir: Path, networks: dict[str, keras.Model], config: TrainConfig) -> Path:
    """Start a run from networks made elsewhere (an imported PyTorch checkpoint): `latest_0` holds them alone,
    and LATEST points at it. `translate`, `evaluate` and `export` use it as any checkpoint; a resume restores the
    networks and starts the optimizers (and pools, step counter) fresh.

    Args:
        run_dir: the run directory (created).
        networks: {attribute (G_AB, D_A, ...): network}, the attribute names of `config.model`'s class.
        config: the run's config, also written as the run's `config.json`.

    Returns:
        The checkpoint's folder.
    """
    final = _write_safely(run_dir, "latest_0", networks, 0, 0, config, False, True)
    config.save(Path(run_dir) / "config.json")
    return final


def _write_safely(run_dir: Path, tag: str, parts: dict[str, object], step: int, epoch: int, config: TrainConfig,
                  training_state: bool, point_latest: bool) -> Path:
    root = Path(run_dir) / "checkpoints"
    tmp = root / f".tmp-{tag}-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        return _write(parts, root, tmp, tag, step, epoch, config, training_state, point_latest)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        previous = latest_checkpoint(run_dir)
        kept = f"{previous.name} stays the latest" if previous else "there is no earlier checkpoint"
        raise CheckpointWriteError(f"cannot write checkpoint {root / tag}: {error.strerror or error}; {kept}") \
            from None


def _write(parts: dict[str, object], root: Path, tmp: Path, tag: str, step: int, epoch: int, config: TrainConfig,
           training_state: bool, point_latest: bool) -> Path:
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    arrays = {key: np.asarray(variable.numpy()) for key, variable in named_variables(parts).items()}
    write_atomic(tmp / STATE, lambda f: np.savez(f, **arrays))
    _save_generators(parts, config, tmp)
    write_text_atomic(tmp / "state.json", json.dumps(
        {"step": step, "epoch": epoch, "training_state": training_state, "groups": list(parts),
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
    if point_latest:
        write_text_atomic(root / "LATEST", tag + "\n")
    return final


def set_aside_after(run_dir: Path, step: int) -> tuple[Path | None, list[Path]]:
    """Move the full-state checkpoints saved after `step` into `checkpoints/set_aside/`, so that a resume starts
    from the newest one before it (a run stopped because it went wrong at `step`). Nothing moves when no complete
    one before it is left.

    Returns:
        (the checkpoint a resume now starts from, or None; the folders moved, in their new place).
    """
    root = Path(run_dir) / "checkpoints"
    found = latest_checkpoints(run_dir)
    before = [p for p in found if _step_of(p) <= step]
    if not before:
        return (found[0] if found else None), []
    keep = max(before, key=_step_of)
    moved = []
    for path in found:
        if _step_of(path) > step:
            (root / "set_aside").mkdir(exist_ok=True)
            target = root / "set_aside" / path.name
            shutil.rmtree(target, ignore_errors=True)
            os.rename(path, target)
            moved.append(target)
    write_text_atomic(root / "LATEST", keep.name + "\n")
    fsync_dir(root)
    return keep, moved


def remove_temporaries(run_dir: Path) -> None:
    """Delete the temporary folders a killed writer left in `checkpoints/` (call it holding the run's lock)."""
    for leftover in (Path(run_dir) / "checkpoints").glob(".*-*"):
        if leftover.is_dir() and leftover.name.startswith((".tmp-", ".old-")):
            shutil.rmtree(leftover, ignore_errors=True)


def _step_of(path: Path) -> int:
    digits = path.name.rpartition("_")[2]
    return int(digits) if digits.isdigit() else -1


def is_complete(path: Path) -> bool:
    """Whether `path` is a checkpoint folder with everything a reader needs."""
    path = Path(path)
    has_state = (path / STATE).is_file() or (path / LEGACY_STATE).is_file()
    return has_state and (path / "state.json").is_file() and (path / "config.json").is_file()


def read_state(checkpoint: Path) -> dict:
    """A checkpoint's `state.json`: step, epoch, training_state, groups."""
    return json.loads((Path(checkpoint) / "state.json").read_text())


def latest_checkpoints(run_dir: Path) -> list[Path]:
    """A run's complete full-state checkpoints, newest first (the one `LATEST` names first of all)."""
    root = Path(run_dir) / "checkpoints"
    found = sorted((p for p in root.glob("latest_*") if is_complete(p)), key=_step_of, reverse=True)
    pointer = root / "LATEST"
    named = pointer.read_text().strip() if pointer.is_file() else ""
    return sorted(found, key=lambda p: p.name != named)  # stable: LATEST's first, then by step


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete full-state checkpoint of a run, or None."""
    found = latest_checkpoints(run_dir)
    return found[0] if found else None


def find_checkpoint(path: Path, epoch: int | None = None) -> Path:
    """The checkpoint folder a path names, without opening it (readers use `open_checkpoint`).

    Args:
        path: a run directory, its `checkpoints/` folder, or a checkpoint folder itself.
        epoch: the run's `epoch_<NNN>` checkpoint instead of its newest full state.

    Returns:
        The checkpoint folder; a `UserError` says why there is none.
    """
    path = Path(path)
    if is_complete(path):
        return path
    run_dir = _run_dir(path)
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


@dataclass
class Checkpoint:
    """An open checkpoint: its folder, config and state, and its arrays, readable until `close` even if a trainer
    deletes the folder meanwhile. Use it as a context manager."""

    path: Path
    config: TrainConfig
    state: dict
    arrays: np.lib.npyio.NpzFile
    file: IO[bytes]

    @property
    def legacy(self) -> bool:
        """Written by release 0.1 (arrays keyed by position)."""
        return Path(self.file.name).name == LEGACY_STATE

    def restore(self, parts: dict[str, object]) -> None:
        """Assign the saved values to the variables of `parts` ({group: network, optimizer, layer or variable},
        see `parts_of`); names and shapes must match (a `UserError` lists what does not)."""
        if self.legacy:
            _restore_legacy(self, _positional_variables(parts))
        else:
            _restore_named(self, parts)

    def close(self) -> None:
        self.arrays.close()
        self.file.close()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


DAMAGE = (zipfile.BadZipFile, ValueError, KeyError, EOFError, json.JSONDecodeError, UnicodeDecodeError, TypeError)


def _open(path: Path) -> Checkpoint:
    """Open a checkpoint folder's files (FileNotFoundError: it is gone; `CheckpointDamaged`: it is unreadable)."""
    name = STATE if (path / STATE).exists() else LEGACY_STATE
    file = open(path / name, "rb")
    try:
        with zipfile.ZipFile(file) as archive:
            bad = archive.testzip()  # reads every array once and checks its CRC
        if bad is not None:
            raise zipfile.BadZipFile(f"{bad} is garbled")
        file.seek(0)
        state = json.loads((path / "state.json").read_text())
        config = TrainConfig.load(path / "config.json")
        return Checkpoint(path, config, state, np.load(file), file)
    except FileNotFoundError:
        file.close()
        raise
    except (*DAMAGE, OSError) as error:
        file.close()
        raise CheckpointDamaged(f"checkpoint {path} is damaged ({type(error).__name__}: {error})") from None


def open_checkpoint(source: Path | str, epoch: int | None = None) -> Checkpoint:
    """Open the checkpoint a reader asks for: a checkpoint folder itself, or a run directory's newest complete
    full-state checkpoint (or that of `epoch`), safe against a trainer writing and rotating at the same time.

    Args:
        source: a run directory, its `checkpoints/` folder, or one checkpoint folder.
        epoch: open `epoch_<NNN>` of the run instead of the newest full state.

    Returns:
        The open checkpoint (close it, or use it in a `with` block).

    Raises:
        UserError: nothing to open, or what was asked for is damaged (a run's newest damaged checkpoint falls back
            to the previous complete one with a warning instead).
    """
    source = Path(source)
    for _ in range(OPEN_ATTEMPTS):
        explicit = is_complete(source) or epoch is not None
        candidates = [find_checkpoint(source, epoch)] if explicit else latest_checkpoints(_run_dir(source))
        if not candidates:
            find_checkpoint(source)  # raises the user's error: no checkpoints at all
        for candidate in candidates:
            try:
                return _open(candidate)
            except FileNotFoundError:
                break  # a trainer rotated it away after we listed it: list again
            except CheckpointDamaged as error:
                if explicit:
                    raise
                log.warning("%s; using the previous checkpoint", error)
        else:
            raise UserError(f"no readable checkpoint in {_run_dir(source) / 'checkpoints'}")
    raise UserError(f"checkpoints of {source} changed {OPEN_ATTEMPTS} times while being opened: try again")


def _run_dir(path: Path) -> Path:
    return path.parent if path.name == "checkpoints" else path


def restore(checkpoint: Path | Checkpoint, parts: dict[str, object]) -> None:
    """Restore the variables of `parts` from a checkpoint.

    Args:
        checkpoint: a checkpoint folder (opened and closed here) or an open `Checkpoint`.
        parts: {group: network, optimizer, layer or variable} (`parts_of`).
    """
    if isinstance(checkpoint, Checkpoint):
        checkpoint.restore(parts)
        return
    with _open(Path(checkpoint)) as opened:
        opened.restore(parts)


def _restore_named(checkpoint: Checkpoint, parts: dict[str, object]) -> None:
    wanted = named_variables(parts)
    saved = checkpoint.arrays
    prefixes = tuple(f"{group}/" for group in parts)
    stored = {key for key in saved.files if key.startswith(prefixes)}
    missing, unexpected = sorted(set(wanted) - stored), sorted(stored - set(wanted))
    misshapen = [f"{key} {saved[key].shape} vs {tuple(v.shape)}" for key, v in wanted.items()
                 if key in stored and tuple(saved[key].shape) != tuple(v.shape)]
    if missing or unexpected or misshapen:
        problems = [f"{what} ({len(keys)}): {', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''}"
                    for what, keys in (("missing", missing), ("unexpected", unexpected),
                                       ("of another shape", misshapen)) if keys]
        raise UserError(f"checkpoint {checkpoint.path} does not fit this model: " + "; ".join(problems))
    for key, variable in wanted.items():
        variable.assign(saved[key])


def _restore_legacy(checkpoint: Checkpoint, groups: dict[str, list]) -> None:
    """Release 0.1's `weights.npz`: arrays keyed `<group>/<index>`, assigned in the variables' order."""
    saved = checkpoint.arrays
    for group, variables in groups.items():
        keys = sorted(k for k in saved.files if k.startswith(group + "/"))
        if len(keys) != len(variables):
            raise UserError(f"checkpoint {checkpoint.path} does not fit this model: {group} has "
                            f"{len(keys)} arrays, the model {len(variables)}")
        for key, variable in zip(keys, variables, strict=True):
            value = saved[key]
            if tuple(value.shape) != tuple(variable.shape):
                raise UserError(f"checkpoint {checkpoint.path} does not fit this model: {key} has shape "
                                f"{value.shape}, the model {tuple(variable.shape)}")
            variable.assign(value)
