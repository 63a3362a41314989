"""Watching a run: progress output, loss log, TensorBoard events, sample grids, time-lapse, gallery, evaluation
during training, and all of them continuing on resume."""

import csv
import io
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from PIL import Image

from cyclegan_tf.cli.main import main
from cyclegan_tf.data.images import load_image
from cyclegan_tf.evaluation.evaluate import evaluate_run
from cyclegan_tf.inference.translator import Translator
from cyclegan_tf.runs import report
from cyclegan_tf.training.callbacks import progress as progress_module

from .conftest import DEMO_TEST_EPOCHS
from .test_evaluate import tiny_extractor


def read_events(logdir: Path) -> dict[str, list[tuple[int, object]]]:
    """{tag: [(step, summary value), ...]} of every event file in `logdir`."""
    out: dict[str, list] = {}
    for path in sorted(Path(logdir).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, value))
    return out


def scalar(value) -> float:
    return float(tf.make_ndarray(value.tensor))


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- the shared demo run (2 epochs of 200 steps, 64 px, default --print-freq 100 and --n-samples 4) ---------

def test_sample_grids_show_the_fixed_test_images(demo_run, data_dir):
    run = demo_run.run_dir
    grids = report.numbered(run / "samples")
    assert [epoch for epoch, _ in grids] == list(range(1, DEMO_TEST_EPOCHS + 1))
    grid = load_image(grids[-1][1])
    # 4 panels of 64 px with 4 px gaps; per direction a caption strip of 14 px and 4 rows; 12 px between them
    assert grid.shape == (2 * (14 + 4 * 64 + 3 * 4) + 12, 4 * 64 + 3 * 4, 3)
    np.testing.assert_array_equal(grid[14:78, :64], load_image(data_dir / "demo" / "testA" / "0000.png"))
    np.testing.assert_array_equal(grid[294 + 14: 294 + 78, :64], load_image(data_dir / "demo" / "testB" / "0000.png"))
    # fake_B is the trained generator's translation of that image
    translated = Translator(demo_run.model.G_AB, "resnet_6blocks")(grid[14:78, :64])
    np.testing.assert_array_equal(grid[14:78, 68:132], translated)


def test_timelapse_has_one_frame_per_epoch(demo_run):
    with Image.open(demo_run.run_dir / "timelapse.gif") as gif:
        assert gif.n_frames == DEMO_TEST_EPOCHS
        gif.seek(gif.n_frames - 1)
        assert gif.convert("RGB").size == (64 * 2 + 4, 14 + 2 * 64 + 4)  # real | fake of each direction


def test_index_html_lists_every_epoch_newest_first(demo_run):
    page = (demo_run.run_dir / "index.html").read_text()
    sources = re.findall(r'<img src="([^"?]+)', page)
    assert sources == ["timelapse.gif", "losses.png", "samples/epoch_002.png", "samples/epoch_001.png"]
    for source in sources:
        with Image.open(demo_run.run_dir / source) as image:
            image.load()
    assert "Epoch 2 of 2 done (step 400)" in page
    assert not list(demo_run.run_dir.glob(".*.tmp"))


def test_loss_log_rows_are_window_means_that_make_up_the_epoch_means(demo_run):
    rows = read_rows(demo_run.run_dir / "loss_log.csv")
    assert [(int(r["epoch"]), int(r["step"])) for r in rows] == [(1, 100), (1, 200), (2, 300), (2, 400)]
    assert list(rows[0]) == ["epoch", "step", "G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B",
                             "health_D", "health_D_weakest", "health_G_gan", "health_change", "health_gan_share",
                             "health_spread", "lr", "images_per_s"]
    assert [float(r["lr"]) for r in rows] == pytest.approx([5e-4, 5e-4, 2.5e-4, 2.5e-4])
    assert all(float(r["images_per_s"]) > 0 for r in rows)
    for name in ("cycle_A", "D_B", "idt_B"):  # two equal windows per epoch: their mean is the epoch's mean
        for epoch in (0, 1):
            window_mean = (float(rows[2 * epoch][name]) + float(rows[2 * epoch + 1][name])) / 2
            assert window_mean == pytest.approx(demo_run.history[name][epoch], rel=1e-4)
    with Image.open(demo_run.run_dir / "losses.png") as plot:
        assert plot.size[0] > 500


def test_tensorboard_events_hold_losses_lr_and_sample_panels(demo_run, data_dir):
    events = read_events(demo_run.run_dir / "logs")
    for name in ("G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B", "lr"):
        assert [step for step, _ in events[f"train/{name}"]] == [100, 200, 300, 400]
        assert [step for step, _ in events[f"epoch/{name}"]] == [1, 2]
    assert [scalar(v) for _, v in events["epoch/cycle_A"]] == pytest.approx(demo_run.history["cycle_A"], rel=1e-6)
    assert [scalar(v) for _, v in events["epoch/lr"]] == pytest.approx([5e-4, 2.5e-4])
    assert events["train/G_AB"][0][1].metadata.plugin_data.plugin_name == "scalars"
    for direction, folder in (("AtoB", "testA"), ("BtoA", "testB")):
        steps = [step for step, _ in events[f"samples/{direction}"]]
        assert steps == [1, 2]
        value = events[f"samples/{direction}"][-1][1]
        assert value.metadata.plugin_data.plugin_name == "images"
        width, height, *pngs = value.tensor.string_val
        assert (int(width), int(height), len(pngs)) == (4 * 64, 64, 4)  # real | fake | rec | idt, 4 samples
        strip = tf.io.decode_png(pngs[0]).numpy()
        assert strip.shape == (64, 256, 3)
        np.testing.assert_array_equal(strip[:, :64], load_image(data_dir / "demo" / folder / "0000.png"))


