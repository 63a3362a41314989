"""Training on several devices or machines with TensorFlow's own engine, `tf.distribute`.

`--strategy mirrored` replicates the model on every GPU of this machine (or, where TensorFlow was given several
logical CPU devices, on those), `--strategy multiworker` on every worker that `$TF_CONFIG` names, each with
its GPUs. Keras' `fit` splits each global batch (`--batch-size`) between the replicas and the optimizers sum
the replicas' gradients (all-reduce); the models scale their losses by 1 / replicas so that the sum is the
gradient of the global batch's mean, as on one device.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.errors import UserError


def cluster_size() -> int:
    """Workers named by $TF_CONFIG (0 without it)."""
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    except ValueError:
        raise UserError("$TF_CONFIG is not JSON") from None
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def local_devices() -> list[str] | None:
    """The devices a mirrored strategy uses: the GPUs, else the logical CPU devices when there are several (set
    up before TensorFlow starts, as the tests do), else None (TensorFlow's choice)."""
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return [device.name for device in gpus]
    cpus = tf.config.list_logical_devices("CPU")
    return [device.name for device in cpus] if len(cpus) > 1 else None


def resolve(name: str) -> str:
    """The strategy `--strategy auto` means here: multiworker, mirrored or none."""
    if name != "auto":
        return name
    if cluster_size() > 1:
        return "multiworker"
    return "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "none"


def make_strategy(cfg: TrainConfig) -> tf.distribute.Strategy:
    """The `tf.distribute` strategy of `cfg.strategy` (the default strategy for "none"), checking that the global
    batch divides between its replicas.

    Args:
        cfg: the run's config (`strategy`, `batch_size`).

    Returns:
        A strategy; build and compile the model under its `scope()`.
    """
    name = resolve(cfg.strategy)
    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy(local_devices())
    elif name == "multiworker":
        if cluster_size() < 1:
            raise UserError("--strategy multiworker needs $TF_CONFIG naming the cluster and this worker's task")
        # A bounded wait in every collective: a worker that dies stops the others instead of hanging them.
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=cfg.collective_timeout)
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    else:
        strategy = tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if cfg.batch_size % replicas:
        raise UserError(f"--batch-size {cfg.batch_size} does not divide between {replicas} replicas "
                        f"(--strategy {name}): use a multiple of {replicas}")
    return strategy


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run (checkpoints, logs, samples): always, but on the workers of a
    multi-worker cluster other than the chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0
                                    and "chief" not in resolver.cluster_spec().as_dict())

