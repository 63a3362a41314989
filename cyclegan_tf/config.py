"""Run configuration: one dataclass whose fields are the training options, and how a run's config is resolved.

Defaults are the reference's (pytorch-CycleGAN-and-pix2pix). Each field's metadata carries its help text, its
choices (from `choices`) and, where a flag is spelled in more than one way, its `flags`; the CLI builds the
`train` options from them and reads each field's type from its annotation. A run directory stores the
resolved config as JSON so that `--continue-train`, `translate` and `evaluate` rebuild the same run.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cyclegan_tf import choices as names
from cyclegan_tf.errors import UserError
from cyclegan_tf.files import write_text_atomic
from cyclegan_tf.presets import preset


def _opt(default: Any, help: str, choices: tuple | None = None, group: str = "training",
         flags: tuple[str, ...] | None = None, option: bool = True) -> Any:
    """A field with its CLI help text, choices, option group and, when not the usual `--name-hyphenated` (also
    `--name_underscored`), its flags: click declarations, e.g. ("--dropout/--no-dropout",) for a negatable flag.
    `option=False`: recorded in config.json by the trainer, not a command-line option."""
    return field(default=default, metadata={"help": help, "choices": choices, "group": group, "flags": flags,
                                            "option": option})


@dataclass
class TrainConfig:
    """Everything a training run needs; field names are the reference's option names."""

    # Data
    dataroot: str | None = _opt(None, "Folder with trainA/ trainB/ (testA/ testB/).", group="data")
    dataset: str | None = _opt(None, "Dataset by name, read from the data dir ('demo' is generated, no download).",
                               group="data")
    data_dir: str | None = _opt(None, "Where named datasets live [default: $CYCLEGAN_TF_DATA or "
                                "~/.cache/cyclegan-tf/datasets].", group="data")
    input_nc: int = _opt(3, "Channels of domain A images (1 = grayscale, 3 = RGB).", (1, 3), group="data")
    output_nc: int = _opt(3, "Channels of domain B images (1 = grayscale, 3 = RGB).", (1, 3), group="data")
    load_size: int = _opt(286, "Scale images to this size before cropping.", group="data")
    crop_size: int = _opt(256, "Random crop of this size (the training image size).", group="data")
    preprocess: str = _opt("resize_and_crop", "How training images are scaled and cropped.", names.PREPROCESS_MODES,
                           group="data")
    no_flip: bool = _opt(False, "Do not flip training images left-right at random.", group="data")
    max_dataset_size: int | None = _opt(None, "Use at most this many images of each domain.", group="data")
    strict: bool = _opt(False, "Stop on an unreadable image instead of skipping it with a warning.", group="data")
    augment: str = _opt("none", "DCGAN: none (each image resized to --crop-size), flip-crop (resized to 9/8 of it, a "
                        "random crop and flip), or diffaugment (DiffAugment of real and fake images before D: colour, "
                        "translation, cutout; for small sets).", names.AUGMENTS, group="data")
    cache_mb: int = _opt(2048, "Keep decoded images in memory when they fit in this many MiB.", group="data")

    # Run directory
    name: str = _opt("experiment", "Run name: the run directory is <checkpoints-dir>/<name> [default: the "
                     "dataset's name, or the dataroot folder's].", group="run")
    checkpoints_dir: str = _opt("./checkpoints", "Where run directories are kept.", group="run")
    save_epoch_freq: int = _opt(5, "Keep a checkpoint every N epochs (the latest is always kept).", group="run")
    save_latest_freq: int = _opt(5000, "Also save the latest checkpoint every N steps within an epoch.",
                                 group="run")
    seed: int | None = _opt(None, "Random seed for weights, data order, augmentation and pool.", group="run")
    deterministic: bool = _opt(False, "Reproducible training: op determinism and every random choice seeded "
                               "(--seed, 0 if not given): two runs with one seed write the same losses and weights. "
                               "Slower; `make bench` measures by how much.", group="run")

    # Networks
    model: str = _opt("cycle_gan", "Model to train: cycle_gan (unpaired trainA/ trainB/), pix2pix (aligned A|B "
                      "images in train/; its defaults: --netG unet_256 --norm batch --gan-mode vanilla "
                      "--pool-size 0 --dropout), colorization (colour photos in train/ or a plain folder: the L "
                      "channel of Lab in, the colour out; pix2pix's defaults), dcgan (images from noise, one folder "
                      "of images; --crop-size 64, --nz, --augment; `cyclegan-tf generate`), cut / fastcut (one-sided "
                      "unpaired translation A -> B with a patchwise contrastive loss, Park et al. 2020; trainA/ "
                      "trainB/; the CUT repository's defaults).", names.MODELS, group="network")
    direction: str = _opt("AtoB", "pix2pix: translate the left half (A) to the right (B) of each image, or BtoA.",
                          names.DIRECTIONS, group="network")
    netG: str = _opt("resnet_9blocks", "Generator architecture: the reference's four, or resnet_<N>blocks for any N, "
                     "unet_<size> for a U-Net of log2(size) levels (size a power of two, 32 or more).",
                     names.GENERATORS, group="network")
    netD: str = _opt("basic", "Discriminator: basic = 70x70 PatchGAN, n_layers = PatchGAN with --n-layers-D, "
                     "pixel = 1x1.", names.DISCRIMINATORS, group="network")
    n_layers_D: int = _opt(3, "PatchGAN depth for --netD n_layers (1: 16x16, 3: 70x70, 5: 286x286 patches).",
                           group="network")
    ngf: int = _opt(64, "Filters in the generator's first layer.", group="network")
    ndf: int = _opt(64, "Filters in the discriminator's first layer.", group="network")
    norm: str = _opt("instance", "Normalization layer.", names.NORMS, group="network")
    g_activation: str = _opt("relu", "The generator's activation: relu (the reference's) or leaky_relu (slope 0.2).",
                             names.ACTIVATIONS, group="network")
    block_norm: bool = _opt(True, "Norms inside the ResNet generator's residual blocks (--no-block-norm leaves them "
                            "out, as some tutorials do).", group="network", flags=("--block-norm/--no-block-norm",))
    upsample: str = _opt("deconv", "How the generator goes up: deconv (the reference's transposed convs), or nearest / "
                         "bilinear resize + conv (no checkerboard artifacts).", names.UPSAMPLE_MODES, group="network")
    d_first_norm: bool = _opt(False, "A norm after the discriminator's first conv too (the reference has none).",
                              group="network")
    d_last_stride: int = _opt(1, "Stride of the PatchGAN's last middle conv: 1 (the reference's) or 2 (a map half as "
                              "wide, as in GANs in Action).", (1, 2), group="network")
    d_sigmoid: bool = _opt(False, "End the discriminator in a sigmoid (for --gan-mode lsgan, as some tutorials do).",
                           group="network")
    nz: int = _opt(100, "DCGAN: size of the noise vector z its generator starts from.", group="network")
    antialias: bool = _opt(False, "Anti-aliased down- and upsampling in a ResNet generator and a PatchGAN (blur "
                           "pooling, bilinear x2; CUT's default, --no-antialias turns it off).", group="network",
                           flags=("--antialias/--no-antialias",))
    netF_nc: int = _opt(256, "CUT: width of the MLP heads on the generator's encoder features.", group="network")
    init_type: str = _opt("normal", "Weight initialisation.", names.INIT_TYPES,
                          group="network")
    init_gain: float = _opt(0.02, "Scale of normal/xavier/orthogonal initialisation.", group="network")
    dropout: bool = _opt(False, "Dropout 0.5 in the generator (--no-dropout turns it off).", group="network",
                         flags=("--dropout/--no-dropout", "--use_dropout/--no_dropout"))

    # Losses and optimisation
    gan_mode: str = _opt("lsgan", "GAN objective.", names.GAN_MODES)
    lambda_A: float = _opt(10.0, "Weight of the cycle loss A -> B -> A.")
    lambda_B: float = _opt(10.0, "Weight of the cycle loss B -> A -> B.")
    lambda_identity: float = _opt(0.5, "Identity loss weight, as a fraction of lambda_A/lambda_B (0 turns it off).")
    lambda_L1: float = _opt(100.0, "pix2pix: weight of L1(output, target) (0: GAN or cGAN alone).")
    no_gan: bool = _opt(False, "Ablation: no GAN loss and no discriminator (pix2pix: L1 alone; CycleGAN: cycle "
                        "alone).")
    unconditional_D: bool = _opt(False, "Ablation (pix2pix): the discriminator sees the output alone, not "
                                 "concat(input, output).", group="network")
    cycle: str = _opt("both", "Ablation (CycleGAN): which cycle losses count: forward (A->B->A), backward "
                      "(B->A->B) or both.", names.CYCLES)
    lambda_GAN: float = _opt(1.0, "CUT: weight of the GAN loss.")
    lambda_NCE: float = _opt(1.0, "CUT: weight of the PatchNCE loss (fastcut: 10).")
    nce_idt: bool = _opt(True, "CUT: the identity PatchNCE loss on domain B images too (fastcut: off).",
                         flags=("--nce-idt/--no-nce-idt",))
    nce_layers: str = _opt("0,4,8,12,16", "CUT: the generator's layers (the reference's module indices) whose features "
                           "the PatchNCE loss compares.")
    num_patches: int = _opt(256, "CUT: patches sampled per layer and image.")
    nce_T: float = _opt(0.07, "CUT: temperature of the PatchNCE loss.")
    flip_equivariance: bool = _opt(False, "CUT: flip the input at random and the features back (fastcut's default).",
                                   flags=("--flip-equivariance/--no-flip-equivariance",))
    cycle_loss: str = _opt("l1", "How cycle and identity reconstructions are compared: l1 (the reference's) or l2 "
                           "(squared error, as some tutorials do).", names.CYCLE_LOSSES)
    pool_size: int = _opt(50, "Generated images kept to train the discriminators (0 = none).")
    batch_size: int = _opt(1, "Images per step.")
    n_epochs: int = _opt(100, "Epochs at the initial learning rate.")
    n_epochs_decay: int = _opt(100, "Epochs of linear decay of the learning rate to zero after that.")
    lr: float = _opt(2e-4, "Initial learning rate of Adam.")
    lr_policy: str = _opt("linear", "Learning-rate policy, stepped per epoch: linear (constant for --n-epochs, then "
                          "to 0 over --n-epochs-decay), step (x0.1 every --lr-decay-iters epochs), cosine (to 0 at "
                          "--n-epochs), plateau (x0.2 when the epoch's mean generator loss has not fallen by 1% for 5 "
                          "epochs).", names.LR_POLICIES)
    lr_decay_iters: int = _opt(50, "--lr-policy step: epochs between the x0.1 steps.")
    epoch_count: int = _opt(1, "The number of the first epoch to train (the reference's): a run that continues "
                            "another's schedule from its epoch k - 1 (e.g. an imported one) starts at k and trains "
                            "to --n-epochs + --n-epochs-decay.")
    beta1: float = _opt(0.5, "Adam's beta1.")
    continue_train: bool = _opt(False, "Resume the run <name> from its latest checkpoint.", group="run",
                                flags=("--continue-train", "--continue_train", "--resume"))

    # Speed
    mixed_precision: str = _opt("off", "Compute in bfloat16 (bf16; CPUs and TPUs) or float16 with loss scaling "
                                "(fp16; GPUs); auto: fp16 on a GPU, bf16 on a CPU with native bfloat16, else off. "
                                "Weights, losses, the pool and images stay float32.", names.MIXED_PRECISION,
                                group="speed")
    jit_compile: str = _opt("auto", "Compile the training step with XLA; auto: on a GPU, off on a CPU (where it "
                            "measured slower).", names.JIT_COMPILE, group="speed")
    steps_per_execution: int = _opt(1, "Training steps per call into the compiled graph.", group="speed")
    strategy: str = _opt("auto", "tf.distribute strategy: mirrored (the GPUs of this machine), multiworker (machines "
                         "named by $TF_CONFIG), none; auto: multiworker when TF_CONFIG names a cluster, mirrored "
                         "with more than one GPU, else none. --batch-size is the global batch.", names.STRATEGIES,
                         group="speed")
    collective_timeout: float = _opt(300.0, "--strategy multiworker: seconds a worker waits for the others in a "
                                     "step before the run stops (a dead or unreachable worker).", group="speed")
    strategy_used: str | None = _opt(None, "The strategy the run last trained with.", option=False)
    replicas: int = _opt(1, "Replicas the run last trained on (global batch = replicas x per-replica batch).",
                         option=False)
    translates: str | None = _opt(None, "A run holding one generator of a CycleGAN (an imported .pth or a pretrained "
                                  "model): the one direction it translates.", names.DIRECTIONS, option=False)
    source: str | None = _opt(None, "Where the run's networks came from when not trained here (imported files, a "
                              "pretrained model's URL).", option=False)

    # Watching a run (see training/callbacks/ and runs/report.py)
    logdir: str | None = _opt(None, "TensorBoard log folder [default: <run dir>/logs].", group="monitor")
    print_freq: int = _opt(100, "Log the losses (loss_log.csv, TensorBoard) every N steps.", group="monitor")
    sample_freq: int = _opt(0, "Also write sample grids and time-lapse frames every N steps (0: once per epoch).",
                            group="monitor")
    n_samples: int = _opt(4, "Fixed test images shown per domain in each epoch's sample grid.", group="monitor")
    eval_freq: int = _opt(0, "Evaluate (FID, KID, cycle L1 and PSNR) every N epochs; 0 = never.", group="monitor")
    feature_extractor: str | None = _opt(None, "Keras model file for FID/KID features [default: InceptionV3 with "
                                         "ImageNet weights]; see `cyclegan-tf evaluate --help`.", group="monitor")

    @property
    def run_dir(self) -> Path:
        return Path(self.checkpoints_dir) / self.name

    @property
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay

    def validate(self) -> None:
        """Checks that no single option can (the CLI's choices cover the rest)."""
        if self.translates:
            raise UserError(f"run {self.name} holds one generator ({self.translates}, from {self.source}): it "
                            "translates, evaluates and exports, but cannot train; import a reference checkpoints "
                            "folder with both generators and both discriminators to fine-tune")
        if not self.dataroot and not self.dataset:
            raise UserError("give --dataroot DIR or --dataset NAME")
        for name in ("load_size", "crop_size", "batch_size", "ngf", "ndf", "save_epoch_freq", "save_latest_freq",
                     "lr_decay_iters", "steps_per_execution", "print_freq", "n_samples", "epoch_count"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1")
        if self.n_epochs < 0 or self.n_epochs_decay < 0 or self.total_epochs < 1:
            raise UserError("--n-epochs plus --n-epochs-decay must be at least 1")
        if self.epoch_count > self.total_epochs:
            raise UserError(f"--epoch-count {self.epoch_count} is past the last epoch ({self.total_epochs})")
        if self.no_gan and (self.lambda_L1 == 0 if self.model == "pix2pix" else self.lambda_A == self.lambda_B == 0):
            raise UserError("--no-gan with zero L1/cycle weights leaves nothing to learn")
        if self.pool_size < 0:
            raise UserError("--pool-size must be 0 or more")
        if self.d_sigmoid and self.gan_mode != "lsgan":
            raise UserError(f"--d-sigmoid goes with --gan-mode lsgan: {self.gan_mode} expects logits")
        if self.model == "cycle_gan" and self.lambda_identity > 0 and self.input_nc != self.output_nc:
            # The identity loss feeds B images to G_AB, which takes A's channels (the reference asserts the same).
            raise UserError(f"the identity loss needs --input-nc equal to --output-nc (here {self.input_nc} and "
                            f"{self.output_nc}): add --lambda-identity 0")
        if self.augment != "none" and self.model != "dcgan":
            raise UserError(f"--augment {self.augment} is a DCGAN option (--model dcgan); the other models' "
                            "augmentation is --preprocess and --no-flip")
        if self.model == "dcgan":
            size = self.crop_size
            if size & (size - 1) or not 16 <= size <= 512:
                raise UserError(f"--model dcgan makes square images of a power-of-two size from 16 to 512 "
                                f"(--crop-size), not {size}")
            if self.nz < 1:
                raise UserError("--nz must be at least 1")
        if self.model in ("cut", "fastcut"):
            if (parsed := names.generator_depth(self.netG)) is None or parsed[0] != "resnet":
                raise UserError(f"--model {self.model} takes a ResNet generator (--netG resnet_<N>blocks), not "
                                f"{self.netG}: its PatchNCE layers are the ResNet's")
            parse_nce_layers(self.nce_layers, parsed[1])
            if self.nce_idt and self.input_nc != self.output_nc:
                raise UserError("the identity PatchNCE loss feeds B images to the generator: it needs --input-nc "
                                "equal to --output-nc (or --no-nce-idt)")
            if self.num_patches < 1 or self.nce_T <= 0:
                raise UserError("--num-patches must be at least 1 and --nce-T above 0")
        elif self.antialias and (names.generator_depth(self.netG) or ("",))[0] == "unet":
            raise UserError("--antialias is built for ResNet generators (and PatchGANs), not a U-Net")
        if self.model == "colorization" and (self.input_nc, self.output_nc) != (1, 3):
            raise UserError("--model colorization translates grey (--input-nc 1) to colour (--output-nc 3); its "
                            "network maps the L channel of Lab to the ab channels")
        if self.sample_freq < 0:
            raise UserError("--sample-freq must be 0 (per epoch) or more")
        if self.eval_freq < 0:
            raise UserError("--eval-freq must be 0 (never) or more")
        if self.feature_extractor and not Path(self.feature_extractor).is_file():
            raise UserError(f"--feature-extractor file not found: {self.feature_extractor}")
        if self.preprocess in ("resize_and_crop", "scale_width_and_crop") and self.crop_size > self.load_size:
            raise UserError(f"--crop-size {self.crop_size} is larger than --load-size {self.load_size}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """A config saved by `save` (a run's `config.json`); a file that is not one is a `UserError` naming what is
        wrong: unreadable JSON, unknown keys, or a value of the wrong type."""
        try:
            values = json.loads(Path(path).read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise UserError(f"{path} is not a JSON config ({error})") from None
        return cls(**check_values(values, str(path)))

    @classmethod
    def from_options(cls, given: dict[str, Any], preset: dict[str, Any] | None = None) -> TrainConfig:
        """Defaults, then a dataset's preset, then what the user gave (None = not given)."""
        values = {**(preset or {}), **{k: v for k, v in given.items() if v is not None}}
        return cls(**values)


def check_values(values: Any, source: str, choices: bool = False) -> dict[str, Any]:
    """`values` if it is a dict of `TrainConfig` fields with values of their types, else a `UserError` naming
    what is wrong (unknown keys, wrong types; with `choices`, values outside a field's choices)."""
    if not isinstance(values, dict):
        raise UserError(f"{source} is not a config (a table of options)")
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise UserError(f"{source}: unknown option(s) {', '.join(unknown)}")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for name, value in values.items():
        kind, optional = field_type(name)
        if not _fits(value, kind, optional):
            raise UserError(f"{source}: {name} is {value!r}, not {'a' if kind is not int else 'an'} "
                            f"{kind.__name__}{' or null' if optional else ''}")
        allowed = fields[name].metadata["choices"]
        if choices and allowed and value is not None and value not in allowed:
            raise UserError(f"{source}: {name} is {value!r}, not one of {', '.join(str(c) for c in allowed)}")
    return values


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The options in a config file for `train --config`: TOML (`.toml`), or JSON such as a run's `config.json`.

    Keys are option names, hyphenated or not (`lambda-A` or `lambda_A`). From a run's `config.json`, what
    records a run's state rather than an option (the strategy it used, `continue_train`, ...) is left out.

    Args:
        path: the file.

    Returns:
        {field name: value}; a `UserError` names an unreadable file, an unknown option or a wrong value.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise UserError(f"cannot read --config {path}: {error.strerror or error}") from None
    try:
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                raise UserError("TOML config files need Python 3.11 or newer: give a .json one") from None
            values = tomllib.loads(text)
        else:
            values = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:  # tomllib.TOMLDecodeError and JSONDecodeError are ValueErrors
        raise UserError(f"--config {path} is not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'} "
                        f"({error})") from None
    if not isinstance(values, dict):
        raise UserError(f"--config {path} is not a table of options")
    values = {key.replace("-", "_"): value for key, value in values.items()}
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    state = {name for name, f in fields.items() if not f.metadata["option"]} | {"continue_train"}
    return check_values({k: v for k, v in values.items() if k not in state}, f"--config {path}", choices=True)


def _fits(value: Any, kind: type, optional: bool) -> bool:
    """Whether a JSON value is one of a field's type (an int is a float; a bool is no int)."""
    if value is None:
        return optional
    if isinstance(value, bool) or kind is bool:
        return isinstance(value, bool) and kind is bool
    return isinstance(value, (int, float)) if kind is float else isinstance(value, kind)


def field_type(name: str) -> tuple[type, bool]:
    """(value type, whether None is allowed) of a `TrainConfig` field, from its annotation (`int | None` ->
    (int, True))."""
    hint = typing.get_type_hints(TrainConfig)[name]
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (kind,) = [arg for arg in args if arg is not type(None)]
        return kind, type(None) in args
    return hint, False


def parse_nce_layers(text: str, n_blocks: int) -> tuple[int, ...]:
    """CUT's `--nce-layers` ("0,4,8,12,16"): module indices of the reference's anti-aliased ResNet generator (0: the
    padded input, 4 and 8: the downsampling convs, 12 + i: residual block i + 1), each one of its encoder's
    (up to 11 + n_blocks); a `UserError` otherwise."""
    try:
        layers = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"--nce-layers is a comma-separated list of layer numbers, not {text!r}") from None
    last = 11 + n_blocks
    if not layers or any(not 0 <= layer <= last for layer in layers) or len(set(layers)) != len(layers):
        raise UserError(f"--nce-layers {text}: distinct numbers from 0 to {last} (the encoder of a ResNet with "
                        f"{n_blocks} blocks)")
    return layers


# Fields that fix the shape of the networks' weights: a resumed run may not change them.
ARCHITECTURE_FIELDS = ("model", "netG", "netD", "n_layers_D", "ngf", "ndf", "norm", "input_nc", "output_nc",
                       "direction", "unconditional_D", "g_activation", "block_norm", "upsample", "d_first_norm",
                       "d_last_stride", "d_sigmoid", "nz", "antialias", "netF_nc", "nce_layers")
DCGAN_ARCHITECTURE_FIELDS = ("crop_size",)  # a DCGAN's depth follows its image size


def make_config(given: dict[str, Any], config_file: str | Path | None = None) -> TrainConfig:
    """A run's config from the options a user gave (None = not given), and a config file's.

    The command line wins over `config_file` (`read_config_file`), which wins over what follows.
    A new run: the options over the dataset's and the model's presets (`presets`) over the defaults; without
    `name`, the run is named after its dataset (or its dataroot folder). A resumed run (`continue_train`): the
    options over the run's saved `config.json`; options that fix the networks' shapes may not change.

    Args:
        given: {field name: value or None}, e.g. the CLI's options.
        config_file: a TOML or JSON file of options (`train --config`).

    Returns:
        The config, not yet validated (`TrainConfig.validate`).
    """
    if config_file is not None:
        given = {**read_config_file(config_file), **{k: v for k, v in given.items() if v is not None}}
    if not given.get("name") and (given.get("dataset") or given.get("dataroot")):
        given = {**given, "name": given.get("dataset") or Path(given["dataroot"]).resolve().name}
    if not given.get("continue_train"):
        return TrainConfig.from_options(given, preset(given.get("model"), given.get("dataset")))
    run_dir = TrainConfig.from_options({k: given.get(k) for k in ("name", "checkpoints_dir")}).run_dir
    saved_path = run_dir / "config.json"
    if not saved_path.is_file():
        raise UserError(f"nothing to resume: no run at {run_dir}")
    saved = TrainConfig.load(saved_path).to_dict()
    fixed = ARCHITECTURE_FIELDS + (DCGAN_ARCHITECTURE_FIELDS if saved["model"] == "dcgan" else ())
    for name in fixed:
        if given.get(name) is not None and given[name] != saved[name]:
            raise UserError(f"--{name} {given[name]} differs from the resumed run's {saved[name]}")
    return TrainConfig(**{**saved, **{k: v for k, v in given.items() if v is not None}, "continue_train": True})
