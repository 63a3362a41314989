"""The options an embedded dataset brings when the user does not give them (a model's are its `PRESET`).

A run's config is, from lowest to highest priority: `TrainConfig`'s defaults (the reference's), the
model's preset, the dataset's preset, what the user gave (`config.make_config`).
"""

from __future__ import annotations

from typing import Any

from cyclegan_tf.data import colorization_demo, demo, labels2photo

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