# --- output and files, unit by unit -------------------------------------------------------------------------

class Counter:
    def __init__(self):
        self.value = 0

    def numpy(self):
        return self.value


def _run_progress(bar: bool, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "200")  # the terminal's width, which bars are cut to
    clock = iter(np.arange(1000.0, 2000.0, 0.5))  # each reading of the clock: half a second later
    monkeypatch.setattr(progress_module.time, "time", lambda: float(next(clock)))
    model = SimpleNamespace(step_counter=Counter())
    stream = io.StringIO()
    progress = progress_module.Progress(total_epochs=3, steps_per_epoch=10, batch_size=2, bar=bar, stream=stream)
    progress.set_model(model)
    progress.REDRAW_S = 0
    model.step_counter.value = 10
    progress.on_epoch_begin(1)
    logs = {"G_AB": 0.5, "cycle_A": 1.25, "lr": 2e-4}
    for step in range(11, 21):
        model.step_counter.value = step
        progress.on_train_batch_end(step, logs)
    progress.on_epoch_end(1, logs)
    return stream.getvalue()


def test_progress_bar_then_a_summary_line(monkeypatch):
    out = _run_progress(True, monkeypatch)
    bars = [part for part in out.split("\r")[:-1] if part.strip()]  # the last bar is blanked out before the summary
    assert len(bars) == 10
    # step 15: 5 of 10 done; 4 steps in 2 s since the first step, 2 images a step: 4 img/s, 5 steps left: 2.5 s
    assert re.match(r"epoch 2/3 \[#{10}\.{10}\] 5/10 4\.0 img/s ETA 0:0[23]  G_AB 0\.50 cycle_A 1\.25 lr 2\.0e-04",
                    bars[4]), bars[4]
    summary = out.split("\r")[-1]
    # 10 steps in 5.5 s; one epoch (10 steps) left
    assert summary == "epoch 2/3  10 steps in 0:06 (3.6 img/s)  ETA 0:06  G_AB 0.500 cycle_A 1.250 lr 2.0e-04\n"


def test_quiet_progress_is_one_line_per_epoch(monkeypatch):
    out = _run_progress(False, monkeypatch)
    assert "\r" not in out and out.count("\n") == 1 and out.startswith("epoch 2/3  10 steps in ")


def test_format_duration():
    assert [progress_module.format_duration(s) for s in (0, 65, 3725)] == ["0:00", "1:05", "1:02:05"]


def test_csv_log_drops_the_rows_of_a_run_killed_after_its_last_checkpoint(tmp_path):
    log = report.CsvLog(tmp_path / "log.csv", ["epoch", "step", "loss"], start_step=0)
    for step in range(1, 6):
        log.write({"epoch": 1, "step": step, "loss": 1.0 / step, "unknown": 1})
    log.close()  # a killed run keeps its rows (flushed row by row)
    assert [r["step"] for r in read_rows(tmp_path / "log.csv")] == ["1", "2", "3", "4", "5"]
    report.CsvLog(tmp_path / "log.csv", ["other"], start_step=None).close()  # a reopening keeps everything
    resumed = report.CsvLog(tmp_path / "log.csv", ["other"], start_step=3)  # resumed from step 3's checkpoint
    resumed.write({"epoch": 1, "step": 4, "loss": 0.2})
    resumed.close()
    rows = read_rows(tmp_path / "log.csv")
    assert [(r["step"], r["loss"]) for r in rows] == [("1", "1"), ("2", "0.5"), ("3", "0.333333"), ("4", "0.2")]


def test_without_matplotlib_the_loss_plot_is_skipped(tmp_path, monkeypatch):
    (tmp_path / "loss_log.csv").write_text("epoch,step,G_AB\n1,1,0.5\n")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    assert report.plot_losses(tmp_path / "loss_log.csv", tmp_path / "losses.png") is False
    assert not (tmp_path / "losses.png").exists()


def test_images_are_stacked_on_white():
    gray = np.zeros((4, 3, 1), np.uint8)
    colour = np.full((2, 5, 3), 7, np.uint8)
    side = report.hstack([gray, colour], gap=1)
    assert side.shape == (4, 9, 3) and side[3, 8].tolist() == [255, 255, 255] and side[0, 3].tolist() == [255] * 3
    assert report.vstack([gray, colour]).shape == (6, 5, 3)
    assert report.fit_square(np.zeros((30, 60, 1), np.uint8), 20).shape == (20, 20, 1)


# --- evaluation during training, and a resumed run continuing every output -----------------------------------

