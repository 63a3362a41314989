"""Training health: the signals against numpy, the detectors' episodes, runs broken on purpose (each detector
fires within a bounded number of steps) and healthy ones (none fires)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from cyclegan_tf.config import make_config
from cyclegan_tf.models.health import DECAY, HealthProbe, separation, thumbnails
from cyclegan_tf.runs import checkpoints, report
from cyclegan_tf.training import health
from cyclegan_tf.training.trainer import TrainingUnhealthy, train

# ------------------------------------------------------------------------------------------------ the signals


def test_thumbnails_are_block_means_for_any_size():
    images = np.random.default_rng(0).uniform(-1, 1, (2, 50, 37, 3)).astype(np.float32)
    rows, cols = np.arange(50) * 16 // 50, np.arange(37) * 16 // 37
    expected = np.zeros((2, 16, 16, 3))
    for i in range(16):
        for j in range(16):
            expected[:, i, j] = images[:, rows == i][:, :, cols == j].mean(axis=(1, 2))
    np.testing.assert_allclose(thumbnails(images).numpy(), expected, atol=1e-6)


def test_separation_is_the_roc_auc_with_ties_counted_half():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(1.0, 1.0, (2, 8, 8, 1)), rng.normal(0.0, 1.0, (2, 7, 9, 1))
    r, f = real.reshape(-1), fake.reshape(-1)  # 128 and 126 outputs: every one is compared
    expected = np.mean((r[:, None] > f[None, :]) + 0.5 * (r[:, None] == f[None, :]))
    assert abs(float(separation(real, fake)) - expected) < 0.01  # (254 of 256 samples: a few repeats)
    assert float(separation(np.ones((1, 4, 4, 1)), np.ones((1, 4, 4, 1)))) == 0.5
    assert float(separation(np.ones((1, 4, 4, 1)), -np.ones((1, 4, 4, 1)))) == 1.0


def test_probe_signals_are_bias_corrected_moving_averages_of_the_ratios():
    rng = np.random.default_rng(2)
    probe = HealthProbe(slots=1)
    moved, apart, made, real = [], [], [], []
    previous = None
    for _step in range(3):
        inputs, targets = (rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32) for _ in range(2))
        outputs = inputs * 0.5
        probe.translation(0, tf.constant(inputs), tf.constant(outputs), tf.constant(targets))
        logs = probe.signals([tf.constant(1.0)], [tf.constant(3.0)])
        moved.append(np.abs(outputs - inputs).mean())
        apart.append(np.abs(inputs - targets).mean())
        grey_out, grey_real = outputs.mean(-1), targets.mean(-1)
        pairs = [(grey_out[1], grey_out[0], grey_real[1], grey_real[0])]
        if previous is not None:
            pairs.append((grey_out[0], previous[0], grey_real[0], previous[1]))
        made.append(np.mean([np.abs(a - b).mean() for a, b, _, _ in pairs]))
        real.append(np.mean([np.abs(c - d).mean() for _, _, c, d in pairs]))
        previous = (grey_out[1], grey_real[1])

    def average(values):  # bias-corrected exponential moving average
        weights = [(1 - DECAY) * DECAY ** (len(values) - 1 - i) for i in range(len(values))]
        return np.dot(weights, values) / sum(weights)

    assert abs(float(logs["health_change"]) - average(moved) / average(apart)) < 1e-5
    assert abs(float(logs["health_spread"]) - average(made) / average(real)) < 1e-5
    assert abs(float(logs["health_gan_share"]) - 0.25) < 1e-6
    assert "health_D" not in logs  # nothing judged: no discriminator signal


# ------------------------------------------------------------------------------------------------ the detectors


def stream(steps, **signals):
    return [{f"health_{k}": (v(step) if callable(v) else v) for k, v in signals.items()} for step in steps]


def test_a_detector_fires_once_per_episode_and_again_after_it_ends():
    watch = health.Health()
    healthy = dict(change=0.7, spread=0.9, D=0.8, D_weakest=0.7, G_gan=1.0, gan_share=0.3)
    fired = []
    for step, logs in enumerate(stream(range(1000), **{**healthy, "spread": lambda s: 0.1 if 300 <= s < 500 or
                                                        s >= 800 else 0.9}), start=0):
        fired += [(e.key, e.since, e.step) for e in watch.observe(step, logs)]
    # 80 of the last 100 judged steps said yes: at step 379, since the first of them (300); again from 800
    assert fired == [("mode", 300, 379), ("mode", 800, 879)]
    assert watch.episodes[0].ended == 579 and watch.episodes[1].ended is None
    assert watch.judged["mode"] == 1000 - health.WARMUP


def test_nothing_is_judged_while_the_averages_warm_up_after_a_resume():
    watch = health.Health(start_step=5000)
    for step in range(5000, 5000 + health.WARMUP + health.WINDOW - 1):
        assert watch.observe(step, {"health_spread": 0.0}) == []
    assert [e.key for e in watch.observe(5000 + health.WARMUP + health.WINDOW - 1, {"health_spread": 0.0})] == ["mode"]


def test_the_discriminator_detectors_read_the_strongest_and_the_weakest():
    wins, lost = health.BY_KEY["d_wins"].says_yes, health.BY_KEY["d_lost"].says_yes
    signals = health.Signals(D=0.999, D_weakest=0.5, G_gan=1.0, G_gan_window_ago=1.0)
    assert wins(signals) and lost(signals)
    assert not wins(health.Signals(D=0.999, G_gan=0.5, G_gan_window_ago=1.0))  # its G is learning
    assert not lost(health.Signals(D=0.6))
    assert wins(health.Signals(D=0.999, G_gan=1.0)) is None  # no GAN term a window ago yet: no answer


def test_stalled_needs_two_still_checks_in_a_row():
    watch = health.Health()
    assert watch.observe_movement(200, 1e-8) == []
    assert watch.observe_movement(400, 1e-3) == []
    assert watch.observe_movement(600, 1e-8) == []
    assert [e.key for e in watch.observe_movement(800, 0.0)] == ["stalled"]


def test_set_aside_keeps_the_newest_checkpoint_before_a_step(tmp_path):
    root = tmp_path / "checkpoints"
    for step in (100, 200, 300):
        folder = root / f"latest_{step:08d}"
        folder.mkdir(parents=True)
        for name in ("state.npz", "state.json", "config.json"):
            (folder / name).write_text("{}")
    (root / "LATEST").write_text("latest_00000300\n")
    kept, moved = checkpoints.set_aside_after(tmp_path, 250)
    assert kept.name == "latest_00000200" and [p.name for p in moved] == ["latest_00000300"]
    assert checkpoints.latest_checkpoint(tmp_path).name == "latest_00000200"
    assert (root / "set_aside" / "latest_00000300" / "state.json").is_file()
    kept, moved = checkpoints.set_aside_after(tmp_path, 50)  # none before it: nothing moves
    assert kept.name == "latest_00000200" and moved == []


def test_the_page_shows_each_episode_with_its_advice(tmp_path):
    watch = health.Health()
    for step in range(health.WARMUP + health.WINDOW):
        watch.observe(step, {"health_change": 0.05, "health_gan_share": 0.1})
    report.write_health(tmp_path, watch.to_dict())
    page = report.write_gallery(tmp_path, "run").read_text()
    assert "<b>identity collapse</b> from step 100 (found at step 199)" in page
    assert "lower --lambda-identity" in page and "change 0.05" in page
    assert health.summary(watch.episodes)[0].startswith("training health: identity collapse since step 100")
    assert health.summary([]) == ["training health: no problem detected"]


# ------------------------------------------------------------------------------------------------ broken runs
# Each broken on purpose at 32 px (U-Net-32, ngf 8) on the demo set; the bound is the first step a detector can
# fire (WARMUP + WINDOW) plus 200.

BOUND = health.WARMUP + health.WINDOW + 200


def small_run(tmp_path, data_dir, name, **options):
    values = dict(dataset="demo", data_dir=str(data_dir), name=name, checkpoints_dir=str(tmp_path), load_size=32,
                  crop_size=32, ngf=8, ndf=8, netG="unet_32", n_epochs=4, n_epochs_decay=0, epoch_size=100,
                  seed=0, save_epoch_freq=100, print_freq=50)
    return make_config({**values, **options})


class HoldAtInitialWeights(keras.callbacks.Callback):
    """Puts the model's generators (or discriminators) back to their first weights after every step."""

    def __init__(self, which: str):
        super().__init__()
        self.which = which

    def on_train_begin(self, logs=None):
        self.saved = [(net, net.get_weights()) for net in getattr(self.model, self.which)]

    def on_train_batch_end(self, batch, logs=None):
        for net, weights in self.saved:
            net.set_weights(weights)


