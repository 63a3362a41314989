"""The reference's state-dict layouts: which PyTorch key holds which of our layers' weights, in both directions.

The reference (pytorch-CycleGAN-and-pix2pix, `models/networks.py`) builds each network as nested
`nn.Sequential`s, so its keys are positions: `model.10.conv_block.5.weight` is the second convolution of the
first residual block. Our networks name every layer (`block1_conv2`), so one table per architecture maps
the two (`generator_layout`, `discriminator_layout`), and `infer_architecture` reads the architecture back
from the keys and shapes of a state dict.

Weights are transposed between layouts: a PyTorch convolution is (out, in, kh, kw) and a Keras Conv2D kernel
(kh, kw, in, out); a PyTorch transposed convolution is (in, out, kh, kw) and a Keras Conv2DTranspose kernel
(kh, kw, out, in); both go over with the same axis order. Batch norm's weight, bias, running mean and variance
are Keras' gamma, beta, moving mean and variance. The reference's instance norm has no parameters; state dicts
of PyTorch before 0.4 still carry running statistics for it, which are ignored (as the reference's
`__patch_instance_norm_state_dict` does).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from cyclegan_tf import choices
from cyclegan_tf.errors import UserError

# (our layer name, the reference's module prefix, kind, whether the reference's layer has a bias)
Entry = tuple[str, str, str, bool]

_TO_KERAS = (2, 3, 1, 0)  # (out, in, kh, kw) -> (kh, kw, in, out); also (in, out, kh, kw) -> (kh, kw, out, in)
_TO_TORCH = (3, 2, 0, 1)
_IGNORED_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")  # under instance norm


@dataclass(frozen=True)
class Architecture:
    """A network as a state dict describes it: what `define_generator` / `define_discriminator` needs."""

    role: str  # "generator" or "discriminator"
    net: str  # netG (resnet_9blocks, ...) or netD (basic, n_layers, pixel)
    input_nc: int
    width: int  # ngf or ndf
    norm: str
    output_nc: int = 3  # generators
    n_blocks: int = 0  # resnet generators
    num_downs: int = 0  # U-Nets
    n_layers: int = 3  # PatchGANs
    dropout: bool = False  # resnet generators (it shifts the keys); U-Net dropout has no weights

    def describe(self) -> str:
        width = "ngf" if self.role == "generator" else "ndf"
        layers = f", n_layers_D {self.n_layers}" if self.net == "n_layers" else ""
        return f"{self.net} ({width} {self.width}, norm {self.norm}, {self.input_nc} channels in{layers})"


def _resnet_layout(n_blocks: int, dropout: bool, norm: str) -> list[Entry]:
    bias = norm.startswith("instance")  # the reference drops conv biases under batch norm and under no norm
    out = [("stem_conv", "model.1", "conv", bias), ("stem_norm", "model.2", "norm", False),
           ("down1_conv", "model.4", "conv", bias), ("down1_norm", "model.5", "norm", False),
           ("down2_conv", "model.7", "conv", bias), ("down2_norm", "model.8", "norm", False)]
    second = 6 if dropout else 5  # nn.Dropout sits between the two halves of a block
    for i in range(n_blocks):
        ours, theirs = f"block{i + 1}", f"model.{10 + i}.conv_block"
        out += [(f"{ours}_conv1", f"{theirs}.1", "conv", bias), (f"{ours}_norm1", f"{theirs}.2", "norm", False),
                (f"{ours}_conv2", f"{theirs}.{second}", "conv", bias),
                (f"{ours}_norm2", f"{theirs}.{second + 1}", "norm", False)]
    up = 10 + n_blocks
    out += [("up1_deconv", f"model.{up}", "conv", bias), ("up1_norm", f"model.{up + 1}", "norm", False),
            ("up2_deconv", f"model.{up + 3}", "conv", bias), ("up2_norm", f"model.{up + 4}", "norm", False),
            ("head_conv", f"model.{up + 7}", "conv", True)]
    return out


def _unet_prefix(level: int) -> str:
    """The reference's nested module of U-Net level `level` (0 = outermost)."""
    return "model.model" + (".1.model" if level else "") + ".3.model" * max(level - 1, 0)


