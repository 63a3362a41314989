"""A run's generator as a file another runtime runs: .keras, SavedModel, ONNX, LiteRT (and PyTorch, see interop).

What is exported is a whole translation (`inference.graph.ImageTranslator`): uint8 images (N, H, W, C) of any
height and width in, uint8 images of the same size out, with the scaling and the reflect-padding to the
generator's size multiple inside the graph (`raw=True`: float32 [-1, 1] in and out instead). Keras exports it
(`model.export`, `model.save`); beside each file a JSON says what it is (direction, channels, size multiple,
the run and checkpoint it came from, and the file's SHA-256). A DCGAN run's generator is exported as a whole
generation instead (`inference.graph.ImageGenerator`): float32 noise (N, nz) in, uint8 images out. A run of
scientific images (`data.scientific`: N bands, 16-bit, float) exports float32 stored values in and out (its value
ranges inside the graph, outputs unrounded): every format takes float, none takes uint16.

ONNX needs tf2onnx, checking needs onnxruntime and LiteRT's interpreter ai-edge-litert: the `[export]` extra.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from cyclegan_tf.choices import EXPORT_FORMATS, QUANTIZE_MODES
from cyclegan_tf.data.scientific import direction_scaling
from cyclegan_tf.errors import UserError
from cyclegan_tf.files import sha256_of, write_text_atomic
from cyclegan_tf.inference.graph import ImageGenerator, ImageTranslator, image_translator
from cyclegan_tf.inference.sampler import noise, noise_generator
from cyclegan_tf.inference.translator import load_generators
from cyclegan_tf.models.registry import generates, run_directions, translating_directions
from cyclegan_tf.nn.layers import portable_ops
from cyclegan_tf.pixels import to_signed
from cyclegan_tf.runs.checkpoints import Checkpoint

SUFFIX = {"keras": ".keras", "savedmodel": "", "onnx": ".onnx", "litert": ".tflite"}
NEEDS = {"onnx": ("tf2onnx", "onnx"), "litert": ()}  # modules each format's exporter imports
EXTRA = 'pip install "cyclegan-tf[export]"'


@dataclass
class ExportInfo:
    """The JSON written beside an exported file."""

    format: str
    direction: str  # "AtoB" or "BtoA"; "generated" for a DCGAN's generator
    input: str  # what goes in and comes out
    channels: int  # of the input images (a DCGAN's: the size of z)
    output_channels: int
    size_multiple: int  # input sides are padded to a multiple of this (a DCGAN's: its image size)
    min_size: int
    run: str
    checkpoint: str
    step: int
    epoch: int
    quantize: str
    sha256: str


def require(*modules: str) -> None:
    """A `UserError` naming the extra to install when one of `modules` is missing."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"{', '.join(missing)} is not installed: {EXTRA}")


def translation_model(checkpoint: Checkpoint, direction: str | None = None, raw: bool = False
                      ) -> tuple[str, ImageTranslator]:
    """(direction, the whole translation of that direction's generator) of an open checkpoint."""
    config = checkpoint.config
    direction = direction or translating_directions(config)[0]
    (generator,) = load_generators(checkpoint, [direction]).values()
    # a run of scientific images: float32 stored values in and out, scaled by the run's value ranges in the graph
    ranges = [None if raw or scale is None else (scale.low, scale.high)
              for scale in direction_scaling(config, direction)]
    return direction, image_translator(generator, config.netG, raw=raw, in_range=ranges[0], out_range=ranges[1])


def run_calibration_images(config, direction: str | None = None, limit: int = 50) -> list[np.ndarray]:
    """Up to `limit` of a run's test inputs of `direction` (uint8) for int8 calibration; a DCGAN's: noise vectors."""
    if generates(config):
        return list(noise(limit, config.nz, seed=0))
    from cyclegan_tf.data.registry import resolve_dataroot
    from cyclegan_tf.data.splits import test_images

    direction = direction or run_directions(config)[0]
    return list(test_images(config, resolve_dataroot(config), direction, limit).inputs)


def generation_model(checkpoint: Checkpoint, raw: bool = False) -> ImageGenerator:
    """The whole generation of a DCGAN run's open checkpoint: float32 noise (N, nz) in, uint8 images out."""
    return ImageGenerator(noise_generator(checkpoint), raw=raw)