class StopWhenFired(keras.callbacks.Callback):
    """Ends training once detector `key` has fired (read from health.json, which is written when one does)."""

    def __init__(self, run_dir, key: str):
        super().__init__()
        self.path, self.key, self.seen = run_dir / report.HEALTH, key, None

    def on_train_batch_end(self, batch, logs=None):
        stamp = self.path.stat().st_mtime_ns if self.path.exists() else None
        if stamp != self.seen:
            self.seen = stamp
            if any(e["key"] == self.key for e in report.read_health(self.path.parent).get("episodes", [])):
                self.model.stop_training = True


def broken(cfg, key: str, *callbacks):
    """Train `cfg` until detector `key` fires (or the run ends)."""
    return train(cfg, verbose=0, callbacks=[*callbacks, StopWhenFired(cfg.run_dir, key)])


def fired(result) -> dict[str, int]:
    """{detector key: the step its first episode fired}."""
    out = {}
    for episode in result.health:
        out.setdefault(episode.key, episode.step)
    return out


def test_a_learning_rate_far_too_high_is_mode_collapse_and_stop_sets_aside_what_follows(tmp_path, data_dir):
    # (with a ResNet generator: a U-Net's discriminators are fooled first, and that fires first)
    cfg = small_run(tmp_path, data_dir, "lr", lr=0.05, on_unhealthy="stop", netG="resnet_6blocks")
    with pytest.raises(TrainingUnhealthy, match="mode collapse") as stop:
        train(cfg, verbose=0)
    saved = json.loads((cfg.run_dir / "health.json").read_text())
    episode = saved["episodes"][0]
    assert episode["key"] == "mode" and episode["step"] <= BOUND and episode["values"]["health_spread"] < 0.25
    assert "--lr" in str(stop.value) and f"--continue-train --name {cfg.name}" in str(stop.value)
    kept = checkpoints.latest_checkpoint(cfg.run_dir)
    assert kept is not None and checkpoints.read_state(kept)["step"] <= episode["since"]
    aside = sorted((cfg.run_dir / "checkpoints" / "set_aside").glob("latest_*"))
    assert all(checkpoints.read_state(p)["step"] > episode["since"] for p in aside)


