"""tf.distribute: N replicas train as one replica on the global batch, on 2 logical CPU devices.

Each test runs in a process of its own: logical devices must be set up before TensorFlow starts.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys
import tensorflow as tf
(cpu,) = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from cyclegan_tf.config import make_config
from cyclegan_tf.errors import UserError
from cyclegan_tf.training.trainer import train

data_dir, runs, norm = sys.argv[1], sys.argv[2], sys.argv[3]
results = {}
for strategy in ("none", "mirrored"):
    cfg = make_config(dict(dataset="demo", data_dir=data_dir, name=strategy, checkpoints_dir=runs, ngf=4, ndf=4,
                           load_size=36, crop_size=32, preprocess="resize_and_crop", max_dataset_size=6, batch_size=2,
                           n_epochs=1, n_epochs_decay=0, pool_size=0, norm=norm, deterministic=True,
                           strategy=strategy, print_freq=1))
    results[strategy] = train(cfg, verbose=0)
one, two = results["none"], results["mirrored"]
rows = [open(f"{runs}/{name}/loss_log.csv").read().splitlines() for name in ("none", "mirrored")]
losses = [[[float(v) for v in row.split(",")[2:-2]] for row in log[1:]] for log in rows]  # without lr, images/s
x = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
weights = [{w.path: w.numpy() for w in r.model.weights} for r in (one, two)]
out = {
    "steps": [one.step, two.step],
    # relative: loss_log.csv keeps 6 significant digits
    "loss_error_per_step": [max(abs(a - b) / max(abs(a), abs(b), 1e-3) for a, b in zip(s1, s2))
                            for s1, s2 in zip(*losses)],
    "kernel_error": max(float(np.abs(weights[0][k] - weights[1][k]).max()) for k in weights[0]
                        if not k.endswith("bias")),
    "output_error": max(float(np.abs(np.asarray(getattr(one.model, n)(x)) - np.asarray(getattr(two.model, n)(x)))
                              .max()) for n in ("G_AB", "G_BA", "D_A", "D_B")),
    "config": {k: v for k, v in json.load(open(f"{runs}/mirrored/config.json")).items()
               if k in ("strategy", "strategy_used", "replicas")},
    "synchronized": [l.synchronized for l in two.model.D_A.layers if hasattr(l, "synchronized")],
}
# resume the 2-replica run on one replica, and a global batch that does not divide between the replicas
resumed = train(make_config({"name": "mirrored", "checkpoints_dir": runs, "continue_train": True, "strategy": "none",
                             "n_epochs": 2}), verbose=0)
out["resumed_step"] = resumed.step
try:
    train(make_config({**dict(dataset="demo", data_dir=data_dir, name="odd", checkpoints_dir=runs), "batch_size": 3,
                       "strategy": "mirrored"}), verbose=0)
except UserError as error:
    out["odd_batch"] = str(error)
print(json.dumps(out))
"""


def run(norm: str, data_dir, tmp_path) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(data_dir), str(tmp_path), norm], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_replicas_train_as_one_replica_on_the_global_batch(tmp_path, data_dir):
    out = run("instance", data_dir, tmp_path)
    assert out["steps"] == [3, 3]
    # instance norm is per image: the same losses (relative), weights and outputs to float precision after 3
    # steps (conv biases that feed an instance norm are left out: they cannot change any output, their true
    # gradient is 0, and Adam turns the rounding noise there into steps of up to lr)
    assert max(out["loss_error_per_step"]) < 1e-5 and out["kernel_error"] < 1e-5 and out["output_error"] < 1e-5, out
    assert out["config"] == {"strategy": "mirrored", "strategy_used": "mirrored", "replicas": 2}
    assert out["resumed_step"] == 6  # the 2-replica run resumed on one replica
    assert out["odd_batch"] == ("--batch-size 3 does not divide between 2 replicas (--strategy mirrored): use a "
                                "multiple of 2")


BATCH_NORM = """
import json
import tensorflow as tf
(cpu,) = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from cyclegan_tf.nn.networks import define_discriminator

images = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype("float32")
single = define_discriminator("basic", 3, 8, "batch", name="D")
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():  # built under 2 replicas: synchronized batch norm
    mirrored = define_discriminator("basic", 3, 8, "batch", name="D")
mirrored.set_weights(single.get_weights())
# each replica sees half of the global batch; training=True normalizes with the batch's statistics
halves = strategy.experimental_distribute_values_from_function(
    lambda context: images[2 * context.replica_id_in_sync_group: 2 * context.replica_id_in_sync_group + 2])
per_replica = strategy.run(lambda x: mirrored(x, training=True), args=(halves,))
together = np.concatenate([np.asarray(t) for t in strategy.experimental_local_results(per_replica)])
unsynchronized = np.concatenate([np.asarray(single(images[i:i + 2], training=True)) for i in (0, 2)])
whole = np.asarray(single(images, training=True))
print(json.dumps({"synchronized": [l.synchronized for l in mirrored.layers if hasattr(l, "synchronized")],
                  "error": float(np.abs(together - whole).max()),
                  "per_replica_error": float(np.abs(unsynchronized - whole).max())}))
"""


def test_batch_norm_is_synchronized_across_replicas():
    done = subprocess.run([sys.executable, "-c", BATCH_NORM], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["synchronized"] == [True, True, True]
    # two replicas of 2 images normalize as one batch of 4, which per-replica statistics would not
    assert out["error"] < 1e-5 < 1e-2 < out["per_replica_error"], out


FLOAT16 = """
import json, sys
import tensorflow as tf
(cpu,) = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from cyclegan_tf.config import make_config
from cyclegan_tf.training.callbacks import skipped_steps
from cyclegan_tf.training.trainer import train

cfg = make_config(dict(dataset="demo", data_dir=sys.argv[1], name="fp16", checkpoints_dir=sys.argv[2], ngf=4, ndf=4,
                       load_size=36, crop_size=32, preprocess="resize_and_crop", max_dataset_size=6, batch_size=2,
                       n_epochs=1, n_epochs_decay=0, pool_size=4, strategy="mirrored", mixed_precision="fp16"))
result = train(cfg, verbose=0)
print(json.dumps({"step": result.step, "finite": bool(all(np.isfinite(v).all() for v in result.history.values())),
                  "skipped": skipped_steps(result.model),
                  "scales": [float(o.dynamic_scale.numpy()) for o in (result.model.g_optimizer,
                                                                      result.model.d_optimizer)]}))
"""


def test_float16_loss_scaling_and_image_pools_under_two_replicas(tmp_path, data_dir):
    done = subprocess.run([sys.executable, "-c", FLOAT16, str(data_dir), str(tmp_path)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["step"] == 3 and out["finite"]
    # each skipped step (non-finite gradients) halved the loss scale from its start of 2**15, once for all replicas
    for player, scale in zip(("G", "D"), out["scales"], strict=True):
        assert 2 ** out["skipped"][player] * scale == 2**15, out
