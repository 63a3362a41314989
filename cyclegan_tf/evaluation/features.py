"""Feature extractors for FID and KID: the papers' FID Inception network (the default, `fid_inception`), Keras'
ImageNet InceptionV3 (`imagenet`), or any Keras model file."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cyclegan_tf.errors import UserError

INCEPTION_SIZE = 299
INCEPTION_WEIGHTS = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + INCEPTION_WEIGHTS
DOWNLOAD_TIMEOUT_S = 60


class FeatureExtractor:
    """A Keras model from images to feature vectors, with the input contract of `--feature-extractor`.

    The model gets float32 RGB images in [0, 255] (grayscale repeated to RGB; a 1-channel model gets
    grayscale), resized bilinearly to its input size, or to 299 x 299 if its input size is not fixed. It
    returns (batch, d) features; a (batch, h, w, d) output is averaged over space.
    """

    def __init__(self, model: keras.Model, name: str, batch_size: int = 32):
        self.model, self.name, self.batch_size = model, name, batch_size
        shape = model.input_shape
        self.size = (shape[1], shape[2]) if shape[1] and shape[2] else (INCEPTION_SIZE, INCEPTION_SIZE)
        self.channels = shape[-1] or 3
        self._run = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        self._kept: dict[tuple, np.ndarray] = {}

    def of_real_images(self, key: tuple, load: Callable[[], list[np.ndarray]]) -> np.ndarray:
        """Features of the real images `load` gives, kept under `key` (where they come from, how many): they do
        not change, so evaluations during training decode and compute them once."""
        if key not in self._kept:
            self._kept[key] = self(load())
        return self._kept[key]

    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        """uint8 images (any sizes) -> float64 features (n, d)."""
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = [self._prepare(image) for image in images[start: start + self.batch_size]]
            features = self._run(tf.stack(batch)).numpy()
            out.append(features.mean(axis=(1, 2)) if features.ndim == 4 else features.reshape(len(batch), -1))
        return np.concatenate(out).astype(np.float64)

    def _prepare(self, image: np.ndarray) -> tf.Tensor:
        x = tf.convert_to_tensor(image, tf.float32)
        if x.shape[-1] != self.channels:
            x = tf.image.rgb_to_grayscale(x) if self.channels == 1 else tf.repeat(x, 3, axis=-1)
        return tf.image.resize(x, self.size, method="bilinear")


def inception_extractor() -> FeatureExtractor:
    """InceptionV3 with ImageNet weights (Keras caches them in ~/.keras/models/ on first use)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a stalled connection fails instead of hanging
    try:
        backbone = keras.applications.InceptionV3(include_top=False, pooling="avg", weights="imagenet",
                                                  input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3))
    except Exception as error:  # download and file errors alike: the user has to act
        models_dir = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
        reason = " ".join(str(error).replace(f" on {INCEPTION_URL}", "").split()) or type(error).__name__
        raise UserError(f"cannot load the InceptionV3 weights for FID/KID ({reason[:160]}): put {INCEPTION_URL} "
                        f"into {models_dir}/, or leave out --feature-extractor imagenet (or evaluate --no-fid)"
                        ) from None
    finally:
        socket.setdefaulttimeout(previous)
    inputs = keras.Input((INCEPTION_SIZE, INCEPTION_SIZE, 3))
    # keras.applications.inception_v3.preprocess_input: [0, 255] -> [-1, 1]
    model = keras.Model(inputs, backbone(keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)))
    return FeatureExtractor(model, "InceptionV3 (ImageNet), pool features, 299 px")


IMAGENET = "imagenet"  # `--feature-extractor imagenet`: Keras' InceptionV3 with ImageNet weights
FID_WEIGHT_SUFFIXES = (".pth", ".pt")  # the FID Inception network's weights (pytorch-fid's, NVIDIA's TorchScript)


def fid_extractor(weights: str | Path | None = None, models: str | Path | None = None,
                  mirror: str | None = None) -> FeatureExtractor:
    """The FID Inception network (what the papers' FID and KID use) with pytorch-fid's weights, downloaded into the
    models dir (`models`) on first use (from `mirror` in place of https://github.com if given), or with `weights`
    (pytorch-fid's .pth or NVIDIA's TorchScript .pt)."""
    from cyclegan_tf.evaluation import fid_inception

    path = Path(weights) if weights else fid_inception.default_weights(models, mirror)
    inputs = keras.Input((fid_inception.SIZE, fid_inception.SIZE, 3))
    network = fid_inception.network(fid_inception.load_weights(path))
    # [0, 255] -> [-1, 1], as pytorch-fid scales its [0, 1] input
    model = keras.Model(inputs, network(keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)))
    source = "pytorch-fid's weights" if path.name == fid_inception.WEIGHTS_FILE else path.name
    return FeatureExtractor(model, f"FID Inception 2015-12-05 ({source}), pool3, 299 px")


def load_feature_extractor(path: str | Path | None = None, models: str | Path | None = None,
                           mirror: str | None = None) -> FeatureExtractor:
    """The extractor `--feature-extractor` names: None, the FID Inception network (`fid_extractor`); "imagenet",
    Keras' InceptionV3; a .pth/.pt file, the FID Inception network with those weights; any other file, a Keras
    model. `models` and `mirror`: where the default weights are kept and fetched from (`fid_extractor`)."""
    if path is None:
        return fid_extractor(None, models, mirror)
    if str(path) == IMAGENET:
        return inception_extractor()
    path = Path(path)
    if path.suffix.lower() in FID_WEIGHT_SUFFIXES:
        return fid_extractor(path)
    if not path.is_file():
        raise UserError(f"feature extractor not found: {path}")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # a file Keras cannot read is the user's
        raise UserError(f"cannot load the feature extractor {path}: {str(error).splitlines()[0][:200]}") from None
    return FeatureExtractor(model, str(path))


def save_random_extractor(path: str | Path, size: int = 32, widths: tuple[int, ...] = (16, 32), seed: int = 0
                          ) -> Path:
    """A small feature extractor with fixed random weights (strided 3x3 convs with ReLU, mean-pooled), saved as a
    .keras file: for FID/KID where InceptionV3's weights cannot be had (offline tests and experiments). Its
    scores compare runs scored with the same file only.

    Args:
        path: the .keras file to write.
        size: the side of the images it takes (others are resized to it).
        widths: the convs' channels; the last is the number of features.
        seed: of the weights.

    Returns:
        `path`.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    for width in widths:
        x = keras.layers.Conv2D(width, 3, strides=2, activation="relu")(x)
    keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x)).save(path)
    return Path(path)