def _unet_layout(num_downs: int, norm: str) -> list[Entry]:
    bias = norm.startswith("instance")
    out = [("down0_conv", "model.model.0", "conv", bias), ("up0_deconv", "model.model.3", "conv", True)]
    for level in range(1, num_downs):
        p = _unet_prefix(level)
        if level == num_downs - 1:  # innermost: relu, down conv, relu, up conv, up norm
            out += [(f"down{level}_conv", f"{p}.1", "conv", bias), (f"up{level}_deconv", f"{p}.3", "conv", bias),
                    (f"up{level}_norm", f"{p}.4", "norm", False)]
        else:  # relu, down conv, down norm, submodule, relu, up conv, up norm
            out += [(f"down{level}_conv", f"{p}.1", "conv", bias), (f"down{level}_norm", f"{p}.2", "norm", False),
                    (f"up{level}_deconv", f"{p}.5", "conv", bias), (f"up{level}_norm", f"{p}.6", "norm", False)]
    return out


def generator_layout(arch: Architecture) -> list[Entry]:
    """The map between a generator's layers and the reference's keys."""
    if arch.net.startswith("resnet"):
        return _resnet_layout(arch.n_blocks, arch.dropout, arch.norm)
    return _unet_layout(arch.num_downs, arch.norm)


def discriminator_layout(arch: Architecture) -> list[Entry]:
    """The map between a discriminator's layers and the reference's keys."""
    bias = arch.norm.startswith("instance")
    if arch.net == "pixel":
        return [("conv0", "net.0", "conv", True), ("conv1", "net.2", "conv", bias), ("norm1", "net.3", "norm", False),
                ("logits", "net.5", "conv", bias)]
    n = arch.n_layers
    out = [("conv0", "model.0", "conv", True)]
    for i in range(1, n + 1):
        out += [(f"conv{i}", f"model.{3 * i - 1}", "conv", bias), (f"norm{i}", f"model.{3 * i}", "norm", False)]
    return out + [("logits", f"model.{3 * n + 2}", "conv", True)]


def layout(arch: Architecture) -> list[Entry]:
    return generator_layout(arch) if arch.role == "generator" else discriminator_layout(arch)


# --- reading an architecture from a state dict ------------------------------------------------------------------

def _norm(state: dict, norm_key: str, conv_key: str) -> str:
    if f"{norm_key}.weight" in state:  # batch norm keeps running statistics; an affine instance norm does not
        return "batch" if f"{norm_key}.running_mean" in state else "instance_affine"
    return "instance" if f"{conv_key}.bias" in state else "none"


def infer_architecture(state: dict[str, np.ndarray]) -> Architecture:
    """The network a reference state dict holds, read from its keys and shapes.

    Args:
        state: {key: array} (`pth.load_state_dict`).

    Returns:
        Its `Architecture`; a `UserError` when the keys match none of the reference's networks.
    """
    if "model.model.0.weight" in state:  # U-Net
        num_downs = 1
        while f"{_unet_prefix(num_downs)}.1.weight" in state:
            num_downs += 1
        net = f"unet_{2**num_downs}"
        if net not in choices.GENERATORS:
            raise UserError(f"a U-Net with {num_downs} downsamplings: cyclegan-tf builds 5 or more")
        first = state["model.model.0.weight"]
        return Architecture("generator", net, int(first.shape[1]), int(first.shape[0]),
                            _norm(state, f"{_unet_prefix(1)}.2", f"{_unet_prefix(1)}.1"),
                            output_nc=int(state["model.model.3.weight"].shape[1]), num_downs=num_downs)
    if "model.1.weight" in state and "model.10.conv_block.1.weight" in state:  # ResNet
        n_blocks = 0
        while f"model.{10 + n_blocks}.conv_block.1.weight" in state:
            n_blocks += 1
        net = f"resnet_{n_blocks}blocks"
        first = state["model.1.weight"]
        return Architecture("generator", net, int(first.shape[1]), int(first.shape[0]),
                            _norm(state, "model.2", "model.1"),
                            output_nc=int(state[f"model.{17 + n_blocks}.weight"].shape[0]), n_blocks=n_blocks,
                            dropout="model.10.conv_block.6.weight" in state)
    if "net.0.weight" in state:  # pixel discriminator
        first = state["net.0.weight"]
        return Architecture("discriminator", "pixel", int(first.shape[1]), int(first.shape[0]),
                            _norm(state, "net.3", "net.2"), n_layers=0)
    if "model.0.weight" in state and np.ndim(state["model.0.weight"]) == 4:  # PatchGAN
        convs = [k for k in state if k.startswith("model.") and k.endswith(".weight") and np.ndim(state[k]) == 4]
        n_layers = len(convs) - 2
        first = state["model.0.weight"]
        return Architecture("discriminator", "basic" if n_layers == 3 else "n_layers", int(first.shape[1]),
                            int(first.shape[0]), _norm(state, "model.3", "model.2"), n_layers=n_layers)
    keys = ", ".join(list(state)[:4])
    raise UserError(f"not a network of the reference (keys: {keys}, ...): expected a ResNet or U-Net generator, a "
                    "PatchGAN or a pixel discriminator")


