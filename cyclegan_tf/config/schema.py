"""`TrainConfig`: the options every model shares (`SharedOptions`) and each model's own (`AdversarialModel.OPTIONS`),
one dataclass whose fields are the training options.

Defaults are the reference's (pytorch-CycleGAN-and-pix2pix). Each field's metadata carries its help text, its
choices (from `choices`) and, where a flag is spelled in more than one way, its `flags` (`options.option`); the
CLI builds the `train` options from them and reads each field's type from its annotation. A run directory stores
the resolved config as JSON, every field under its name, so that `--continue-train`, `translate` and `evaluate`
rebuild the same run.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cyclegan_tf import choices as names
from cyclegan_tf.config.validation import check_config
from cyclegan_tf.errors import UserError
from cyclegan_tf.files import write_text_atomic
from cyclegan_tf.models.registry import all_models, default_model, model_names, model_options
from cyclegan_tf.options import field_type, option, value_fits


@dataclass
class SharedOptions:
    """The options every model has; field names are the reference's option names."""

    # Data
    dataroot: str | None = option(None, "Folder with trainA/ trainB/ (testA/ testB/).", group="data")
    dataset: str | None = option(None, "Dataset by name, read from the data dir ('demo' is generated, no download).",
                                 group="data")
    data_dir: str | None = option(None, "Where named datasets live [default: $CYCLEGAN_TF_DATA or "
                                  "~/.cache/cyclegan-tf/datasets].", group="data")
    input_nc: int = option(3, "Channels of domain A images (1 = grayscale, 3 = RGB, any N: bands of scientific "
                           "images, e.g. 4 = RGB + NIR).", group="data", architecture=True)
    output_nc: int = option(3, "Channels of domain B images (1 = grayscale, 3 = RGB, any N: bands).", group="data",
                            architecture=True)
    value_range_A: str = option("auto", "How domain A's stored values scale to the networks' [-1, 1]: auto (8-bit "
                                "0..255, 16-bit 0..65535, float: the data's min..max), min,max, or pNN,pMM "
                                "(percentiles of the training set, computed once). 16-bit, float, .npy and more "
                                "than 3 bands are read unrounded (see README, Scientific images).", group="data")
    value_range_B: str = option("auto", "--value-range-A for domain B.", group="data")
    scaling_A: dict | None = option(None, "Domain A's value range as resolved from the training set (low, high, "
                                    "depth); None: 8-bit images.", option=False)
    scaling_B: dict | None = option(None, "Domain B's value range as resolved (see scaling_A).", option=False)
    load_size: int = option(286, "Scale images to this size before cropping.", group="data")
    crop_size: int = option(256, "Random crop of this size (the training image size).", group="data")
    preprocess: str = option("resize_and_crop", "How training images are scaled and cropped.", names.PREPROCESS_MODES,
                             group="data")
    no_flip: bool = option(False, "Do not flip training images left-right at random.", group="data")
    max_dataset_size: int | None = option(None, "Use at most this many images of each domain.", group="data")
    epoch_size: int | None = option(None, "Training images per epoch [default: one pass over the data, the larger "
                                    "domain's]: with one image per domain, an epoch of this many random crops.",
                                    group="data")
    strict: bool = option(False, "Stop on an unreadable image instead of skipping it with a warning.", group="data")
    cache_mb: int = option(2048, "Keep decoded images in memory when they fit in this many MiB.", group="data")

    # Run directory
    name: str = option("experiment", "Run name: the run directory is <checkpoints-dir>/<name> [default: the "
                       "dataset's name, or the dataroot folder's].", group="run")
    checkpoints_dir: str = option("./checkpoints", "Where run directories are kept.", group="run")
    save_epoch_freq: int = option(5, "Keep a checkpoint every N epochs (the latest is always kept).", group="run")
    save_latest_freq: int = option(5000, "Also save the latest checkpoint every N steps within an epoch.",
                                   group="run")
    seed: int | None = option(None, "Random seed for weights, data order, augmentation and pool.", group="run")
    deterministic: bool = option(False, "Reproducible training: op determinism and every random choice seeded "
                                 "(--seed, 0 if not given): two runs with one seed write the same losses and weights. "
                                 "Slower; `make bench` measures by how much.", group="run")

    # Networks
    model: str = option(default_model(), "Model to train: " + "; ".join(f"{name} ({model.SUMMARY})" for name, model
                        in all_models().items()) + ".",
                        model_names(), group="network", architecture=True)
    direction: str = option("AtoB", "pix2pix: translate the left half (A) to the right (B) of each image, or BtoA.",
                            names.DIRECTIONS, group="network", architecture=True)
    netG: str = option("resnet_9blocks", "Generator architecture: the reference's four, or resnet_<N>blocks for any N, "
                       "unet_<size> for a U-Net of log2(size) levels (size a power of two, 32 or more).",
                       names.GENERATORS, group="network", architecture=True)
    netD: str = option("basic", "Discriminator: basic = 70x70 PatchGAN, n_layers = PatchGAN with --n-layers-D, "
                       "pixel = 1x1.", names.DISCRIMINATORS, group="network", architecture=True)
    n_layers_D: int = option(3, "PatchGAN depth for --netD n_layers (1: 16x16, 3: 70x70, 5: 286x286 patches).",
                             group="network", architecture=True)
    ngf: int = option(64, "Filters in the generator's first layer.", group="network", architecture=True)
    ndf: int = option(64, "Filters in the discriminator's first layer.", group="network", architecture=True)
    norm: str = option("instance", "Normalization layer.", names.NORMS, group="network", architecture=True)
    g_activation: str = option("relu", "The generator's activation: relu (the reference's) or leaky_relu (slope 0.2).",
                               names.ACTIVATIONS, group="network", architecture=True)
    block_norm: bool = option(True, "Norms inside the ResNet generator's residual blocks (--no-block-norm leaves them "
                              "out, as some tutorials do).", group="network",
                              flags=("--block-norm/--no-block-norm",), architecture=True)
    upsample: str = option("deconv", "How the generator goes up: deconv (the reference's transposed convs), or "
                           "nearest / bilinear resize + conv (no checkerboard artifacts).", names.UPSAMPLE_MODES,
                           group="network", architecture=True)
    d_first_norm: bool = option(False, "A norm after the discriminator's first conv too (the reference has none).",
                                group="network", architecture=True)
    d_last_stride: int = option(1, "Stride of the PatchGAN's last middle conv: 1 (the reference's) or 2 (a map half as "
                                "wide, as in GANs in Action).", (1, 2), group="network", architecture=True)
    d_sigmoid: bool = option(False, "End the discriminator in a sigmoid (for --gan-mode lsgan, as some tutorials do).",
                             group="network", architecture=True)
    antialias: bool = option(False, "Anti-aliased down- and upsampling in a ResNet generator and a PatchGAN (blur "
                             "pooling, bilinear x2; CUT's default, --no-antialias turns it off).", group="network",
                             flags=("--antialias/--no-antialias",), architecture=True)
    init_type: str = option("normal", "Weight initialisation.", names.INIT_TYPES,
                            group="network")
    init_gain: float = option(0.02, "Scale of normal/xavier/orthogonal initialisation.", group="network")
    dropout: bool = option(False, "Dropout 0.5 in the generator (--no-dropout turns it off).", group="network",
                           flags=("--dropout/--no-dropout", "--use_dropout/--no_dropout"))

    # Losses and optimisation
    gan_mode: str = option("lsgan", "GAN objective.", names.GAN_MODES)
    no_gan: bool = option(False, "Ablation: no GAN loss and no discriminator (pix2pix: L1 alone; CycleGAN: cycle "
                          "alone).")
    pool_size: int = option(50, "Generated images kept to train the discriminators (0 = none).")
    batch_size: int = option(1, "Images per step.")
    n_epochs: int = option(100, "Epochs at the initial learning rate.")
    n_epochs_decay: int = option(100, "Epochs of linear decay of the learning rate to zero after that.")
    lr: float = option(2e-4, "Initial learning rate of Adam.")
    lr_policy: str = option("linear", "Learning-rate policy, stepped per epoch: linear (constant for --n-epochs, then "
                            "to 0 over --n-epochs-decay), step (x0.1 every --lr-decay-iters epochs), cosine (to 0 at "
                            "--n-epochs), plateau (x0.2 when the epoch's mean generator loss has not fallen by 1% for "
                            "5 epochs).", names.LR_POLICIES)
    lr_decay_iters: int = option(50, "--lr-policy step: epochs between the x0.1 steps.")
    epoch_count: int = option(1, "The number of the first epoch to train (the reference's): a run that continues "
                              "another's schedule from its epoch k - 1 (e.g. an imported one) starts at k and trains "
                              "to --n-epochs + --n-epochs-decay.")
    beta1: float = option(0.5, "Adam's beta1.")
    continue_train: bool = option(False, "Resume the run <name> from its latest checkpoint.", group="run",
                                  flags=("--continue-train", "--continue_train", "--resume"))

    # Speed
    mixed_precision: str = option("off", "Compute in bfloat16 (bf16; CPUs and TPUs) or float16 with loss scaling "
                                  "(fp16; GPUs); auto: fp16 on a GPU, bf16 on a CPU with native bfloat16, else off. "
                                  "Weights, losses, the pool and images stay float32.", names.MIXED_PRECISION,
                                  group="speed")
    jit_compile: str = option("auto", "Compile the training step with XLA; auto: on a GPU, off on a CPU (where it "
                              "measured slower).", names.JIT_COMPILE, group="speed")
    steps_per_execution: int = option(1, "Training steps per call into the compiled graph.", group="speed")
    strategy: str = option("auto", "tf.distribute strategy: mirrored (the GPUs of this machine), multiworker (machines "
                           "named by $TF_CONFIG), none; auto: multiworker when TF_CONFIG names a cluster, mirrored "
                           "with more than one GPU, else none. --batch-size is the global batch.", names.STRATEGIES,
                           group="speed")
    collective_timeout: float = option(300.0, "--strategy multiworker: seconds a worker waits for the others in a "
                                       "step before the run stops (a dead or unreachable worker).", group="speed")
    strategy_used: str | None = option(None, "The strategy the run last trained with.", option=False)
    replicas: int = option(1, "Replicas the run last trained on (global batch = replicas x per-replica batch).",
                           option=False)
    translates: str | None = option(None, "A run holding one generator of a CycleGAN (an imported .pth or a pretrained "
                                    "model): the one direction it translates.", names.DIRECTIONS, option=False)
    source: str | None = option(None, "Where the run's networks came from when not trained here (imported files, a "
                                "pretrained model's URL).", option=False)

    # Watching a run (see training/callbacks/ and runs/report.py)
    logdir: str | None = option(None, "TensorBoard log folder [default: <run dir>/logs].", group="monitor")
    print_freq: int = option(100, "Log the losses (loss_log.csv, TensorBoard) every N steps.", group="monitor")
    sample_freq: int = option(0, "Also write sample grids and time-lapse frames every N steps (0: once per epoch).",
                              group="monitor")
    n_samples: int = option(4, "Fixed test images shown per domain in each epoch's sample grid.", group="monitor")
    on_unhealthy: str = option("warn", "When a training-health check fires (identity or mode collapse, a "
                               "discriminator that wins or has lost, no learning): warn once on the progress line "
                               "and in index.html, or stop keeping the last checkpoint from before it; off computes "
                               "no health signals.", names.ON_UNHEALTHY, group="monitor")
    eval_freq: int = option(0, "Evaluate (FID, KID, cycle L1 and PSNR) every N epochs; 0 = never.", group="monitor")
    feature_extractor: str | None = option(None, "FID/KID features [default: the FID Inception network of the "
                                           "papers, downloaded on first use]: imagenet (Keras' InceptionV3), FID "
                                           "weights (.pth, .pt) or a Keras model file; see `cyclegan-tf evaluate "
                                           "--help`.", group="monitor")


