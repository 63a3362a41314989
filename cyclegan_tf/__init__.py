"""cyclegan-tf: image-to-image translation (CycleGAN, CUT/FastCUT, pix2pix, colorization) and image
generation (DCGAN) in Keras 3 / TensorFlow 2.

The Python API, without importing TensorFlow until one of these is used:

    from cyclegan_tf import TrainConfig, make_config, train, load_translator, evaluate_run

    result = train(TrainConfig(dataroot="data/horse2zebra", name="h2z", n_epochs=50, n_epochs_decay=50))
    to_zebra = load_translator(result.run_dir, "AtoB")    # uint8 HxWx3 in, uint8 HxWx3 out, any size

The generators of every checkpoint are also Keras model files (`checkpoints/*/G_AB.keras`) that
`keras.saving.load_model` opens once `cyclegan_tf` is imported: importing it registers our layers with Keras
(at once if Keras is already imported, else as soon as it is).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any

# name -> module that defines it; each is imported on first use (see __getattr__)
_API = {
    "TrainConfig": "cyclegan_tf.config",
    "make_config": "cyclegan_tf.config",
    "UserError": "cyclegan_tf.errors",
    "train": "cyclegan_tf.training.trainer",
    "TrainResult": "cyclegan_tf.training.trainer",
    "TrainingInterrupted": "cyclegan_tf.training.trainer",
    "Translator": "cyclegan_tf.inference.translator",
    "load_translator": "cyclegan_tf.inference.translator",
    "translate_files": "cyclegan_tf.inference.translator",
    "translate_frames": "cyclegan_tf.inference.temporal",
    "translate_video": "cyclegan_tf.inference.video",
    "evaluate_run": "cyclegan_tf.evaluation.evaluate",
    "model_exact_scores": "cyclegan_tf.evaluation.exact",
    "resolve_dataset": "cyclegan_tf.data.registry",
    "import_torch": "cyclegan_tf.interop.importer",
    "export_torch": "cyclegan_tf.interop.importer",
    "pretrained_run": "cyclegan_tf.interop.pretrained",
}
__all__ = sorted(_API)
# modules that register Keras objects (layers, the schedule, the exported whole translation)
_KERAS_OBJECTS = ("cyclegan_tf.nn.layers", "cyclegan_tf.nn.color", "cyclegan_tf.nn.schedules",
                  "cyclegan_tf.inference.graph")


# the names whose modules import no TensorFlow
_TF_FREE = {"TrainConfig", "make_config", "UserError"}


def __getattr__(name: str) -> Any:
    if name in _API:
        if name not in _TF_FREE:  # TensorFlow's start-up lines (CUDA, oneDNN) are not the user's business
            from cyclegan_tf.startup import import_tensorflow_quietly

            import_tensorflow_quietly()
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'cyclegan_tf' has no attribute {name!r}")


def _register_keras_objects() -> None:
    for module in _KERAS_OBJECTS:
        importlib.import_module(module)


class _AfterKerasImport(importlib.abc.MetaPathFinder):
    """Registers our Keras objects right after `keras` is imported, so that `import cyclegan_tf` stays free of
    TensorFlow and a later `keras.saving.load_model("G_AB.keras")` still finds our layers."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            _register_keras_objects()

        spec.loader.exec_module = exec_module
        return spec


if "keras" in sys.modules:
    _register_keras_objects()
elif not any(isinstance(finder, _AfterKerasImport) for finder in sys.meta_path):
    sys.meta_path.insert(0, _AfterKerasImport())
