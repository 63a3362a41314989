"""Mixed precision: which Keras dtype policy `--mixed-precision` means on this machine, and building under it.

Under a mixed policy the layers compute in bfloat16/float16 while variables stay float32; the networks keep
the image-writing layers, the ResNet's residual sum and the discriminators' outputs in float32 (`nn.networks`),
and losses and the image pools are float32 too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from cyclegan_tf.lazy import keras, tf

if TYPE_CHECKING:
    from cyclegan_tf.config import TrainConfig

# oneDNN's instruction sets below AVX512_CORE_BF16: capped at one of these (`ONEDNN_MAX_CPU_ISA`), oneDNN has no
# bfloat16 kernels and TensorFlow's bfloat16 convolutions fail.
_ISAS_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")


def cpu_has_native_bfloat16(cpuinfo: str | None = None, environ: dict[str, str] | None = None) -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX) and oneDNN may use it.

    Args:
        cpuinfo: the text of /proc/cpuinfo (read when None).
        environ: the environment (os.environ when None): `ONEDNN_MAX_CPU_ISA` (or its old name
            `DNNL_MAX_CPU_ISA`) below AVX512_CORE_BF16 keeps oneDNN off the hardware's bfloat16.
    """
    environ = os.environ if environ is None else environ
    cap = (environ.get("ONEDNN_MAX_CPU_ISA") or environ.get("DNNL_MAX_CPU_ISA") or "").strip().upper()
    if cap in _ISAS_WITHOUT_BF16:
        return False
    if cpuinfo is None:
        try:
            cpuinfo = open("/proc/cpuinfo").read()
        except OSError:
            return False
    return "avx512_bf16" in cpuinfo or "amx_bf16" in cpuinfo


def dtype_policy(mixed_precision: str) -> str:
    """The Keras dtype policy for `--mixed-precision` off|bf16|fp16|auto."""
    if mixed_precision == "auto":
        if tf.config.list_physical_devices("GPU"):
            mixed_precision = "fp16"
        else:
            mixed_precision = "bf16" if cpu_has_native_bfloat16() else "off"
    policies = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
    if mixed_precision not in policies:
        raise ValueError(f"mixed_precision must be off, bf16, fp16 or auto, not {mixed_precision!r}")
    return policies[mixed_precision]


def build_under_policy(cfg: TrainConfig, make: Callable[[TrainConfig], dict]) -> dict:
    """`make(cfg)` with the Keras dtype policy of `--mixed-precision` (layers take it when they are made).

    The previous global policy is restored afterwards.

    Args:
        cfg: the run's configuration; its `mixed_precision` picks the policy.
        make: builds the networks from `cfg`, e.g. `CycleGAN.networks`.

    Returns:
        What `make` returns: {name: network}.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype_policy(cfg.mixed_precision))
    try:
        return make(cfg)
    finally:
        keras.config.set_dtype_policy(previous)
