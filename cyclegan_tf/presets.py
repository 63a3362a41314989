"""Options that a model or a dataset brings when the user does not give them, in one place.

A run's config is, from lowest to highest priority: `TrainConfig`'s defaults (the reference's), the
model's preset, the dataset's preset, what the user gave (`config.make_config`).
"""

from __future__ import annotations

from typing import Any

from cyclegan_tf.data import colorization_demo, demo, labels2photo

# The reference's pix2pix defaults: U-Net, batch norm, vanilla GAN, no pool, dropout as the generator's noise.
# The reference's colorization is its pix2pix on Lab (grey in, colour out). The DCGAN is Radford et al.'s: batch
# norm, the vanilla GAN, 64 px images, batch 64, no pool, a constant learning rate (the paper's 2e-4) for 100
# epochs (few steps each on the small sets DCGANs are trained on).
PIX2PIX = dict(netG="unet_256", norm="batch", gan_mode="vanilla", pool_size=0, dropout=True)
CUT = dict(netG="resnet_9blocks", netD="basic", norm="instance", init_type="xavier", init_gain=0.02, antialias=True,
           pool_size=0, gan_mode="lsgan", lambda_GAN=1.0, lambda_NCE=1.0, nce_idt=True, flip_equivariance=False,
           n_epochs=200, n_epochs_decay=200, dropout=False)
MODEL_PRESETS: dict[str, dict[str, Any]] = {
    "pix2pix": PIX2PIX,
    "colorization": dict(PIX2PIX, input_nc=1, output_nc=3),
    # The CUT repository's defaults (its options and cut_model.py): xavier init, anti-aliased sampling, no pool,
    # lsgan; CUT 200 + 200 epochs with the identity NCE loss, FastCUT 150 + 50 with lambda_NCE 10 and flips.
    "cut": CUT,
    "fastcut": dict(CUT, lambda_NCE=10.0, nce_idt=False, flip_equivariance=True, n_epochs=150, n_epochs_decay=50),
    "dcgan": dict(norm="batch", gan_mode="vanilla", pool_size=0, crop_size=64, n_epochs=100, n_epochs_decay=0,
                  batch_size=64),
}

# The embedded sets are sized for a CPU: 64 px images, a slim ResNet-6 generator (a U-Net of 8 levels needs
# 256 px inputs) and a few epochs.
DATASET_PRESETS: dict[str, dict[str, Any]] = {
    demo.NAME: dict(netG="resnet_6blocks", ngf=16, ndf=16, load_size=64, crop_size=64, preprocess="none",
                    n_epochs=4, n_epochs_decay=4, lr=5e-4, save_epoch_freq=4, seed=0),
    colorization_demo.NAME: dict(netG="unet_64", ngf=16, ndf=16, load_size=64, crop_size=64, preprocess="none",
                                 n_epochs=3, n_epochs_decay=3, save_epoch_freq=3, seed=0),
    labels2photo.NAME: dict(netG="resnet_6blocks", ngf=16, ndf=16, load_size=64, crop_size=64, preprocess="none",
                            n_epochs=3, n_epochs_decay=3, save_epoch_freq=3, seed=0),
}


def preset(model: str | None, dataset: str | None) -> dict[str, Any]:
    """The options `model` and `dataset` bring (the dataset's over the model's).

    Args:
        model: a `--model` name; None, or a model without a preset, brings nothing.
        dataset: a `--dataset` name; None, or a dataset without a preset, brings nothing.

    Returns:
        {option: value}, a new dict (possibly empty).
    """
    return {**MODEL_PRESETS.get(model or "", {}), **DATASET_PRESETS.get(dataset or "", {})}
