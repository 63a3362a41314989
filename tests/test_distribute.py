"""tf.distribute: N replicas train as one replica on the global batch, on 2 logical CPU devices.

Each test runs in a process of its own: logical devices must be set up before TensorFlow starts.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import csv, json, sys
import tensorflow as tf
(cpu,) = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from cyclegan_tf.config import make_config
from cyclegan_tf.errors import UserError
from cyclegan_tf.training.trainer import train

data_dir, runs, norm, bug = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
if bug == "first_replica_only":  # a broken step, to see the bounds fail: replica 1's gradients are lost
    import cyclegan_tf.models.base as base
    import cyclegan_tf.models.cycle_gan as cycle_gan
    def first_replica_only(loss):
        context = tf.distribute.get_replica_context()
        keep = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), loss.dtype)
        return base.per_replica(loss) * keep
    cycle_gan.per_replica = first_replica_only
x = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
NETWORKS = ("G_AB", "G_BA", "D_A", "D_B")


def outputs(model):
    return {n: np.asarray(getattr(model, n)(x)) for n in NETWORKS}


def kernels(model):  # conv biases that feed an instance norm are left out: they cannot change any output
    return {w.path: w.numpy() for w in model.weights if w.trainable and not w.path.endswith("bias")}


class Initial(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.outputs, self.kernels = outputs(self.model), kernels(self.model)


results, initial = {}, {}
for strategy in ("none", "mirrored"):
    cfg = make_config(dict(dataset="demo", data_dir=data_dir, name=strategy, checkpoints_dir=runs, ngf=4, ndf=4,
                           load_size=36, crop_size=32, preprocess="resize_and_crop", max_dataset_size=6, batch_size=2,
                           n_epochs=1, n_epochs_decay=0, pool_size=0, norm=norm, deterministic=True,
                           strategy=strategy, print_freq=1))
    initial[strategy] = Initial()
    results[strategy] = train(cfg, verbose=0, callbacks=[initial[strategy]])
one, two = results["none"], results["mirrored"]
logs = [list(csv.DictReader(open(f"{runs}/{name}/loss_log.csv"))) for name in ("none", "mirrored")]
losses = [[[float(row[k]) for k in one.model.LOSS_NAMES] for row in log] for log in logs]


def norm2(arrays):
    return float(np.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays)))


w0, w1, w2 = initial["none"].kernels, kernels(one.model), kernels(two.model)
o0, o1, o2 = initial["none"].outputs, outputs(one.model), outputs(two.model)
out = {
    "steps": [one.step, two.step],
    # relative: loss_log.csv keeps 6 significant digits
    "loss_error_per_step": [max(abs(a - b) / max(abs(a), abs(b), 1e-3) for a, b in zip(s1, s2))
                            for s1, s2 in zip(*losses)],
    "initial_error": max(float(np.abs(initial["none"].kernels[k] - initial["mirrored"].kernels[k]).max())
                         for k in w0),
    # how far the two runs are apart, as a fraction of how far training moved them
    "kernel_error": norm2(w2[k] - w1[k] for k in w0) / norm2(w1[k] - w0[k] for k in w0),
    "output_error": max(float(np.abs(o2[n] - o1[n]).max() / np.abs(o1[n] - o0[n]).max()) for n in NETWORKS),
    "config": {k: v for k, v in json.load(open(f"{runs}/mirrored/config.json")).items()
               if k in ("strategy", "strategy_used", "replicas")},
    "synchronized": [l.synchronized for l in two.model.D_A.layers if hasattr(l, "synchronized")],
    # training health: each replica's change over its half batch, averaged, is the change over the global batch
    "health_change": [[float(row["health_change"]) for row in log] for log in logs],
}
if bug == "none":
    # resume the 2-replica run on one replica, and a global batch that does not divide between the replicas
    resumed = train(make_config({"name": "mirrored", "checkpoints_dir": runs, "continue_train": True,
                                 "strategy": "none", "n_epochs": 2}), verbose=0)
    out["resumed_step"] = resumed.step
    try:
        train(make_config({**dict(dataset="demo", data_dir=data_dir, name="odd", checkpoints_dir=runs),
                           "batch_size": 3, "strategy": "mirrored"}), verbose=0)
    except UserError as error:
        out["odd_batch"] = str(error)
print(json.dumps(out))
"""


def run(norm: str, data_dir, tmp_path, bug: str = "none") -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(data_dir), str(tmp_path), norm, bug],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_replicas_train_as_one_replica_on_the_global_batch(tmp_path, data_dir):
    out = run("instance", data_dir, tmp_path)
    assert out["steps"] == [3, 3] and out["initial_error"] == 0
    # Instance norm is per image, so 2 replicas of 1 image compute what 1 replica of 2 does, up to float32
    # rounding: the replicas' gradients are summed in another order (relative error a few eps = 1.2e-7 per
    # sum), and Adam divides each gradient by its own size, so a rounding-level gradient can take a step of up
    # to lr either way. The bounds are fractions of what training changed, since that is what the replica logic
    # could get wrong: measured 1.4e-5 (AVX-512) and 1.1e-5 (oneDNN capped at AVX2) for the weights, 2.2e-5 and
    # 1.5e-5 for the outputs, against 1.0 and 0.8 with one replica's gradients lost
    # (`run(..., bug="first_replica_only")`). The losses are read from loss_log.csv, whose 6 significant digits
    # alone differ by up to 1e-5 relative.
    assert out["kernel_error"] < 1e-3 and out["output_error"] < 1e-3, out
    assert max(out["loss_error_per_step"]) < 1e-4, out
    assert out["config"] == {"strategy": "mirrored", "strategy_used": "mirrored", "replicas": 2}
    one_replica, two_replicas = out["health_change"]
    assert len(one_replica) == 3, out
    assert max(abs(a / b - 1) for a, b in zip(one_replica, two_replicas, strict=True)) < 1e-4, out
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
from cyclegan_tf.training.callbacks.progress import skipped_steps
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
