"""`make bench`: how fast training, inference and the input pipeline run on this machine.

Run as `python -m cyclegan_tf.experiments.bench` (options: `--help`). Every measurement runs in a fresh
process, so that its peak resident memory is its own and one configuration's graphs and caches
do not slow the next. It prints a Markdown table and can save the raw numbers as JSON.

What is measured, for each generator, image size and precision:
- training: full CycleGAN steps (both generators, both 70x70 PatchGANs, batch 1) through `fit`,
  the real `train_step`, on images already in memory; images/s = steps/s;
- inference: one generator's forward pass, batch 1, under `tf.function`;
- achieved GFLOP/s: FLOPs counted from the conv layers (`networks.count_multiply_adds`) at
  3x the forward pass for a trained pass (forward + backward), divided by the step time, and the
  fraction of the peak of one large 3x3 convolution measured in the same run and precision;
- the input pipeline on its own (`data.unpaired_dataset` on generated PNGs, first pass with
  decoding and steady state from the in-memory cache);
- the peak RSS of each measuring process.

With `--torch`, `benchmarks/torch_reference.py` (our PyTorch implementation of the reference's
training step, same architecture, checked by parameter count) runs in the same session and the
table gains its times and the ratio to ours.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

TORCH_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "torch_reference.py"

# Forward passes of each kind of network in one CycleGAN step: each of the two generators runs three
# (fake, reconstruction, identity), each of the two discriminators three (on the fake for the
# generators' loss, on a real and on a pooled fake for its own).
FORWARD_PASSES_PER_STEP = 2 * 3
# A trained pass costs about 3x its forward pass (forward, then gradients of activations and of weights).
TRAINED_PASS_COST = 3


@dataclass
class Case:
    """One configuration to measure."""

    net_g: str
    size: int
    precision: str  # "off" (float32) or "bf16" / "fp16"
    steps: int = 10
    ngf: int = 64
    xla: bool = False
    deterministic: bool = False  # op determinism (`train --deterministic`)
    batch: int = 1  # the global batch
    workers: int = 1  # processes of a MultiWorkerMirroredStrategy cluster on 127.0.0.1 (batch // workers each)
    model: str = "cycle_gan"  # or "cut" / "fastcut" (their presets: anti-aliased networks, NCE heads)

    @property
    def label(self) -> str:
        precision = "float32" if self.precision == "off" else self.precision
        model = "" if self.model == "cycle_gan" else f"{self.model} "
        return (f"{model}{self.net_g} {self.size}px {precision}{' XLA' if self.xla else ''}"
                f"{' deterministic' if self.deterministic else ''}{f' batch {self.batch}' if self.batch > 1 else ''}"
                f"{f' on {self.workers} workers' if self.workers > 1 else ''}")


def generator_for_size(net_g: str, size: int) -> str:
    """A U-Net needs inputs of a multiple of 2**downs: unet_256 below 256 px becomes unet_128.

    Args:
        net_g: a `--netG` name.
        size: the image side, in pixels.

    Returns:
        The generator name to measure at that size.
    """
    return "unet_128" if net_g == "unet_256" and size < 256 else net_g


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _quiet_tensorflow():
    from cyclegan_tf.startup import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    return tf


def training_setup(case: Case):
    """The model of `case`, compiled as `train` compiles it, and an endless dataset of one random (A, B) batch.

    Returns:
        (model, dataset): `model.fit(dataset, steps_per_epoch=n)` runs n real training steps.
    """
    tf = _quiet_tensorflow()
    import numpy as np

    from cyclegan_tf.config import make_config
    from cyclegan_tf.models.registry import build_model
    from cyclegan_tf.training.distribute import make_strategy

    cfg = make_config(dict(model=case.model, dataset="bench", netG=case.net_g, ngf=case.ngf, ndf=case.ngf,
                           mixed_precision=case.precision, crop_size=case.size, load_size=case.size,
                           jit_compile="on" if case.xla else "off", seed=0, batch_size=case.batch,
                           strategy="multiworker" if case.workers > 1 else "none"))
    strategy = make_strategy(cfg)  # first: a cluster's collective ops must be set up before anything runs
    if case.deterministic:
        tf.config.experimental.enable_op_determinism()
    with strategy.scope():
        model = build_model(cfg, 1000, (case.size, case.size))
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (2, case.batch, case.size, case.size, 3)).astype("float32")
    return model, tf.data.Dataset.from_tensors((images[0], images[1])).repeat()


def measure_training(case: Case) -> dict:
    """Steps per second of the real `train_step` through `fit`, after tracing and two warm-up steps."""
    import keras

    from cyclegan_tf.nn.networks import count_multiply_adds

    model, data = training_setup(case)

    class StepTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends: list[float] = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

    started = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=3, verbose=0)  # trace + warm up
    first_seconds = time.perf_counter() - started
    timer = StepTimes()
    model.fit(data, epochs=1, steps_per_epoch=case.steps + 1, verbose=0, callbacks=[timer])
    step_seconds = (timer.ends[-1] - timer.ends[0]) / case.steps

    out = {"train_step_s": step_seconds, "train_img_s": case.batch / step_seconds, "first_call_s": first_seconds}
    if case.model == "cycle_gan":  # the FLOP count is CycleGAN's step
        macs_g = count_multiply_adds(model.G_AB, case.size, case.size)
        macs_d = count_multiply_adds(model.D_A, case.size, case.size)
        # 2 FLOPs per multiply-add, for every image of the global batch
        step_flops = 2 * TRAINED_PASS_COST * FORWARD_PASSES_PER_STEP * (macs_g + macs_d) * case.batch
        out.update(train_gflops=step_flops / 1e9, train_gflop_s=step_flops / step_seconds / 1e9)
    return out


def inference_setup(case: Case):
    """One generator of `case` (instance norm, random weights) under `tf.function`, and a random batch-1 image.

    Returns:
        (run, x): `run(x)` is one forward pass.
    """
    tf = _quiet_tensorflow()
    import keras

    from cyclegan_tf.models.precision import dtype_policy
    from cyclegan_tf.nn.networks import define_generator

    keras.config.set_dtype_policy(dtype_policy(case.precision))
    generator = define_generator(case.net_g, 3, 3, case.ngf, "instance", False, antialias=case.model != "cycle_gan")
    run = tf.function(lambda x: generator(x, training=False), jit_compile=case.xla)
    return run, tf.random.uniform((1, case.size, case.size, 3), -1, 1)


def measure_inference(case: Case, repeats: int | None = None) -> dict:
    """Images per second of one generator's forward pass, batch 1.

    Args:
        case: the generator, image size, precision, width and XLA setting to measure.
        repeats: timed calls, after two warm-up calls; None: max(3, `case.steps`).

    Returns:
        {"infer_s": seconds per image, "infer_img_s": images per second}.
    """
    run, x = inference_setup(case)
    for _ in range(2):
        run(x).numpy()
    repeats = repeats or max(3, case.steps)
    started = time.perf_counter()
    for _ in range(repeats):
        run(x).numpy()
    seconds = (time.perf_counter() - started) / repeats
    return {"infer_s": seconds, "infer_img_s": 1.0 / seconds}


def measure_conv_peak(precision: str, size: int = 128, channels: int = 256, repeats: int = 10, rounds: int = 5) -> dict:
    """GFLOP/s of one 3x3 convolution, channels -> channels at size x size: the machine's practical peak.

    The best of `rounds` rounds of `repeats` calls: a peak, so a round slowed by other work does not count.

    Args:
        precision: "off" (float32), "bf16" or "fp16".
        size: the image side, in pixels (batch 1).
        channels: input and output channels of the convolution.
        repeats: calls timed together in one round.
        rounds: rounds; the fastest counts.

    Returns:
        {"conv_peak_gflop_s": GFLOP/s}.
    """
    tf = _quiet_tensorflow()

    dtype = {"off": tf.float32, "bf16": tf.bfloat16, "fp16": tf.float16}[precision]
    x = tf.cast(tf.random.uniform((1, size, size, channels)), dtype)
    kernel = tf.cast(tf.random.normal((3, 3, channels, channels), stddev=0.02), dtype)
    conv = tf.function(lambda x: tf.nn.conv2d(x, kernel, 1, "SAME"))
    for _ in range(3):
        conv(x).numpy()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeats):
            conv(x).numpy()
        best = min(best, (time.perf_counter() - started) / repeats)
    return {"conv_peak_gflop_s": 2 * size * size * 9 * channels * channels / best / 1e9}


def measure_pipeline(size: int, images: int = 60, batches: int = 200) -> dict:
    """Images per second of the real input pipeline: PNG decode + resize + crop + flip, then from cache.

    Args:
        size: the crop size, in pixels; the generated PNGs are size * 286 // 256 pixels wide.
        images: PNGs per training domain; the first pass reads this many pairs.
        batches: pairs read in the cached (steady-state) pass.

    Returns:
        {"pipeline_first_img_s", "pipeline_cached_img_s"}: (A, B) pairs per second of each pass.
    """
    _quiet_tensorflow()
    from cyclegan_tf.config import TrainConfig
    from cyclegan_tf.data.demo import make_demo_dataset
    from cyclegan_tf.data.pipeline import unpaired_dataset

    with tempfile.TemporaryDirectory() as root:
        load = size * 286 // 256
        make_demo_dataset(Path(root), size=load, n_train=images, n_test=1, seed=0)
        cfg = TrainConfig(dataroot=root, load_size=load, crop_size=size, seed=0)
        data = unpaired_dataset(Path(root), cfg)
        iterator = iter(data.dataset)
        started = time.perf_counter()
        for _ in range(images):  # the first epoch decodes every file
            next(iterator)
        first = images / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        cached = batches / (time.perf_counter() - started)
    # One "image" here is one (A, B) pair: what one training step consumes.
    return {"pipeline_first_img_s": first, "pipeline_cached_img_s": cached}


# The sizes of `measure_translate`'s folder: a folder of photos has a few sizes, in both orientations.
TRANSLATE_SHAPES = ((256, 256), (192, 256), (256, 192), (240, 320), (320, 240))


def measure_video(frames: int = 240, width: int = 640, height: int = 360, ngf: int = 64, batch_size: int = 8
                  ) -> dict:
    """Frames per second of `translate` of a video: the synthetic clip (`data.demo_video`) at `width` x `height`,
    24 fps with audio, through a ResNet-9 of random weights, decoded, translated (steady statistics and per
    frame) and encoded.

    Returns:
        {"video_fps_running", "video_fps_off": frames per second, "video_frames", "video_size"}.
    """
    from cyclegan_tf.data.demo_video import clip_frames
    from cyclegan_tf.inference.translator import Translator
    from cyclegan_tf.inference.video import translate_video, write_clip
    from cyclegan_tf.nn.networks import define_generator

    translator = Translator(define_generator("resnet_9blocks", 3, 3, ngf, "instance", False), "resnet_9blocks")
    result = {"video_frames": frames, "video_size": [width, height]}
    with tempfile.TemporaryDirectory() as root:
        source = Path(root, "clip.mp4")
        write_clip(source, (frame for frame, _ in clip_frames(frames, width, height)), 24, tone=440)
        for mode in ("running", "off"):
            translate_video(translator, source, Path(root, "warm.mp4"), batch_size, mode, duration=0.5)  # trace
            began = time.perf_counter()
            translate_video(translator, source, Path(root, f"{mode}.mp4"), batch_size, mode)
            result[f"video_fps_{mode}"] = frames / (time.perf_counter() - began)
    return result


def measure_translate(images: int = 100, ngf: int = 64, precision: str = "off", batch_size: int = 8) -> dict:
    """Images per second of `translate` of a folder: `images` PNGs of the sizes in `TRANSLATE_SHAPES`, in turn,
    with a ResNet-9 of random weights; one image after the other (decode, translate, encode, write) against the
    overlapped, batched `translate_files`.

    Returns:
        {"translate_serial_img_s", "translate_img_s", "translate_speedup", "translate_max_difference": the largest
         difference in grey levels between the two paths' outputs}.
    """
    _quiet_tensorflow()
    import keras
    import numpy as np
    from PIL import Image

    from cyclegan_tf.inference.translator import Translator, translate_files
    from cyclegan_tf.models.precision import dtype_policy
    from cyclegan_tf.nn.networks import define_generator

    keras.config.set_dtype_policy(dtype_policy(precision))
    translator = Translator(define_generator("resnet_9blocks", 3, 3, ngf, "instance", False), "resnet_9blocks")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as root:
        paths = []
        for i in range(images):
            height, width = TRANSLATE_SHAPES[i % len(TRANSLATE_SHAPES)]
            coarse = rng.uniform(0, 255, (height // 16, width // 16, 3)).astype("uint8")  # smooth, like a photo
            picture = Image.fromarray(coarse).resize((width, height), Image.BILINEAR)
            paths.append(Path(root, f"in/{i:03d}.png"))
            paths[-1].parent.mkdir(exist_ok=True)
            picture.save(paths[-1])
        translate_files(translator, paths[:len(TRANSLATE_SHAPES)], Path(root, "warm"), workers=0)  # trace once
        seconds = {}
        for label, options in (("serial", dict(workers=0, batch_size=1)),
                               ("batched", dict(workers=2, batch_size=batch_size))):
            started = time.perf_counter()
            translate_files(translator, paths, Path(root, label), **options)
            seconds[label] = time.perf_counter() - started
        # a batch may sum a convolution in another order than one image alone: a grey level at most
        difference = max(int(np.abs(np.asarray(Image.open(Path(root, "serial", p.name)), "int16")
                                    - np.asarray(Image.open(Path(root, "batched", p.name)), "int16")).max())
                         for p in paths)
    return {"translate_serial_img_s": images / seconds["serial"], "translate_img_s": images / seconds["batched"],
            "translate_speedup": seconds["serial"] / seconds["batched"], "translate_max_difference": difference}


def measure_health(steps: int = 150, rounds: int = 3, calls: int = 500) -> dict:
    """What training health costs at the demo's settings (its preset: 64 px, ResNet-6, ngf 16, batch 1).

    Its in-graph part alone (`models.health.HealthProbe`: both directions' translations, both discriminators'
    outputs, the averages; `calls` calls of a `tf.function`, as in a step) and the detectors' Python time per step
    (`training.health.Health.observe`, and the callback's check of the generators' weights every `STALL_EVERY`
    steps), against the step without health (the fastest of `rounds` rounds of `steps` steps: other processes only
    ever slow a round down). Also the same step with health, alternating with the one without: a direct
    comparison, but one that a busy machine blurs by more than the cost.
    """
    tf = _quiet_tensorflow()
    import keras
    import numpy as np

    from cyclegan_tf.config import make_config
    from cyclegan_tf.models.health import HealthProbe
    from cyclegan_tf.models.registry import build_model
    from cyclegan_tf.training import health
    from cyclegan_tf.training.callbacks.health import generator_weights, movement

    cfg = make_config(dict(dataset="demo", seed=0))
    size = cfg.crop_size
    model = build_model(cfg, 1000, (size, size))
    probe = model.health
    images = np.random.default_rng(0).uniform(-1, 1, (2, 1, size, size, 3)).astype("float32")
    data = tf.data.Dataset.from_tensors((images[0], images[1])).repeat()

    class StepTimes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.ends: list[float] = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

    seconds: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(rounds):
        for mode in ("off", "on"):
            model.health = probe if mode == "on" else None
            model.make_train_function(force=True)
            model.fit(data, epochs=1, steps_per_epoch=3, verbose=0)  # trace + warm up
            timer = StepTimes()
            model.fit(data, epochs=1, steps_per_epoch=steps + 1, verbose=0, callbacks=[timer])
            seconds[mode].append((timer.ends[-1] - timer.ends[0]) / steps)

    alone = HealthProbe(slots=2)
    x, y = tf.constant(images[0]), tf.constant(images[1])
    scores = tf.constant(np.asarray(model.D_A(images[0])))

    @tf.function
    def probe_step():
        alone.translation(0, x, 0.5 * x, y)
        alone.translation(1, y, 0.5 * y, x)
        alone.separation(scores, 0.5 * scores)
        alone.separation(scores, 0.2 * scores)
        return alone.signals([tf.reduce_mean(x)], [tf.reduce_mean(y)])

    probe_step()
    started = time.perf_counter()
    for _ in range(calls):
        probe_step()
    probe_s = (time.perf_counter() - started) / calls

    logs = {name: 0.5 for name in ("health_change", "health_spread", "health_D", "health_D_weakest", "health_G_gan",
                                   "health_gan_share")}
    watch, started = health.Health(), time.perf_counter()
    for step in range(5000):
        watch.observe(step, logs)
    observe_s = (time.perf_counter() - started) / 5000
    before, started = generator_weights(model), time.perf_counter()
    movement(before, generator_weights(model))
    python_s = observe_s + (time.perf_counter() - started) / health.STALL_EVERY
    off, on = min(seconds["off"]), min(seconds["on"])
    return {"health_step_off_s": off, "health_probe_s": probe_s, "health_python_s": python_s,
            "health_overhead": (probe_s + python_s) / off, "health_step_on_s": on,
            "health_ab_overhead": on / off - 1, "health_rounds": seconds}


def run_one(kind: str, spec: dict) -> dict:
    """Run one measurement in this process (the child side of `in_subprocess`).

    Args:
        kind: "train", "infer", "conv", "pipeline", "translate", "health" or "video"; anything else is a
            `ValueError`.
        spec: the keyword arguments of the measurement (a `Case`'s fields for "train" and "infer").

    Returns:
        The measurement's numbers, plus "peak_rss_mib": this process's peak resident memory, in MiB.
    """
    if kind == "train":
        result = measure_training(Case(**spec))
    elif kind == "infer":
        result = measure_inference(Case(**spec))
    elif kind == "conv":
        result = measure_conv_peak(**spec)
    elif kind == "pipeline":
        result = measure_pipeline(**spec)
    elif kind == "translate":
        result = measure_translate(**spec)
    elif kind == "health":
        result = measure_health(**spec)
    elif kind == "video":
        result = measure_video(**spec)
    else:
        raise ValueError(kind)
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def in_subprocess(kind: str, spec: dict, python: str = sys.executable) -> dict:
    """One measurement in a fresh Python process; its result is the last line of its stdout.

    Args:
        kind: what `run_one` measures ("train", "infer", "conv", ...).
        spec: the measurement's keyword arguments, passed as JSON.
        python: the Python interpreter to run it with.

    Returns:
        The measurement's numbers; a `RuntimeError` with the end of its stderr if the process fails.
    """
    command = [python, "-m", "cyclegan_tf.experiments.bench", "--one", kind, json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode:
        raise RuntimeError(f"{kind} {spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def in_cluster(case: Case, python: str = sys.executable) -> dict:
    """A training measurement on `case.workers` processes on 127.0.0.1 joined by TF_CONFIG (the first one's numbers).

    Args:
        case: what to train; `case.batch` is the global batch.
        python: the Python interpreter to run the workers with.

    Returns:
        Worker 0's numbers; a `RuntimeError` with the end of its stderr if a worker fails.
    """
    ports = []
    for _ in range(case.workers):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    command = [python, "-m", "cyclegan_tf.experiments.bench", "--one", "train", json.dumps(asdict(case))]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_CONFIG": json.dumps(
                                    {"cluster": cluster, "task": {"type": "worker", "index": i}})})
               for i in range(case.workers)]
    outputs = [worker.communicate() for worker in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        if worker.returncode:
            raise RuntimeError(f"cluster worker failed:\n{err[-3000:]}")
    return json.loads(outputs[0][0].strip().splitlines()[-1])


def run_torch(sizes: list[int], steps: int, ngf: int, precisions: list[str]) -> dict[str, dict[int, dict]]:
    """The PyTorch reference step at each size and precision, each in its own process (needs `torch`).

    Args:
        sizes: image sides to measure, in pixels.
        steps: timed training steps at each size.
        ngf: the width of the networks (ngf = ndf).
        precisions: "off" (float32) and/or "bf16" (torch.autocast); others (fp16: a GPU's) are left out.

    Returns:
        {precision: {size: the reference script's numbers (train_step_s, infer_img_s, peak_rss_mib,
         torch_version)}}.
    """
    results: dict[str, dict[int, dict]] = {}
    for precision in (p for p in precisions if p in ("off", "bf16")):
        for size in sizes:
            command = [sys.executable, str(TORCH_SCRIPT), "--size", str(size), "--steps", str(steps), "--ngf",
                       str(ngf), "--precision", precision]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"PyTorch reference failed:\n{done.stderr[-3000:]}")
            results.setdefault(precision, {})[size] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def run_bench(nets: list[str], sizes: list[int], precisions: list[str], steps: int, ngf: int,
              with_torch: bool, xla: bool = False, progress=print, deterministic: bool = False,
              cluster: bool = False, models: tuple[str, ...] = (), translate: bool = False,
              health: bool = False) -> dict:
    """Every measurement of the table; returns the raw numbers.

    Args:
        nets: `--netG` names to measure (unet_256 is measured as unet_128 below 256 px).
        sizes: image sides, in pixels.
        precisions: "off" (float32), "bf16" and/or "fp16".
        steps: timed training steps per configuration.
        ngf: the width of every network (ngf = ndf).
        with_torch: also run the PyTorch reference at each size (needs `torch`).
        xla: also measure the first network compiled with XLA at each size and precision.
        progress: called with one line of text as each measurement finishes.
        deterministic: also measure the first network's training with op determinism (`--deterministic`) at each
            size and precision.
        cluster: also measure the first network at the first size and precision trained by 2 worker processes
            (MultiWorkerMirroredStrategy on 127.0.0.1) with a global batch of 2, against 1 process with batch 2.
        models: also measure these models ("cut", "fastcut") with the first network at each size in the first
            precision (the same rows as CycleGAN's, for the ratios).
        translate: also measure `translate` of a folder of 100 images of mixed sizes (`measure_translate`), one by
            one against batched and overlapped, in the first precision.
        health: also measure what training health costs at the demo's settings (`measure_health`).

    Returns:
        {"rows": one dict per configuration, "conv_peak": by precision, "pipeline": by size,
         "torch": by precision and size, "translate": `measure_translate`'s numbers}.
    """
    results: dict = {"rows": [], "conv_peak": {}, "pipeline": {}, "torch": {}}
    for precision in precisions:
        results["conv_peak"][precision] = in_subprocess("conv", {"precision": precision})
        progress(f"conv peak {precision}: {results['conv_peak'][precision]['conv_peak_gflop_s']:.0f} GFLOP/s")
    for size in sizes:
        results["pipeline"][size] = in_subprocess("pipeline", {"size": size})
        progress(f"input pipeline {size}px: {results['pipeline'][size]['pipeline_cached_img_s']:.0f} img/s")
    for net in nets:
        for size in sizes:
            variants = [(p, False, False) for p in precisions]
            if net == nets[0]:
                variants += [(p, True, False) for p in precisions if xla]
                variants += [(p, False, True) for p in precisions if deterministic]
            cases = [Case(generator_for_size(net, size), size, precision, steps, ngf, compiled, fixed)
                     for precision, compiled, fixed in variants]
            if net == nets[0]:
                cases += [Case(net, size, precisions[0], steps, ngf, model=model) for model in models]
            for case in cases:
                precision = case.precision
                train = in_subprocess("train", asdict(case))
                infer = in_subprocess("infer", asdict(case))
                row = {**asdict(case), "label": case.label, **train, "infer_img_s": infer["infer_img_s"],
                       "train_peak_rss_mib": train["peak_rss_mib"], "infer_peak_rss_mib": infer["peak_rss_mib"]}
                if "train_gflop_s" in row:
                    row["peak_fraction"] = row["train_gflop_s"] / results["conv_peak"][precision]["conv_peak_gflop_s"]
                results["rows"].append(row)
                progress(f"{case.label}: {row['train_step_s']:.2f} s/step, {row['infer_img_s']:.2f} img/s inference")
    if cluster:
        single = Case(generator_for_size(nets[0], sizes[0]), sizes[0], precisions[0], steps, ngf, batch=2)
        for case, measure in ((single, lambda c: in_subprocess("train", asdict(c))),
                              (Case(**{**asdict(single), "workers": 2}), in_cluster)):
            row = {**asdict(case), "label": case.label, **measure(case)}
            row["train_peak_rss_mib"] = row["peak_rss_mib"]  # training only: no inference measured here
            row["peak_fraction"] = row["train_gflop_s"] / results["conv_peak"][case.precision]["conv_peak_gflop_s"]
            results["rows"].append(row)
            progress(f"{case.label}: {row['train_step_s']:.2f} s/step")
        results["cluster_overhead"] = results["rows"][-1]["train_step_s"] / results["rows"][-2]["train_step_s"]
        progress(f"2 workers x batch 1 / 1 process x batch 2: {results['cluster_overhead']:.2f}x the step time")
    if with_torch:
        results["torch"] = run_torch(sizes, steps, ngf, precisions)
        for precision, by_size in results["torch"].items():
            for size, numbers in by_size.items():
                progress(f"PyTorch reference {size}px {precision}: {numbers['train_step_s']:.2f} s/step, "
                         f"{numbers['infer_img_s']:.2f} img/s inference")
    if health:
        results["health"] = in_subprocess("health", {})
        progress(f"training health at the demo's settings: {results['health']['health_overhead']:.1%} of a step")
    if translate:
        results["translate"] = in_subprocess("translate", {"ngf": ngf, "precision": precisions[0]})
        progress(f"translate of a folder: {results['translate']['translate_serial_img_s']:.2f} img/s one by one, "
                 f"{results['translate']['translate_img_s']:.2f} img/s batched and overlapped")
        results["video"] = in_subprocess("video", {"ngf": ngf})
        progress(f"translate of a 640x360 video: {results['video']['video_fps_running']:.2f} frames/s steady, "
                 f"{results['video']['video_fps_off']:.2f} frames/s per frame")
    return results


def format_table(results: dict) -> str:
    """The Markdown table of `run_bench`'s numbers, with ratios to PyTorch at the same precision where it ran."""
    torch = results.get("torch") or {}

    def reference_of(row: dict) -> dict | None:  # PyTorch's numbers at the row's size and precision (JSON: str keys)
        by_size = torch.get(row.get("precision", "off")) or {}
        return by_size.get(row["size"]) or by_size.get(str(row["size"]))

    head = ["configuration", "train s/step", "train img/s", "GFLOP/s", "of conv peak", "infer img/s",
            "peak RSS MiB"]
    if torch:
        head += ["train vs PyTorch", "infer vs PyTorch"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in results["rows"]:
        infer = f"{row['infer_img_s']:.2f}" if "infer_img_s" in row else ""
        flops = (f"{row['train_gflop_s']:.0f}", f"{row['peak_fraction']:.0%}") if "train_gflop_s" in row else ("", "")
        cells = [row["label"], f"{row['train_step_s']:.2f}", f"{row['train_img_s']:.2f}", *flops, infer,
                 f"{max(row['train_peak_rss_mib'], row.get('infer_peak_rss_mib', 0)):.0f}"]
        same_network = row["net_g"].startswith("resnet_9") and row.get("model", "cycle_gan") == "cycle_gan"
        reference = reference_of(row) if same_network and row.get("batch", 1) == 1 else None
        if torch:
            cells += ([f"{reference['train_step_s'] / row['train_step_s']:.2f}x",
                       f"{row['infer_img_s'] / reference['infer_img_s']:.2f}x"] if reference else ["", ""])
        lines.append("| " + " | ".join(cells) + " |")
    for precision, by_size in torch.items():
        for size, numbers in by_size.items():
            name = "float32 eager" if precision == "off" else f"{precision} autocast"
            cells = [f"PyTorch {numbers['torch_version']} reference, resnet_9blocks {size}px {name}",
                     f"{numbers['train_step_s']:.2f}", f"{1 / numbers['train_step_s']:.2f}", "", "",
                     f"{numbers['infer_img_s']:.2f}", f"{numbers['peak_rss_mib']:.0f}", "1.00x", "1.00x"]
            lines.append("| " + " | ".join(cells) + " |")
    notes = [f"conv peak ({precision}): {values['conv_peak_gflop_s']:.0f} GFLOP/s (3x3 conv, 256 -> 256 channels, "
             "128x128, batch 1)" for precision, values in results["conv_peak"].items()]
    notes += [f"input pipeline {size}px (PNG decode, resize, crop, flip; one A+B pair per step): "
              f"{v['pipeline_first_img_s']:.0f} pairs/s first pass, {v['pipeline_cached_img_s']:.0f} pairs/s cached"
              for size, v in results["pipeline"].items()]
    for row in results["rows"]:  # CUT's speed against CycleGAN's at the same size and precision
        if row.get("model", "cycle_gan") != "cycle_gan":
            base = next((r for r in results["rows"] if r.get("model") == "cycle_gan" and r["size"] == row["size"]
                         and r["precision"] == row["precision"] and r["net_g"] == row["net_g"] and not r["xla"]
                         and not r["deterministic"] and r["batch"] == 1), None)
            if base:
                notes.append(f"{row['label']}: {base['train_step_s'] / row['train_step_s']:.2f}x CycleGAN's steps/s, "
                             f"peak RSS {row['train_peak_rss_mib']:.0f} MiB against {base['train_peak_rss_mib']:.0f}")
    if "translate" in results:
        t = results["translate"]
        notes.append(f"translate of a folder (100 PNGs of 5 sizes around 256 px, ResNet-9): "
                     f"{t['translate_serial_img_s']:.2f} img/s one image after the other, {t['translate_img_s']:.2f} "
                     f"img/s batched by size with decoding and writing overlapped ({t['translate_speedup']:.2f}x; "
                     f"outputs within {t['translate_max_difference']} grey level(s))")
    if "health" in results:
        h = results["health"]
        notes.append(f"training health at the demo's settings (64 px, ResNet-6, ngf 16): its signals "
                     f"{h['health_probe_s'] * 1e3:.2f} ms and its detectors {h['health_python_s'] * 1e3:.2f} ms of a "
                     f"{h['health_step_off_s'] * 1e3:.1f} ms step: {h['health_overhead']:.1%} (steps with and "
                     f"without, alternating: {h['health_ab_overhead']:+.1%})")
    if "cluster_overhead" in results:
        notes.append(f"2 worker processes on 127.0.0.1 (tf.distribute, global batch 2) take "
                     f"{results['cluster_overhead']:.2f}x the step time of 1 process with batch 2 on the same cores")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {note}" for note in notes)


def machine_description() -> str:
    import platform

    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.machine()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m cyclegan_tf.experiments.bench", description=__doc__.split("\n\n")[0],
        epilog="examples:\n  python -m cyclegan_tf.experiments.bench            # the full table (make bench)\n"
               "  python -m cyclegan_tf.experiments.bench --torch    # with the PyTorch reference (make bench-torch)\n"
               "  python -m cyclegan_tf.experiments.bench --sizes 32 --nets resnet_6blocks --ngf 8 --steps 2  # smoke",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nets", nargs="+", default=["resnet_9blocks", "unet_256"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--precisions", nargs="+", default=["off", "bf16"], choices=["off", "bf16", "fp16"])
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per configuration")
    parser.add_argument("--ngf", type=int, default=64, help="ngf = ndf of every network")
    parser.add_argument("--torch", action="store_true", help="also run the PyTorch reference (needs torch)")
    parser.add_argument("--xla", action="store_true", help="also measure the first network compiled with XLA")
    parser.add_argument("--cluster", action="store_true",
                        help="also measure 2 worker processes on 127.0.0.1 (tf.distribute) against 1 process")
    parser.add_argument("--deterministic", action="store_true",
                        help="also measure the first network's training with op determinism (train --deterministic)")
    parser.add_argument("--models", nargs="*", default=[], choices=["cut", "fastcut"],
                        help="also measure these models with the first network, against CycleGAN")
    parser.add_argument("--translate", action="store_true",
                        help="also measure translate of a folder of 100 images, one by one against batched")
    parser.add_argument("--health", action="store_true",
                        help="also measure what training health costs at the demo's settings")
    parser.add_argument("--json", type=Path, help="also save the raw numbers here")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], json.loads(args.one[1]))))
        return
    print(f"machine: {machine_description()}", flush=True)
    results = run_bench(args.nets, args.sizes, args.precisions, args.steps, args.ngf, args.torch, args.xla,
                        progress=lambda line: print("  " + line, flush=True), deterministic=args.deterministic,
                        cluster=args.cluster, models=tuple(args.models), translate=args.translate,
                        health=args.health)
    results["machine"] = machine_description()
    print()
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