def _litert_options(quantize: str, calibration: list[np.ndarray] | None, raw: bool) -> dict:
    options: dict = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantize == "fp16":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
        options["target_spec"]["supported_types"] = [tf.float16]
    elif quantize == "int8":
        if not calibration:
            raise UserError("--quantize int8 needs calibration images (the run's test images)")
        dtype = np.float32 if raw else np.uint8

        def representative():
            for sample in calibration:
                if sample.dtype == np.uint8:  # an image (a noise vector is float32 as it is)
                    sample = (to_signed(sample) if raw else sample).astype(dtype)
                yield [sample[None]]

        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
        options["representative_dataset"] = representative
    return options


def _values(value_range: tuple[float, float] | None) -> str:
    """How an exported translation's images are given: uint8, or float32 values scaled from low..high."""
    return "uint8" if value_range is None else f"float32 values {value_range[0]:g}..{value_range[1]:g}"


def export_model(checkpoint: Checkpoint, fmt: str, output: Path | str, direction: str | None = None,
                 raw: bool = False, quantize: str = "none", calibration: list[np.ndarray] | None = None
                 ) -> tuple[Path, ExportInfo]:
    """Export one direction of an open checkpoint as a whole translation.

    Args:
        checkpoint: an open checkpoint (`runs.checkpoints.open_checkpoint`).
        fmt: "keras", "savedmodel", "onnx" or "litert".
        output: the file (or folder for a SavedModel) to write; its suffix is added when missing.
        direction: "AtoB" or "BtoA"; None: the run's first.
        raw: float32 [-1, 1] in and out instead of uint8.
        quantize: LiteRT only: "none", "fp16" or "int8" (calibrated on `calibration`, uint8 images).
        calibration: uint8 (H, W, C) images for int8 calibration.

    Returns:
        (the file written, what the JSON beside it says).
    """
    if fmt not in EXPORT_FORMATS or fmt == "torch":
        raise UserError(f"format must be one of {', '.join(f for f in EXPORT_FORMATS if f != 'torch')}")
    if quantize not in QUANTIZE_MODES:
        raise UserError(f"--quantize must be one of {', '.join(QUANTIZE_MODES)}")
    if quantize != "none" and fmt != "litert":
        raise UserError("--quantize applies to --format litert only")
    require(*NEEDS.get(fmt, ()))
    config = checkpoint.config
    if generates(config):  # noise in, images out
        model = generation_model(checkpoint, raw)
        spec = tf.TensorSpec((None, model.nz), tf.float32, name="z")
        size, channels = model.image_shape[0], model.image_shape[-1]
        direction, what, sizes = "generated", f"float32 noise z (N, {model.nz}) in, {channels}-channel images out", size
        model_channels, output_channels = model.nz, channels
    else:
        direction, model = translation_model(checkpoint, direction, raw)
        spec = tf.TensorSpec((None, None, None, model.channels), model.pixel_dtype, name="images")
        what = ("float32 [-1, 1] (N, H, W, C)" if raw else "uint8 (N, H, W, C)") + " in and out"
        if model.in_range or model.out_range:  # scientific images: their stored values, unrounded
            what = (f"{_values(model.in_range)} (N, H, W, {model.channels}) in, "
                    f"{_values(model.out_range)} (N, H, W, {model.output_channels}) out")
        model_channels, output_channels, sizes = model.channels, model.output_channels, None
    output = Path(output)
    if SUFFIX[fmt] and output.suffix != SUFFIX[fmt]:
        output = output.with_name(output.name + SUFFIX[fmt])
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "keras":  # the layers themselves: they pick their kernels where they are loaded
        model.save(output)
    else:  # a traced graph: of ops that TF Serving, TF.js, ONNX and LiteRT converters all take
        with portable_ops():
            if fmt == "savedmodel":
                model.export(str(output), format="tf_saved_model", input_signature=[spec], verbose=False)
            elif fmt == "onnx":
                model.export(str(output), format="onnx", input_signature=[spec], verbose=False)
            else:
                model.export(str(output), format="litert", input_signature=[spec], verbose=False,
                             **_litert_options(quantize, calibration, raw))
    info = ExportInfo(fmt, direction, what, model_channels, output_channels, sizes or model.multiple,
                      sizes or model.min_size, str(config.run_dir), str(checkpoint.path), int(checkpoint.state["step"]),
                      int(checkpoint.state["epoch"]), quantize, sha256_of(output))
    write_text_atomic(Path(f"{output}.json"), json.dumps(asdict(info), indent=2) + "\n")
    return output, info