def _train(*args):
    return CliRunner().invoke(main, ["train", "--quiet", *map(str, args)], catch_exceptions=False)


def test_evaluation_during_training_and_resume_continue_the_logs(tmp_path, data_dir, monkeypatch, caplog):
    # offline: the FID weights are not in the models dir and their server refuses
    monkeypatch.setenv("CYCLEGAN_TF_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("CYCLEGAN_TF_MIRROR", "http://127.0.0.1:9")
    small = ["--max-dataset-size", 6, "--load-size", 32, "--crop-size", 32, "--preprocess", "resize_and_crop",
             "--ngf", 4, "--ndf", 4, "--n-epochs", 1, "--n-epochs-decay", 1, "--print-freq", 2, "--eval-freq", 1,
             "--n-samples", 2, "--seed", 1, "--sample-freq", 4]
    result = _train("--dataset", "demo", "--data-dir", data_dir, "--name", "watch", "--checkpoints-dir", tmp_path,
                    *small)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "\r" not in result.output
    assert [line.split("  ")[0] for line in lines if line.startswith("epoch")] == ["epoch 1/2", "epoch 2/2"]
    assert sum(line.startswith("  eval epoch") for line in lines) == 2
    # No FID weights: one warning, training went on, the evaluations kept what needs no features.
    warnings = [r.getMessage() for r in caplog.records if "--fid-weights" in r.getMessage()]
    assert len(warnings) == 1 and "FID and KID are skipped" in warnings[0]
    run = tmp_path / "watch"
    evaluations = read_rows(run / "eval_log.csv")
    assert [r["epoch"] for r in evaluations] == ["1", "2"]
    assert evaluations[0]["fid_AtoB"] == "" and 0 < float(evaluations[0]["cycle_l1_AtoB"]) < 2
    # the evaluation after the last epoch scored the networks of the last checkpoint
    final = evaluate_run(run, features=False, save=False)
    assert float(evaluations[1]["demo_score"]) == pytest.approx(final.demo_score, abs=1e-4)  # 6 digits in CSV
    assert f"demo score (IoU of object masks, %): {final.demo_score:.1f}" in result.output
    assert not (run / "best.json").exists()  # best is by FID

    # A row logged by a process killed after its last checkpoint (step 12) is dropped on resume.
    with open(run / "loss_log.csv", "a") as f:
        f.write("2,13,1,1,1,1,1,1,1,1,0.0005,1\n")
    extractor = tiny_extractor(tmp_path / "tiny.keras")
    result = _train("--name", "watch", "--checkpoints-dir", tmp_path, "--continue-train", "--n-epochs-decay", 2,
                    "--feature-extractor", extractor)
    assert result.exit_code == 0, result.output
    assert [line.split("  ")[0] for line in result.output.splitlines() if line.startswith("epoch")] == ["epoch 3/3"]

    rows = read_rows(run / "loss_log.csv")
    assert [int(r["step"]) for r in rows] == list(range(2, 19, 2))  # 3 epochs of 6 steps, a row every 2
    assert [int(r["epoch"]) for r in rows] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    # --sample-freq 4: a grid and a time-lapse frame every 4 steps, continued by the resume (steps 4 ... 16)
    assert [step for step, _ in report.numbered(run / "samples", "step_")] == [4, 8, 12, 16]
    assert [step for step, _ in report.numbered(run / "timelapse", "step_")] == [4, 8, 12, 16]
    assert report.numbered(run / "timelapse") == []  # no epoch frames: one frame rate
    with Image.open(run / "timelapse.gif") as gif:
        assert gif.n_frames == 4
    assert [epoch for epoch, _ in report.numbered(run / "samples")] == [1, 2, 3]
    page = (run / "index.html").read_text()
    assert page.index("samples/epoch_003.png") < page.index("samples/epoch_002.png") < page.index("epoch_001.png")
    assert "<h2>Evaluation</h2>" in page

    evaluations = read_rows(run / "eval_log.csv")
    assert [r["epoch"] for r in evaluations] == ["1", "2", "3"]
    saved = json.loads((run / "eval" / "epoch_003.json").read_text())
    assert float(evaluations[2]["fid_AtoB"]) == pytest.approx(saved["directions"]["AtoB"]["fid"], rel=1e-5)
    assert saved["feature_extractor"] == str(extractor) and saved["directions"]["BtoA"]["kid"] > 0
    best = json.loads((run / "best.json").read_text())
    assert best["epoch"] == 3 and best["mean_fid"] == pytest.approx(saved["mean_fid"])

    events = read_events(run / "logs")
    assert [step for step, _ in events["eval/cycle_l1_AtoB"]] == [1, 2, 3]
    assert [step for step, _ in events["eval/fid_AtoB"]] == [3]
    assert scalar(events["eval/fid_AtoB"][0][1]) == pytest.approx(saved["directions"]["AtoB"]["fid"], rel=1e-5)
    assert [step for step, _ in events["samples/AtoB"]] == [1, 2, 3]
    assert sorted({step for step, _ in events["train/cycle_A"]}) == list(range(2, 19, 2))
