"""Runs made from the reference's `.pth` files, and the reference's files made from runs.

`import_torch` turns what the reference writes into a run directory that `translate`, `evaluate`, `export` and
`train --continue-train` use:

- one generator file: a run that translates one direction;
- a CycleGAN checkpoints folder (`latest_net_G_A.pth`, `latest_net_G_B.pth`, `latest_net_D_A.pth`,
  `latest_net_D_B.pth`): a CycleGAN run. The reference's `netG_A` translates A -> B (our `G_AB`) and its
  `netD_A` judges domain B, the one `G_A` writes (our `D_B`); `netD_B` is our `D_A`;
- a pix2pix checkpoints folder (`latest_net_G.pth`, `latest_net_D.pth`): a pix2pix run.

Which files make which model is the model's to say (`AdversarialModel.REFERENCE_FILES`).

`export_torch` writes a run's generators back as the reference's `latest_net_G*.pth`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import keras

from cyclegan_tf.choices import generator_depth
from cyclegan_tf.config import TrainConfig
from cyclegan_tf.errors import UserError
from cyclegan_tf.inference.translator import load_generators
from cyclegan_tf.interop import pth, reference
from cyclegan_tf.interop.reference import Architecture
from cyclegan_tf.models.base import AdversarialModel
from cyclegan_tf.models.registry import (
    all_models,
    build_discriminator,
    build_generator,
    default_model,
    generator_attribute,
    model_class,
    run_directions,
)
from cyclegan_tf.runs import checkpoints

FRESH_OPTIMIZERS = ("the reference's checkpoints hold no optimizer state: `train --continue-train` fine-tunes "
                    "with fresh Adam optimizers, a fresh image pool and the learning-rate schedule from epoch 1 "
                    "(--epoch-count K: from epoch K)")


@dataclasses.dataclass(frozen=True)
class Overrides:
    """What the user says of the architecture where a state dict cannot tell (or tells wrong)."""

    netG: str | None = None  # the reference's flag name
    norm: str | None = None
    ngf: int | None = None


def find_reference_files(folder: Path, epoch: str = "latest") -> dict[str, Path]:
    """{suffix (G_A, G, D, ...): file} of a reference checkpoints folder's `<epoch>_net_<suffix>.pth` files."""
    found = {}
    for path in sorted(Path(folder).glob(f"{epoch}_net_*.pth")):
        match = re.fullmatch(rf"{re.escape(epoch)}_net_(\w+)\.pth", path.name)
        if match:
            found[match.group(1)] = path
    return found


def _generator_arch(state: dict, overrides: Overrides) -> Architecture:
    arch = reference.infer_architecture(state)
    if arch.role != "generator":
        raise UserError(f"expected a generator, found a discriminator: {arch.describe()}")
    changes = {k: v for k, v in (("norm", overrides.norm), ("width", overrides.ngf)) if v is not None}
    if overrides.netG and overrides.netG != arch.net:
        n_blocks, num_downs = _depths(overrides.netG)
        changes.update(net=overrides.netG, n_blocks=n_blocks, num_downs=num_downs)
    return dataclasses.replace(arch, **changes)