# Every model's own options join the shared ones: `cfg.lambda_NCE` of a CUT run, `--nz` in `train --help`. The
# shared options come first (help, config.json), then each model's.
@dataclass
class TrainConfig(*reversed(model_options()), SharedOptions):
    """Everything a training run needs: the shared options and every model's own, under the reference's names."""

    @property
    def run_dir(self) -> Path:
        return Path(self.checkpoints_dir) / self.name

    @property
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay

    def validate(self) -> None:
        """A `UserError` for options that cannot train together (`config.validation`)."""
        check_config(self)

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


def option_type(name: str) -> tuple[type, bool]:
    """(value type, whether None is allowed) of option `name`, from its annotation (`int | None` -> (int, True))."""
    return field_type(TrainConfig, name)


def check_values(values: Any, source: str, choices: bool = False) -> dict[str, Any]:
    """`values` if it is a dict of `TrainConfig` fields with values of their types, else a `UserError` naming
    what is wrong (unknown keys, wrong types; with `choices`, values outside a field's choices)."""
    if not isinstance(values, dict):
        raise UserError(f"{source} is not a config (a table of options)")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UserError(f"{source}: unknown option(s) {', '.join(unknown)}")
    for name, value in values.items():
        kind, optional = option_type(name)
        if not value_fits(value, kind, optional):
            raise UserError(f"{source}: {name} is {value!r}, not {'a' if kind is not int else 'an'} "
                            f"{kind.__name__}{' or null' if optional else ''}")
        allowed = fields[name].metadata["choices"]
        if choices and allowed and value is not None and value not in allowed:
            raise UserError(f"{source}: {name} is {value!r}, not one of {', '.join(str(c) for c in allowed)}")
    return values
