"""Every list of names the toolkit accepts, in one place and free of TensorFlow.

`TrainConfig`'s choices, the CLI's options and the registries read these lists: the network builders
(`nn.networks.GENERATORS`, `DISCRIMINATORS`), the norms and initialisations of `nn.networks`, the GAN
losses (`nn.losses`) and the model builders (`models.BUILDERS`). `tests/test_house.py` checks that every
registry's keys equal its list here, so a name added in one place and not the other fails a test.
"""

import re


def generator_depth(name: str) -> tuple[str, int] | None:
    """("resnet", residual blocks) or ("unet", downsamplings) of a generator name, or None if it names none.

    `resnet_<N>blocks` for any N >= 1; `unet_<size>` for a power of two size >= 32, whose depth is log2(size)
    (unet_256: 8 downsamplings, so it takes multiples of 256 px).
    """
    match = re.fullmatch(r"resnet_(\d+)blocks", name)
    if match and int(match.group(1)) >= 1:
        return "resnet", int(match.group(1))
    match = re.fullmatch(r"unet_(\d+)", name)
    if match:
        size = int(match.group(1))
        depth = size.bit_length() - 1
        if size == 2**depth and depth >= 5:
            return "unet", depth
    return None


class GeneratorNames(tuple):
    """The reference's generator names; `in` also accepts every `resnet_<N>blocks` and `unet_<size>`."""

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and generator_depth(name) is not None

    def describe(self) -> str:
        return f"{', '.join(self)}, or resnet_<N>blocks (any N) or unet_<size> (a power of two, 32 or more)"


GENERATORS = GeneratorNames(("resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128"))
DISCRIMINATORS = ("basic", "n_layers", "pixel")
NORMS = ("instance", "batch", "none", "instance_affine")  # instance_affine: a learned scale and offset per channel
ACTIVATIONS = ("relu", "leaky_relu")  # the generator's (leaky: slope 0.2)
UPSAMPLE_MODES = ("deconv", "nearest", "bilinear")  # a generator's way up: transposed conv, or resize + conv
CYCLE_LOSSES = ("l1", "l2")  # the cycle (and identity) loss: the reference's L1, or squared error
LR_POLICIES = ("linear", "step", "cosine", "plateau")  # the reference's --lr-policy
INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")
GAN_MODES = ("lsgan", "vanilla", "hinge", "wgangp")
PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
CYCLES = ("forward", "backward", "both")  # which cycle losses count (the CycleGAN ablation)
MIXED_PRECISION = ("off", "bf16", "fp16", "auto")
JIT_COMPILE = ("auto", "on", "off")
ON_UNHEALTHY = ("warn", "stop", "off")  # what training does when a health detector fires (`training.health`)
STRATEGIES = ("auto", "none", "mirrored", "multiworker")  # tf.distribute strategies of `train --strategy`

# A run translates A -> B (its generator G_AB) and, for a CycleGAN, B -> A (G_BA).
DIRECTIONS = ("AtoB", "BtoA")
DOMAINS = {"AtoB": ("A", "B"), "BtoA": ("B", "A")}  # (source domain, target domain)
REVERSE = {"AtoB": "BtoA", "BtoA": "AtoB"}
GENERATOR_OF = {"AtoB": "G_AB", "BtoA": "G_BA"}  # a CycleGAN's generator attribute per direction

DATASET_KINDS = ("unpaired", "aligned", "single")  # CycleGAN folders, pix2pix A|B images, colorization
AUGMENTS = ("none", "flip-crop", "diffaugment")  # a DCGAN's data augmentation (`--augment`)

EXPORT_FORMATS = ("keras", "savedmodel", "onnx", "litert", "torch")  # `cyclegan-tf export --format`
QUANTIZE_MODES = ("none", "fp16", "int8")  # LiteRT export
TEMPORAL_MODES = ("running", "off")  # `translate` of a video: steady instance-norm statistics, or each frame alone
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".webm")  # what `translate` reads and writes as a clip


def is_video(path) -> bool:
    """Whether `path` (a str or Path) names a video file by its extension (`VIDEO_EXTENSIONS`)."""
    return str(path).lower().endswith(VIDEO_EXTENSIONS)
