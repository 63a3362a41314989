"""Safety: one writer per run, readers that never trip over it, a guard against divergence, batch work that goes
on past bad files, failed writes that lose nothing, runs that log from their first epoch, reproducible runs."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cyclegan_tf.cli.main import main
from cyclegan_tf.config import TrainConfig, make_config
from cyclegan_tf.data.images import ImageTooLarge, load_image
from cyclegan_tf.errors import UserError
from cyclegan_tf.inference.translator import load_translator
from cyclegan_tf.models.cycle_gan import CycleGAN
from cyclegan_tf.runs import checkpoints
from cyclegan_tf.runs.lock import RunLock
from cyclegan_tf.training.trainer import TrainingDiverged, train

ROOT = Path(__file__).resolve().parent.parent


def small(tmp_path: Path, data_dir: Path, name: str = "small", **options) -> dict:
    """A 32 px run of 6 steps per epoch."""
    return {**dict(dataset="demo", data_dir=str(data_dir), name=name, checkpoints_dir=str(tmp_path), ngf=4, ndf=4,
                   load_size=36, crop_size=32, preprocess="resize_and_crop", max_dataset_size=6, n_epochs=1,
                   n_epochs_decay=1, pool_size=4, seed=0), **options}


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# --- one writer per run -------------------------------------------------------------------------------------

def test_a_second_writer_is_refused_and_writes_nothing(tmp_path, data_dir):
    run = tmp_path / "small"
    with RunLock(run):  # as a trainer holds it
        before = sorted(p.name for p in run.iterdir())
        for resume in (False, True):
            (run / "config.json").write_text("{}") if resume else None
            with pytest.raises(UserError, match=rf"run {run} is being trained by process {os.getpid()}"):
                train(make_config(small(tmp_path, data_dir)) if not resume else
                      TrainConfig(**{**small(tmp_path, data_dir), "continue_train": True}), verbose=0)
            (run / "config.json").unlink(missing_ok=True)
        assert sorted(p.name for p in run.iterdir()) == before == [".lock"]
    result = run_cli("train", *[f"--{k.replace('_', '-')}={v}" for k, v in small(tmp_path, data_dir).items()],
                     "--n-epochs-decay", 0)
    assert result.exit_code == 0, result.output  # released: the run trains


def test_a_killed_writer_leaves_no_stale_lock(tmp_path):
    code = ("import sys, time; from cyclegan_tf.runs.lock import RunLock; RunLock(sys.argv[1]).acquire(); "
            "print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match=f"being trained by process {holder.pid}"):
            RunLock(tmp_path / "run").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    RunLock(tmp_path / "run").acquire().release()  # the kernel released it with the process


# --- readers while a trainer writes -----------------------------------------------------------------------

def test_readers_never_fail_while_a_trainer_rotates_checkpoints(tmp_path, data_dir):
    options = small(tmp_path, data_dir, save_latest_freq=1, n_epochs=4, n_epochs_decay=0)
    command = [sys.executable, "-m", "cyclegan_tf.cli", "train", "--quiet",
               *[f"--{k.replace('_', '-')}={v}" for k, v in options.items()]]
    trainer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run, image = tmp_path / "small", np.full((20, 28, 3), 128, np.uint8)
    reads, steps = 0, set()
    try:
        deadline = time.time() + 120
        while checkpoints.latest_checkpoint(run) is None and time.time() < deadline:
            time.sleep(0.1)
        while trainer.poll() is None and time.time() < deadline:
            with checkpoints.open_checkpoint(run) as opened:  # what translate, evaluate and a resume do
                steps.add(opened.state["step"])
                generator = keras.Model.from_config(CycleGAN.build(opened.config, 6, (32, 32)).G_AB.get_config())
                opened.restore({"G_AB": generator})
            assert load_translator(run, "BtoA")(image).shape == (20, 28, 3)
            reads += 1
    finally:
        trainer.wait(timeout=120)
    assert trainer.returncode == 0, trainer.stderr.read()[-2000:]
    assert reads >= 5 and len(steps) >= 3, (reads, steps)  # the reader saw the checkpoints go by


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path, data_dir, caplog):
    result = train(make_config(small(tmp_path, data_dir, save_latest_freq=4)), verbose=0)
    run = result.run_dir
    newest, previous = checkpoints.latest_checkpoints(run)[:2]
    assert (newest.name, previous.name) == ("latest_00000012", "latest_00000008")
    state = newest / "state.npz"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])  # truncated
    with checkpoints.open_checkpoint(run) as opened:
        assert opened.path == previous
    assert "latest_00000012/state.npz" not in caplog.text and "latest_00000012 is damaged" in caplog.text
    assert load_translator(run, "AtoB")(np.zeros((8, 8, 3), np.uint8)).shape == (8, 8, 3)
    with pytest.raises(UserError, match="is damaged"):  # asked for by name, it is not replaced by another
        checkpoints.open_checkpoint(newest)
    resumed = train(make_config({"name": "small", "checkpoints_dir": str(tmp_path), "continue_train": True,
                                 "n_epochs_decay": 2}), verbose=0)
    assert resumed.step == 18  # from step 8, not 12


# --- divergence -------------------------------------------------------------------------------------------

class Poison(keras.callbacks.Callback):
    """Sets a generator weight to NaN after step `at` (after the checkpointer saved that step)."""

    def __init__(self, at: int):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.step_counter.numpy()) == self.at:
            kernel = self.model.G_AB.get_layer("stem_conv").kernel
            kernel.assign(np.full(kernel.shape, np.nan, np.float32))


def test_a_non_finite_loss_stops_training_and_saves_nothing(tmp_path, data_dir):
    cfg = make_config(small(tmp_path, data_dir, save_latest_freq=2))
    with pytest.raises(TrainingDiverged, match=r"step 9: loss G_\w+ is nan .* latest_00000008 stays the latest: "
                                               r"lower --lr and resume with --continue-train --name small"):
        train(cfg, verbose=0, callbacks=[Poison(at=8)])
    assert checkpoints.latest_checkpoint(tmp_path / "small").name == "latest_00000008"
    assert not list((tmp_path / "small" / "checkpoints").glob("latest_00000009"))
    # a user lowers --lr and goes on
    resumed = train(make_config({"name": "small", "checkpoints_dir": str(tmp_path), "continue_train": True,
                                 "lr": 1e-4}), verbose=0)
    assert resumed.step == 12 and all(np.isfinite(v).all() for v in resumed.history.values())


def test_skipped_float16_steps_are_counted_and_shown(tmp_path, data_dir, capsys):
    from cyclegan_tf.training.callbacks.progress import Progress, skipped_steps

    cfg = TrainConfig(**small(tmp_path, data_dir, mixed_precision="fp16"))
    model = CycleGAN.build(cfg, 6, (32, 32))
    x = np.zeros((1, 32, 32, 3), np.float32)
    model.g_optimizer.dynamic_scale.assign(1e38)  # the scaled loss overflows: the update is skipped, not fatal
    logs = model.train_step((x, x))
    assert np.isfinite(float(logs["cycle_A"]))
    assert skipped_steps(model)["G"] == 1
    progress = Progress(1, 1, 1, bar=False)
    progress.set_model(model)
    progress.on_epoch_begin(0)
    progress.on_epoch_end(0, {})
    assert "steps skipped by fp16 loss scaling (overflow) so far: G 1" in capsys.readouterr().out


# --- bad files --------------------------------------------------------------------------------------------

def bomb(path: Path, width: int = 60_000, height: int = 60_000) -> Path:
    """A PNG whose header claims width x height pixels (a decompression bomb's header)."""
    Image.new("L", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data[12:29]  # "IHDR" + 13 bytes of header fields
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    path.write_bytes(bytes(data))
    return path


def test_translate_goes_on_past_bad_files(tmp_path, demo_run, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(np.full((20 + i, 24, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    truncated = (folder / "2.png").read_bytes()
    (folder / "2.png").write_bytes(truncated[: len(truncated) // 2])
    bomb(folder / "5.png")
    result = run_cli("translate", folder, "--checkpoint", demo_run.run_dir, "--output", tmp_path / "out")
    assert result.exit_code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "1.png", "3.png", "4.png"]
    assert [r.getMessage().split(":")[0] for r in caplog.records if "skipping" in r.getMessage()] == [
        f"skipping {folder / '2.png'}", f"skipping {folder / '5.png'}"]  # a warning per file, as it is met
    assert "Traceback" not in result.output
    summary = result.output.strip().splitlines()[-1]
    assert summary.startswith(f"2 of 6 files skipped: {folder / '2.png'} (") and "60000 x 60000" in summary
    strict = run_cli("translate", folder, "--checkpoint", demo_run.run_dir, "--output", tmp_path / "o2", "--strict")
    assert strict.exit_code == 1 and f"Error: cannot read image {folder / '2.png'}" in strict.output
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["0.png", "1.png"]
    small_limit = run_cli("translate", folder / "0.png", "--checkpoint", demo_run.run_dir, "--output",
                          tmp_path / "o3", "--max-pixels", 100)
    assert small_limit.exit_code == 1 and "24 x 20 = 0 megapixels, more than --max-pixels 100" in small_limit.output


def test_evaluate_goes_on_past_bad_test_images(tmp_path, demo_run, caplog):
    root = tmp_path / "demo"
    shutil.copytree(demo_run.dataroot, root)
    (root / "testA" / "0003.png").write_bytes(b"\x89PNG broken")
    result = run_cli("evaluate", "--name", "demo", "--checkpoints-dir", demo_run.run_dir.parent, "--no-fid",
                     "--dataroot", root)
    assert result.exit_code == 1, result.output
    assert "AtoB" in result.output and "BtoA" in result.output  # the table, from the 29 readable images
    assert sum("skipping" in r.getMessage() for r in caplog.records) == 1  # once, though both directions read testA
    assert result.output.strip().splitlines()[-1].startswith(f"1 of 60 files skipped: {root / 'testA' / '0003.png'}")


def test_photos_are_upright_and_bombs_refused(tmp_path):
    image = Image.fromarray(np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    image.save(tmp_path / "phone.jpg", exif=exif)
    assert load_image(tmp_path / "phone.jpg").shape == (30, 20, 3)
    with pytest.raises(ImageTooLarge, match="60000 x 60000 = 3,600 megapixels, more than --max-pixels"):
        load_image(bomb(tmp_path / "bomb.png"))
    assert load_image(bomb(tmp_path / "ok.png", 8, 8), max_pixels=0).shape == (8, 8, 3)


# --- failed writes, bad configs --------------------------------------------------------------------------

def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    cfg = TrainConfig(**small(tmp_path, tmp_path / "data"))
    model = CycleGAN.build(cfg, 6, (32, 32))
    first = checkpoints.save_checkpoint(model, cfg.run_dir, "latest_00000002", 2, 0, cfg, training_state=True)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    for target in ("savez", "save"):  # the state, then the generators' Keras files
        with monkeypatch.context() as patch:
            patch.setattr(np, "savez", full_disk) if target == "savez" else patch.setattr(keras.Model, "save",
                                                                                          full_disk)
            with pytest.raises(UserError, match=rf"cannot write checkpoint {cfg.run_dir / 'checkpoints'}/"
                                                r"latest_00000004: No space left on device; latest_00000002 stays"):
                checkpoints.save_checkpoint(model, cfg.run_dir, "latest_00000004", 4, 0, cfg, training_state=True)
        assert checkpoints.latest_checkpoint(cfg.run_dir) == first
        assert sorted(p.name for p in (cfg.run_dir / "checkpoints").iterdir()) == ["LATEST", "latest_00000002"]
    with checkpoints.open_checkpoint(cfg.run_dir) as opened:
        opened.restore(checkpoints.parts_of(model, checkpoints.all_groups(model)))


def test_a_bad_config_json_is_one_line(tmp_path, demo_run):
    run = tmp_path / "demo"
    shutil.copytree(demo_run.run_dir / "checkpoints" / "epoch_002", run)
    config = json.loads((run / "config.json").read_text())
    for bad, message in (({"ngf": "16"}, "ngf is '16', not an int"), ({"colour": 1}, "unknown option(s) colour")):
        (run / "config.json").write_text(json.dumps({**config, **bad}))
        result = run_cli("translate", ROOT / "tests" / "fixtures" / "legacy_v0_1" / "input_45x37.png",
                         "--checkpoint", run, "--output", tmp_path / "out")
        assert result.exit_code == 1 and result.output.strip().splitlines()[-1].endswith(message), result.output
        assert "Traceback" not in result.output


# --- logs and reproducibility ---------------------------------------------------------------------------------

def test_a_run_shorter_than_print_freq_logs_each_epoch(tmp_path, data_dir):
    train(make_config(small(tmp_path, data_dir, n_epochs_decay=0, max_dataset_size=5)), verbose=0)
    rows = (tmp_path / "small" / "loss_log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,") and [r.split(",")[:2] for r in rows[1:]] == [["1", "5"]]
    assert (tmp_path / "small" / "losses.png").is_file()


DETERMINISM = """
import sys
import numpy as np
from cyclegan_tf.config import make_config
from cyclegan_tf.training.trainer import train
runs = []
for name in ("one", "two"):
    cfg = make_config(dict(dataset="demo", data_dir=sys.argv[1], name=name, checkpoints_dir=sys.argv[2], ngf=4, ndf=4,
                           load_size=36, crop_size=32, preprocess="resize_and_crop", max_dataset_size=6, n_epochs=1,
                           n_epochs_decay=1, print_freq=2, pool_size=4, deterministic=True))
    result = train(cfg, verbose=0)
    runs.append((result.history, [w.numpy() for w in result.model.weights]))
(h1, w1), (h2, w2) = runs
assert h1 == h2, (h1, h2)
assert len(w1) > 50 and all(np.array_equal(a, b) for a, b in zip(w1, w2, strict=True))
print("identical", h1["cycle_A"])
"""


def test_deterministic_runs_are_identical(tmp_path, data_dir):
    done = subprocess.run([sys.executable, "-c", DETERMINISM, str(data_dir), str(tmp_path)], capture_output=True,
                          text=True)
    assert done.returncode == 0 and done.stdout.startswith("identical"), done.stderr[-3000:]
    logs = [(tmp_path / name / "loss_log.csv").read_text().splitlines() for name in ("one", "two")]
    losses = [[row.rsplit(",", 1)[0] for row in log] for log in logs]  # the last column is images/s
    assert losses[0] == losses[1] and len(losses[0]) == 7
    assert json.loads((tmp_path / "one" / "config.json").read_text())["seed"] == 0


def test_a_short_soak_finds_every_check_true(tmp_path):
    from cyclegan_tf.experiments.soak import soak, table

    checks, delays = soak(tmp_path, kills=1, epochs=15, min_delay=8, max_delay=15, seed=1)
    print(table(checks, len(delays)))
    assert len(delays) == 1 and all(check.ok for check in checks), table(checks, len(delays))
