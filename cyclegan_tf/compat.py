"""Workarounds for bugs of the libraries we use, each naming its upstream issue; `tests/test_compat.py` fails when
one of them is no longer needed, and the private name it touches is touched here only.

keras-team/keras#20585 (Keras 3's `fit` under `tf.distribute.MultiWorkerMirroredStrategy`), seen with Keras 3.15
and TensorFlow 2.21 on two workers:
- `fit` first builds the model symbolically from a batch of the epoch's iterator, and on a tuple batch it fails
  ("Attempt to convert a value (PerReplica ...)"). Our models are built when they are made (functional networks,
  optimizers, pools and trackers in `compile`), so `SkipSymbolicBuild` skips that step.
- `fit` reduces each step's logs across workers with `strategy.reduce(..., axis=0)`, which fails on a scalar
  ("Invalid reduction dimension 0"): `multiworker_logs` gives each a dimension of 1.
"""

from __future__ import annotations

from cyclegan_tf.lazy import tf


class SkipSymbolicBuild:
    """A mixin for a `keras.Model` that is built before `fit`: `fit` takes no batch to build it from."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        return None


def multiworker_logs(logs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """A step's logs as `fit` can reduce them: under MultiWorkerMirroredStrategy each a float32 of shape (1,)."""
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return {name: tf.reshape(tf.cast(value, tf.float32), [1]) for name, value in logs.items()}
    return logs
