"""The workarounds in `cyclegan_tf.compat` are still needed: each fails here once Keras no longer needs it
(keras-team/keras#20585), and then it goes (with this test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.test_multiworker import free_port

# A plain Keras model (not ours) trained by `fit` on tuple batches under MultiWorkerMirroredStrategy, with one of
# the two workarounds: its last line says how `fit` ended.
WORKER = """
import sys
import keras
import tensorflow as tf
from cyclegan_tf.compat import SkipSymbolicBuild, multiworker_logs

skip_build, shaped_logs = sys.argv[1] == "1", sys.argv[2] == "1"


class Plain(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.dense.build((None, 2))

    def train_step(self, data):
        inputs, targets = data
        logs = {"loss": tf.reduce_mean(self.dense(inputs) - targets)}
        return multiworker_logs(logs) if shaped_logs else logs


model_class = type("Built", (SkipSymbolicBuild, Plain), {}) if skip_build else Plain
with tf.distribute.MultiWorkerMirroredStrategy().scope():
    model = model_class()
    model.compile()
data = tf.data.Dataset.from_tensor_slices((tf.ones((8, 2)), tf.ones((8, 1)))).batch(2)
try:
    model.fit(data, epochs=1, verbose=0)
    print("fit: trained")
except ValueError as error:
    print("fit:", " ".join(str(error).split())[:160])
"""


def cluster_of_two(*args: str) -> list[subprocess.Popen]:
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    return [subprocess.Popen([sys.executable, "-c", WORKER, *args],
                             env={**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                                         "task": {"type": "worker", "index": i}})},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]


def test_keras_still_needs_both_multiworker_workarounds():
    # both at once: test_multiworker.py trains our models on two workers
    clusters = {"no skipped build": cluster_of_two("0", "1"), "no shaped logs": cluster_of_two("1", "0")}
    ended = {}
    for name, workers in clusters.items():
        outputs = [worker.communicate(timeout=240) for worker in workers]
        ended[name] = [out.strip().splitlines()[-1] if out.strip() else err[-800:] for out, err in outputs]
    # If one of these trains, Keras fixed that part of keras-team/keras#20585: remove its workaround from compat.py.
    assert all("Attempt to convert a value (PerReplica" in line for line in ended["no skipped build"]), ended
    assert all("Invalid reduction dimension 0" in line for line in ended["no shaped logs"]), ended