def import_torch(paths: list[Path | str], name: str, checkpoints_dir: str | Path = "./checkpoints",
                 overrides: Overrides | None = None, direction: str = "AtoB", dataset: str | None = None,
                 model: str | None = None, source: str | None = None) -> TrainConfig:
    """Make a run directory from the reference's `.pth` files (see the module's docstring for what each gives).

    Args:
        paths: one reference checkpoints folder, or one generator file.
        name: the new run's name: `<checkpoints_dir>/<name>`, which must not hold a run yet.
        checkpoints_dir: where run directories are kept.
        overrides: netG, norm, ngf instead of what the state dict says.
        direction: a single generator translates this direction (and a pix2pix folder's generator too).
        dataset: the dataset the networks were trained on, for `evaluate` (optional).
        model: the model a single generator file was trained as (one with `REFERENCE_FILES`); None: the one
            whose preset builds its network family with its norm (pix2pix for a U-Net with batch norm), else the
            default model.
        source: recorded in the run's config as where the networks came from (default: the paths).

    Returns:
        The new run's config (its `run_dir` is the run directory).
    """
    overrides = overrides or Overrides()
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.exists():
            raise UserError(f"not found: {path}")
    importable = reference_models()
    if len(paths) == 1 and paths[0].is_dir():
        found = find_reference_files(paths[0])
        # the model whose generators' files are all there (CycleGAN: G_A and G_B; pix2pix: G)
        matches = [name for name, kind in importable.items()
                   if all(kind.REFERENCE_FILES[g] in found for g in kind.GENERATOR_NAMES)]
        if not matches:
            wanted = " or ".join(" + ".join(f"latest_net_{kind.REFERENCE_FILES[g]}.pth" for g in kind.GENERATOR_NAMES)
                                 + f" ({name})" for name, kind in importable.items())
            raise UserError(f"{paths[0]} holds no {wanted}")
        model = matches[0]
        files = {ours: found[theirs] for ours, theirs in importable[model].REFERENCE_FILES.items() if theirs in found}
    elif len(paths) == 1:
        files = {"G": paths[0]}
    else:
        raise UserError("give one reference checkpoints folder or one generator .pth file")

    states = {key: pth.load_state_dict(path) for key, path in files.items()}  # each file read once
    arch = _generator_arch(states["G_AB"] if "G_AB" in states else states["G"], overrides)
    single = "G" in files
    kind = model_class(model or _model_of_generator(arch, importable))
    two_ways = len(kind.GENERATOR_NAMES) > 1  # a generator per direction (CycleGAN): one file translates one way
    config = TrainConfig(
        name=name, checkpoints_dir=str(checkpoints_dir), model=kind.NAME, netG=arch.net, ngf=arch.width,
        norm=arch.norm, input_nc=arch.input_nc, output_nc=arch.output_nc,
        dropout=arch.dropout if arch.net.startswith("resnet") else kind.PRESET.get("dropout", False),
        direction=direction, translates=direction if single and two_ways else None, dataset=dataset,
        source=source or ", ".join(str(p.resolve()) for p in paths),
    )
    if not two_ways and direction == "BtoA":  # one generator (pix2pix's G) maps the input side's channels
        config.input_nc, config.output_nc = arch.output_nc, arch.input_nc
    if single:
        attribute = generator_attribute(config, direction)
        files, states = {attribute: files["G"]}, {attribute: states["G"]}
    if checkpoints.latest_checkpoint(config.run_dir) or (config.run_dir / "config.json").exists():
        raise UserError(f"run {config.run_dir} exists: choose another --name")

    networks = {}
    direction_of = {attribute: way for way, attribute in kind.directions(config).items()}
    for attribute, path in files.items():
        state = states[attribute]
        if attribute.startswith("G"):
            network = build_generator(config, direction_of[attribute])
            reference.load_into(network, _generator_arch(state, overrides), state, str(path))
        else:
            d_arch = reference.infer_architecture(state)
            if d_arch.role != "discriminator":
                raise UserError(f"{path}: expected a discriminator, found {d_arch.describe()}")
            config.netD, config.ndf, config.n_layers_D = d_arch.net, d_arch.width, d_arch.n_layers or 3
            if "unconditional_D" in kind.own_options():
                config.unconditional_D = d_arch.input_nc != arch.input_nc + arch.output_nc
            network = build_discriminator(config, d_arch.input_nc, attribute)
            reference.load_into(network, dataclasses.replace(d_arch, norm=overrides.norm or d_arch.norm), state,
                                str(path))
        networks[attribute] = network
    checkpoints.save_networks(config.run_dir, networks, config)
    return config


def reference_models() -> dict[str, type[AdversarialModel]]:
    """{name: class} of the models whose reference checkpoint files we read (those declaring `REFERENCE_FILES`
    themselves: colorization writes pix2pix's files, and they import as pix2pix)."""
    return {name: kind for name, kind in all_models().items() if "REFERENCE_FILES" in vars(kind)}


def _model_of_generator(arch: Architecture, importable: dict[str, type[AdversarialModel]]) -> str:
    """The model a lone generator file was most likely trained as: the one whose preset builds its network family
    with its norm (a U-Net with batch norm: pix2pix), else the default model."""
    family = generator_depth(arch.net)[0]
    for name, kind in importable.items():
        preset_net = kind.PRESET.get("netG")
        if preset_net and generator_depth(preset_net)[0] == family and kind.PRESET.get("norm") == arch.norm:
            return name
    return default_model()


def _depths(net_g: str) -> tuple[int, int]:
    """(residual blocks, U-Net downsamplings) of a netG name."""
    family, depth = generator_depth(net_g)
    return (depth, 0) if family == "resnet" else (0, depth)


def generator_arch(config: TrainConfig, network: keras.Model) -> Architecture:
    """The `Architecture` of a run's generator, for the reference's layout (a `UserError` for a generator the
    reference cannot build)."""
    beyond = [f"--{flag} {value}" for flag, value, reference_value in (
        ("g-activation", config.g_activation, "relu"), ("upsample", config.upsample, "deconv"),
        ("block-norm", config.block_norm, True)) if value != reference_value]
    if beyond:
        raise UserError(f"run {config.name} uses {', '.join(beyond)}: the reference's networks cannot hold it")
    n_blocks, num_downs = _depths(config.netG)
    return Architecture("generator", config.netG, network.input_shape[-1], config.ngf, config.norm,
                        output_nc=network.output_shape[-1], n_blocks=n_blocks, num_downs=num_downs,
                        dropout=config.dropout)


def export_torch(checkpoint: checkpoints.Checkpoint, output: Path | str, directions: list[str] | None = None
                 ) -> list[Path]:
    """Write a run's generators as the reference's state dicts, for its `test.py`.

    A CycleGAN's generators become `latest_net_G_A.pth` (A -> B) and `latest_net_G_B.pth`
    (`test.py --model test --model_suffix _A`); a run of one generator becomes `latest_net_G.pth`.

    Args:
        checkpoint: an open checkpoint (`runs.checkpoints.open_checkpoint`).
        output: the folder to write into (created).
        directions: the directions to write; None: all the run has.

    Returns:
        The files written.
    """
    config = checkpoint.config
    generators = load_generators(checkpoint, directions or list(run_directions(config)), as_trained=True)
    single = len(run_directions(config)) == 1
    output = Path(output)
    written = []
    for direction, network in generators.items():
        suffix = "G" if single else model_class(config).REFERENCE_FILES[generator_attribute(config, direction)]
        state = reference.to_state_dict(network, generator_arch(config, network))
        written.append(pth.save_state_dict(state, output / f"latest_net_{suffix}.pth"))
    return written