# --- moving weights --------------------------------------------------------------------------------------------

def _torch_weights(layer: keras.layers.Layer, prefix: str, kind: str, reference_bias: bool
                   ) -> list[tuple[str, keras.Variable, str]]:
    """(reference key, our variable, how to convert) of one layer."""
    if kind == "conv":
        out = [(f"{prefix}.weight", layer.kernel, "kernel")]
        if layer.use_bias:
            out.append((f"{prefix}.bias", layer.bias, "bias" if reference_bias else "extra_bias"))
        return out
    if isinstance(layer, keras.layers.BatchNormalization):
        return [(f"{prefix}.weight", layer.gamma, "vector"), (f"{prefix}.bias", layer.beta, "vector"),
                (f"{prefix}.running_mean", layer.moving_mean, "vector"),
                (f"{prefix}.running_var", layer.moving_variance, "vector")]
    if getattr(layer, "gamma", None) is not None:  # an affine instance norm
        return [(f"{prefix}.weight", layer.gamma, "vector"), (f"{prefix}.bias", layer.beta, "vector")]
    return []


def _weights(network: keras.Model, entries: list[Entry]) -> list[tuple[str, keras.Variable, str]]:
    found = []
    names = {layer.name for layer in network.layers}
    for name, prefix, kind, bias in entries:
        if kind == "norm" and name not in names:  # norm "none": the reference keeps an empty placeholder there
            continue
        found += _torch_weights(network.get_layer(name), prefix, kind, bias)
    return found


def to_state_dict(network: keras.Model, arch: Architecture) -> dict[str, np.ndarray]:
    """A network's weights as the reference's state dict (float32; int64 `num_batches_tracked` under batch norm).

    A conv bias that the reference's layer does not have (ours keep theirs under `--norm none`) must be zero.
    """
    state: dict[str, np.ndarray] = {}
    for key, variable, how in _weights(network, layout(arch)):
        value = np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float32)
        if how == "extra_bias":
            if np.any(value):
                raise UserError(f"{network.name}: layer {variable.path} has a bias the reference's network has no "
                                "place for (norm none): it cannot be exported to PyTorch")
            continue
        state[key] = value.transpose(_TO_TORCH) if how == "kernel" else value
        if key.endswith(".running_var"):
            state[key[: -len("running_var")] + "num_batches_tracked"] = np.array(0, dtype=np.int64)
    return state


def load_into(network: keras.Model, arch: Architecture, state: dict[str, np.ndarray], source: str) -> None:
    """Assign a reference state dict to one of our networks, all or nothing.

    Args:
        network: built from `arch` (`define_generator` / `define_discriminator`).
        arch: what the state dict holds (`infer_architecture`, with the user's overrides).
        state: {key: array}.
        source: the file, named in errors.

    Raises:
        UserError: one line listing missing, unexpected and misshapen keys.
    """
    expected = {key: (variable, how) for key, variable, how in _weights(network, layout(arch))}
    wanted = {key for key, (_, how) in expected.items() if how != "extra_bias"}
    given = {key for key in state if not key.endswith(_IGNORED_SUFFIXES) or key in wanted}
    missing, unexpected = sorted(wanted - given), sorted(given - wanted - set(expected))
    misshapen = []
    for key in sorted(wanted & given):
        variable, how = expected[key]
        shape = tuple(np.shape(state[key]))
        ours = tuple(variable.shape)
        theirs = tuple(ours[i] for i in _TO_TORCH) if how == "kernel" else ours
        if shape != theirs:
            misshapen.append(f"{key} {shape} vs {theirs}")
    if missing or unexpected or misshapen:
        problems = [f"{what} ({len(keys)}): {', '.join(keys[:4])}{', ...' if len(keys) > 4 else ''}"
                    for what, keys in (("missing", missing), ("unexpected", unexpected), ("misshapen", misshapen))
                    if keys]
        raise UserError(f"{source} does not fit {arch.describe()}: " + "; ".join(problems))
    for key, (variable, how) in expected.items():
        if how == "extra_bias" and key not in state:
            variable.assign(np.zeros(variable.shape, np.float32))
        else:
            value = np.asarray(state[key], np.float32)
            variable.assign(value.transpose(_TO_KERAS) if how == "kernel" else value)
