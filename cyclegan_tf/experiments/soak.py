"""`make soak`: train a small run, kill it with SIGKILL at random moments, resume it each time, check what is left.

Each round starts `cyclegan-tf train` (a new run, then `--continue-train`) in a process of its own and kills it
after a random delay, so kills land during start-up, training steps, checkpoint writes and the per-epoch
sample, time-lapse and gallery writes. After the last kill the run is resumed to its end, and the run
directory is checked: every checkpoint opens and restores; the step counter is the planned total;
`loss_log.csv` has each logged step once, with no gaps; the time-lapse has one frame per epoch; `index.html`
lists each epoch once. It prints a table of the checks and exits 1 if one fails.

    python -m cyclegan_tf.experiments.soak --kills 20        # make soak
    python -m cyclegan_tf.experiments.soak --kills 3 --epochs 15 --max-delay 15   # the tests run this one
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

STEPS_PER_EPOCH = 6  # --max-dataset-size 6, batch 1
PRINT_FREQ = 2


@dataclass
class Check:
    what: str
    found: str
    ok: bool


def train_command(run_dir: Path, data_dir: Path, epochs: int, resume: bool) -> list[str]:
    """The `cyclegan-tf train` command of the soaked run: 32 px, ngf 4, a checkpoint every 2 steps.

    Args:
        run_dir: the run directory (its name is the run's).
        data_dir: where the demo dataset is generated.
        epochs: planned epochs.
        resume: `--continue-train` instead of a new run.

    Returns:
        The command's arguments.
    """
    common = ["--name", run_dir.name, "--checkpoints-dir", str(run_dir.parent), "--quiet"]
    if resume:
        return [sys.executable, "-m", "cyclegan_tf.cli", "train", *common, "--continue-train"]
    return [sys.executable, "-m", "cyclegan_tf.cli", "train", *common, "--dataset", "demo", "--data-dir", str(data_dir),
            "--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32", "--preprocess", "resize_and_crop",
            "--max-dataset-size", str(STEPS_PER_EPOCH), "--n-epochs", str(epochs), "--n-epochs-decay", "0",
            "--save-latest-freq", "2", "--save-epoch-freq", "2", "--print-freq", str(PRINT_FREQ), "--n-samples", "1",
            "--pool-size", "4", "--seed", "0"]


def soak(work: Path, kills: int, epochs: int, min_delay: float, max_delay: float, seed: int = 0,
         log=print) -> tuple[list[Check], list[float]]:
    """Kill and resume a run `kills` times, finish it, and check it.

    Args:
        work: a folder for the run and its data.
        kills: SIGKILLs, each after a delay drawn uniformly from [`min_delay`, `max_delay`] seconds.
        epochs: planned epochs of 6 steps.
        min_delay, max_delay: the range of the delays.
        seed: of the delays.
        log: called with a line per round.

    Returns:
        The checks, and the delays used.
    """
    rng = random.Random(seed)
    run_dir, data_dir = work / "runs" / "soak", work / "data"
    delays = []
    for kill in range(kills):
        resume = latest_step(run_dir) is not None  # killed before its first checkpoint: a new run again
        process = subprocess.Popen(train_command(run_dir, data_dir, epochs, resume), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        delay = rng.uniform(min_delay, max_delay)
        try:
            process.wait(timeout=delay)
            log(f"kill {kill + 1}: the run ended before it ({process.returncode})")
            if process.returncode:
                raise RuntimeError(f"train failed: {process.stderr.read()[-2000:]}")
            break
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            delays.append(delay)
            log(f"kill {kill + 1}: SIGKILL after {delay:.1f} s; latest step {latest_step(run_dir)}")
    final = subprocess.run(train_command(run_dir, data_dir, epochs, latest_step(run_dir) is not None),
                           capture_output=True, text=True)
    if final.returncode:
        raise RuntimeError(f"the final resume failed: {final.stderr[-2000:]}")
    return check_run(run_dir, epochs), delays


def latest_step(run_dir: Path) -> int | None:
    from cyclegan_tf.runs import checkpoints

    latest = checkpoints.latest_checkpoint(run_dir)
    return checkpoints.read_state(latest)["step"] if latest else None


def check_run(run_dir: Path, epochs: int) -> list[Check]:
    """The checks of a soaked run directory.

    Args:
        run_dir: the run directory.
        epochs: the epochs it was planned for.

    Returns:
        One `Check` per property (what, what was found, whether it holds).
    """
    from cyclegan_tf.models.registry import build_model
    from cyclegan_tf.runs import checkpoints

    total = epochs * STEPS_PER_EPOCH
    out = []
    folders = sorted(p for p in (run_dir / "checkpoints").iterdir() if p.is_dir())
    loaded, corrupt = 0, []
    for folder in folders:
        try:
            with checkpoints.open_checkpoint(folder) as opened:
                model = build_model(opened.config, STEPS_PER_EPOCH, (32, 32))
                groups = tuple(opened.state["groups"])
                opened.restore(checkpoints.parts_of(model, groups))
            loaded += 1
        except Exception as error:  # any failure is what this counts
            corrupt.append(f"{folder.name}: {error}")
    out.append(Check("checkpoints that open and restore", f"{loaded} of {len(folders)}", loaded == len(folders)
                     and loaded > 0))
    out.append(Check("corrupt checkpoints", str(len(corrupt)) + (f" ({corrupt[0]})" if corrupt else ""),
                     not corrupt))
    step = latest_step(run_dir)
    out.append(Check("step counter of the latest checkpoint", f"{step} (planned {total})", step == total))
    with open(run_dir / "loss_log.csv", newline="") as f:
        steps = [int(row["step"]) for row in csv.DictReader(f)]
    expected = list(range(PRINT_FREQ, total + 1, PRINT_FREQ))
    duplicates = len(steps) - len(set(steps))
    gaps = sorted(set(expected) - set(steps))
    out.append(Check("loss_log.csv rows (one per logged step)", f"{len(steps)} rows, {duplicates} duplicates, "
                     f"{len(gaps)} gaps", steps == expected))
    frames = sorted(int(m.group(1)) for p in (run_dir / "timelapse").glob("epoch_*.png")
                    if (m := re.match(r"epoch_(\d+)\.png$", p.name)))
    out.append(Check("time-lapse frames (one per epoch)", f"{len(frames)} for {epochs} epochs",
                     frames == list(range(1, epochs + 1))))
    listed = re.findall(r"samples/epoch_(\d+)\.png", (run_dir / "index.html").read_text())
    out.append(Check("epochs in index.html (each once)", f"{len(listed)} listed, {len(set(listed))} distinct",
                     sorted(int(e) for e in listed) == list(range(1, epochs + 1))))
    leftovers = [p.name for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]
    out.append(Check("temporary folders left in checkpoints/", str(len(leftovers)), not leftovers))
    return out


def table(checks: list[Check], kills: int) -> str:
    """The checks as a Markdown table, with the number of kills in its header.

    Args:
        checks: from `check_run`.
        kills: the SIGKILLs the run survived.
    """
    lines = [f"| check ({kills} kills) | found | ok |", "|---|---|---|"]
    lines += [f"| {c.what} | {c.found} | {'yes' if c.ok else 'NO'} |" for c in checks]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cyclegan_tf.experiments.soak",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=100, help="planned epochs of 6 steps")
    parser.add_argument("--min-delay", type=float, default=8.0, help="seconds")
    parser.add_argument("--max-delay", type=float, default=20.0, help="seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="folder for the run [default: a temporary one]")
    args = parser.parse_args(argv)
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        checks, delays = soak(args.work or Path(tmp), args.kills, args.epochs, args.min_delay, args.max_delay,
                              args.seed)
    print(table(checks, len(delays)))
    print(f"{len(delays)} kills in {time.time() - started:.0f} s")
    sys.exit(0 if all(c.ok for c in checks) else 1)


if __name__ == "__main__":
    main()