def test_copying_the_input_is_identity_collapse(tmp_path, data_dir):
    # no GAN term, a large identity weight and a U-Net (its skips copy easily): the generators learn to copy
    cfg = small_run(tmp_path, data_dir, "copy", no_gan=True, lambda_identity=5.0, lr=2e-3)
    result = broken(cfg, "identity")
    assert fired(result).get("identity", BOUND + 1) <= BOUND
    episode = next(e for e in result.health if e.key == "identity")
    assert episode.values["health_change"] < health.IDENTITY_CHANGE


def test_a_generator_held_at_its_initial_weights_loses_to_its_discriminator(tmp_path, data_dir):
    result = broken(small_run(tmp_path, data_dir, "frozen_g"), "d_wins", HoldAtInitialWeights("generators"))
    assert fired(result).get("d_wins", BOUND + 1) <= BOUND


def test_a_discriminator_held_at_its_initial_weights_has_lost(tmp_path, data_dir):
    result = broken(small_run(tmp_path, data_dir, "frozen_d"), "d_lost", HoldAtInitialWeights("discriminators"))
    assert fired(result).get("d_lost", BOUND + 1) <= BOUND


def test_a_learning_rate_of_almost_nothing_is_stalled(tmp_path, data_dir):
    result = broken(small_run(tmp_path, data_dir, "still", lr=1e-12), "stalled")
    bound = health.STALL_EVERY * (health.STALL_CHECKS + 1)
    assert fired(result).get("stalled", bound + 1) <= bound
    episode = next(e for e in result.health if e.key == "stalled")
    assert episode.values["health_movement"] < health.STALL_MOVEMENT


# ------------------------------------------------------------------------------------------------ healthy runs


def assert_no_alarm(result, detectors=("identity", "mode", "d_wins", "d_lost")) -> None:
    """No detector fired in a run (`train`'s result), and each of `detectors` judged every step it could."""
    saved = report.read_health(result.run_dir)
    assert result.health == [] and saved["episodes"] == [], saved["episodes"]
    judged = result.step - health.WARMUP - 1  # (the GAN term's trend needs one step more)
    assert all(saved["judged"][key] >= judged for key in detectors), saved["judged"]
    assert saved["judged"]["stalled"] == result.step // health.STALL_EVERY


def test_the_demo_run_raises_no_alarm_and_its_page_says_so(demo_run):
    assert_no_alarm(demo_run)
    assert "Training health</h2><p>No problem detected." in (demo_run.run_dir / "index.html").read_text()
    rows = report.read_csv(demo_run.run_dir / "loss_log.csv")
    assert {"health_change", "health_spread", "health_D", "health_D_weakest"} <= set(rows[-1])
