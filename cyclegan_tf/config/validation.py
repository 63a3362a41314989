"""The checks of a run's options that no single option can make (the CLI's choices and `check_values` cover those):
the ones every model shares here, then the model's own (`AdversarialModel.validate`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from cyclegan_tf import choices
from cyclegan_tf.data.scientific import parse_range
from cyclegan_tf.errors import UserError
from cyclegan_tf.models.registry import all_models, model_class, model_options

if TYPE_CHECKING:
    from cyclegan_tf.config.schema import TrainConfig

POSITIVE = ("load_size", "crop_size", "batch_size", "ngf", "ndf", "save_epoch_freq", "save_latest_freq",
            "lr_decay_iters", "steps_per_execution", "print_freq", "n_samples", "epoch_count", "input_nc", "output_nc")


def check_config(cfg: TrainConfig) -> None:
    """A `UserError` naming the first thing in `cfg` that cannot train."""
    if cfg.translates:
        raise UserError(f"run {cfg.name} holds one generator ({cfg.translates}, from {cfg.source}): it "
                        "translates, evaluates and exports, but cannot train; import a reference checkpoints "
                        "folder with both generators and both discriminators to fine-tune")
    if not cfg.dataroot and not cfg.dataset:
        raise UserError("give --dataroot DIR or --dataset NAME")
    for name in POSITIVE:
        if getattr(cfg, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    if cfg.epoch_size is not None and cfg.epoch_size < 1:
        raise UserError("--epoch-size must be at least 1")
    if cfg.n_epochs < 0 or cfg.n_epochs_decay < 0 or cfg.total_epochs < 1:
        raise UserError("--n-epochs plus --n-epochs-decay must be at least 1")
    if cfg.epoch_count > cfg.total_epochs:
        raise UserError(f"--epoch-count {cfg.epoch_count} is past the last epoch ({cfg.total_epochs})")
    if cfg.pool_size < 0:
        raise UserError("--pool-size must be 0 or more")
    if cfg.d_sigmoid and cfg.gan_mode != "lsgan":
        raise UserError(f"--d-sigmoid goes with --gan-mode lsgan: {cfg.gan_mode} expects logits")
    model = model_class(cfg)
    check_options_of_other_models(cfg)
    model.validate(cfg)
    check_channels(cfg)
    if cfg.antialias and (choices.generator_depth(cfg.netG) or ("",))[0] == "unet":
        raise UserError("--antialias is built for ResNet generators (and PatchGANs), not a U-Net")
    if cfg.sample_freq < 0:
        raise UserError("--sample-freq must be 0 (per epoch) or more")
    if cfg.eval_freq < 0:
        raise UserError("--eval-freq must be 0 (never) or more")
    if cfg.feature_extractor not in (None, "imagenet") and not Path(cfg.feature_extractor).is_file():
        raise UserError(f"--feature-extractor file not found: {cfg.feature_extractor}")
    if cfg.preprocess in ("resize_and_crop", "scale_width_and_crop") and cfg.crop_size > cfg.load_size:
        raise UserError(f"--crop-size {cfg.crop_size} is larger than --load-size {cfg.load_size}")


def check_options_of_other_models(cfg: TrainConfig) -> None:
    """A `UserError` for an option of another model set away from its default (`--augment` on a CycleGAN run):
    it would do nothing."""
    own = set(model_class(cfg).own_options())
    for options in model_options():
        for field in dataclasses.fields(options):
            if field.name not in own and getattr(cfg, field.name) != field.default:
                owners = [n for n, m in all_models().items() if field.name in m.own_options()]
                raise UserError(f"--{field.name.replace('_', '-')} {getattr(cfg, field.name)} is an option of "
                                f"--model {' / '.join(owners)}, not of {cfg.model}")


def check_channels(cfg: TrainConfig) -> None:
    """A `UserError` for a `--value-range` that is none, or for scientific images (bands beyond 3, a `--value-range`)
    with a model whose data stay 8-bit grey or colour (its `SCIENTIFIC` is False: colorization, DCGAN)."""
    for spec in (cfg.value_range_A, cfg.value_range_B):
        parse_range(spec)
    model = model_class(cfg)
    if model.SCIENTIFIC:
        return
    if cfg.input_nc not in (1, 3) or cfg.output_nc not in (1, 3):
        raise UserError(f"--model {cfg.model} takes 1 or 3 channels (grey or RGB), not {cfg.input_nc} -> "
                        f"{cfg.output_nc}: {model.SCIENTIFIC_NOTE}")
    if (cfg.value_range_A, cfg.value_range_B) != ("auto", "auto"):
        raise UserError(f"--value-range is for scientific images, which --model {cfg.model} does not take: "
                        f"{model.SCIENTIFIC_NOTE}")
