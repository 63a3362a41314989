"""MultiWorkerMirroredStrategy with 2 worker processes on 127.0.0.1, started with TF_CONFIG as on a cluster."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np

from cyclegan_tf.inference.translator import load_translator

WORKER = """
import json, sys
import numpy as np
from cyclegan_tf.config import make_config
from cyclegan_tf.errors import UserError
from cyclegan_tf.training.trainer import train

data_dir, runs, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = make_config(dict(dataset="demo", data_dir=data_dir, name="cluster", checkpoints_dir=runs, ngf=4, ndf=4,
                       load_size=36, crop_size=32, preprocess="resize_and_crop", max_dataset_size=6, batch_size=2,
                       n_epochs=epochs, n_epochs_decay=0, pool_size=0, seed=0, strategy="multiworker",
                       collective_timeout=20))
try:
    result = train(cfg, verbose=0)
except UserError as error:  # as the CLI prints it
    sys.exit(f"Error: {error}")
print(json.dumps({"run_dir": str(result.run_dir), "step": result.step,
                  "checksum": [float(np.abs(w.numpy()).sum()) for w in result.model.G_AB.weights]}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(data_dir, runs, epochs: int) -> list[subprocess.Popen]:
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen([sys.executable, "-c", WORKER, str(data_dir), str(runs), str(epochs)],
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return workers


def test_two_workers_train_one_run_that_translates(tmp_path, data_dir):
    workers = start_cluster(data_dir, tmp_path, epochs=2)
    outputs = [worker.communicate(timeout=240) for worker in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]
    chief, other = (json.loads(out.strip().splitlines()[-1]) for out, _ in outputs)
    assert chief["step"] == other["step"] == 6  # 2 epochs of 6 images in global batches of 2 (1 per worker)
    assert np.allclose(chief["checksum"], other["checksum"], rtol=0, atol=0)  # the same weights on both workers
    assert chief["run_dir"] == str(tmp_path / "cluster") and other["run_dir"] != chief["run_dir"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster"]  # the other worker wrote nothing here
    config = json.loads((tmp_path / "cluster" / "config.json").read_text())
    assert (config["strategy_used"], config["replicas"]) == ("multiworker", 2)
    translated = load_translator(tmp_path / "cluster", "AtoB")(np.full((20, 24, 3), 200, np.uint8))
    assert translated.shape == (20, 24, 3)


def test_a_dead_worker_stops_the_other_in_bounded_time(tmp_path, data_dir):
    workers = start_cluster(data_dir, tmp_path, epochs=400)
    deadline = time.time() + 120
    while not (tmp_path / "cluster" / "checkpoints").is_dir() and time.time() < deadline:
        time.sleep(0.5)
    workers[1].send_signal(signal.SIGKILL)
    killed_at = time.time()
    out, err = workers[0].communicate(timeout=120)
    workers[1].wait()
    waited = time.time() - killed_at
    assert workers[0].returncode == 1 and waited < 90, (waited, err[-2000:])  # collective timeout 20 s
    assert "Error: a worker of the cluster stopped answering at step" in err and "Traceback" not in err, err[-2000:]
