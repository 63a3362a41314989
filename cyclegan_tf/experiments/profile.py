"""`make profile`: where a training step's (or a forward pass's) time goes, from the TensorFlow profiler's trace.

Run as `python -m cyclegan_tf.experiments.profile` (options: `--help`). It builds the configuration of `make
bench` (`experiments.bench.training_setup` / `inference_setup`), warms it up, traces a few steps with
`tf.profiler.experimental`, and reads the trace (the `.xplane.pb` the profiler writes, with the protobuf classes
TensorFlow ships): every op executed, with its self time (its duration less that of ops nested in it on the same
thread). It prints two tables, in milliseconds per step:

- by op type (`_MklNativeFusedConv2D`, `MirrorPadGrad`, `Mean`, ...): what the kernels cost;
- by kind of work, from the layer an op belongs to (its name scope) and its type: convolutions forward and
  backward, transposed convolutions, instance norm, reflect padding, activations, residual adds, casts, the
  image pool, the optimizer, the losses.

The profiler's op times are the inter-op threads' busy time: on a 2-core machine two small ops can run side by
side, so the column of shares is of the summed op time, not of the wall time (which is printed beside it).
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

from cyclegan_tf.experiments.bench import Case, inference_setup, training_setup

# Op types of function calls and control flow: their time is their nested ops' (counted on their own).
CONTAINER_OPS = {"StatefulPartitionedCall", "PartitionedCall", "While", "StatelessWhile", "If", "StatelessIf",
                 "__inference", "IteratorGetNext", "IteratorGetNextAsOptional"}

# A kind of work for an op, from its type and the last part of its layer's name: first match wins.
KIND_RULES = (
    ("optimizer", lambda layer, op, path: "adam" in path.lower() or op.startswith("ResourceApply")),
    ("image pool", lambda layer, op, path: "pool_" in path),
    ("cast", lambda layer, op, path: op == "Cast"),
    ("transposed conv", lambda layer, op, path: "deconv" in layer and "Conv" in op),
    ("conv backward", lambda layer, op, path: "Backprop" in op and "Conv" in op),
    ("conv forward", lambda layer, op, path: "Conv" in op),
    ("instance norm", lambda layer, op, path: "norm" in layer),
    ("reflect pad", lambda layer, op, path: "reflect" in layer or "MirrorPad" in op),
    ("zero pad / crop", lambda layer, op, path: layer.endswith(("_pad", "_crop")) or op in ("Pad", "PadGrad")),
    ("activation", lambda layer, op, path: re.search(r"relu|tanh|leaky", layer) is not None),
    ("residual add", lambda layer, op, path: layer.endswith("_add")),
    ("variable reads", lambda layer, op, path: op in ("ReadVariableOp", "AssignVariableOp", "Identity")),
)


def classify(path: str, op: str) -> str:
    """The kind of work of an op named `path` of type `op` (see `KIND_RULES`); "other" (losses, glue) if none."""
    parts = [p for p in path.split("/") if p not in ("StatefulPartitionedCall", "gradient_tape")]
    layer = parts[1] if len(parts) > 2 else (parts[0] if parts else "")
    layer = re.sub(r"_\d+$", "", layer)  # Keras' call-site suffix
    for kind, matches in KIND_RULES:
        if matches(layer, op, path):
            return kind
    return "other"


def op_self_times(xplane_file: Path) -> list[tuple[str, str, float]]:
    """(op path, op type, self time in seconds) of every op the trace holds.

    Args:
        xplane_file: a `.xplane.pb` written by `tf.profiler.experimental.stop()`.
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(xplane_file).read_bytes())
    ops = []
    for plane in space.planes:
        for line in plane.lines:
            events = []
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "::" not in name:  # "scope/op_name:OpType", not the runtime's "Class::method"
                    path, op = name.rsplit(":", 1)
                    events.append((event.offset_ps, event.offset_ps + event.duration_ps, path, op))
            events.sort(key=lambda e: (e[0], -e[1]))
            # self time: an op's duration less that of the ops nested in it on this thread
            self_ps = [end - start for start, end, _, _ in events]
            stack: list[int] = []
            for i, (start, end, _, _) in enumerate(events):
                while stack and events[stack[-1]][1] <= start:
                    stack.pop()
                if stack:
                    self_ps[stack[-1]] -= end - start
                stack.append(i)
            ops += [(path, op, ps / 1e12) for (_, _, path, op), ps in zip(events, self_ps, strict=True)
                    if op.strip() not in CONTAINER_OPS and not op.strip().startswith("__inference")]
    return ops


def profile(case: Case, kind: str = "train", steps: int = 3, logdir: Path | None = None) -> dict:
    """Trace `steps` training steps (or forward passes) of `case` after warming up, and sum the ops' self times.

    Args:
        case: the configuration, as `make bench` measures it.
        kind: "train" (the real `train_step` through `fit`) or "infer" (one generator's forward pass, batch 1).
        steps: steps traced; the tables are per step.
        logdir: where the profiler writes its trace (kept for TensorBoard's profile plugin); None: a temporary
            folder.

    Returns:
        {"wall_s": seconds per step while tracing, "ops_s": summed op self time per step,
         "by_type": {op type: seconds per step}, "by_kind": {kind of work: seconds per step}}.
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as scratch:
        logdir = Path(logdir or scratch)
        if kind == "train":
            model, data = training_setup(case)
            model.fit(data, epochs=1, steps_per_epoch=3, verbose=0)

            def run():
                model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
        else:
            forward, x = inference_setup(case)
            for _ in range(3):
                forward(x).numpy()

            def run():
                for _ in range(steps):
                    forward(x).numpy()
        tf.profiler.experimental.start(str(logdir))
        started = time.perf_counter()
        run()
        wall = (time.perf_counter() - started) / steps
        tf.profiler.experimental.stop()
        (trace,) = glob.glob(str(logdir / "plugins" / "profile" / "*" / "*.xplane.pb"))[-1:]
        ops = op_self_times(Path(trace))
    by_type, by_kind = Counter(), Counter()
    for path, op, seconds in ops:
        by_type[op] += seconds / steps
        by_kind[classify(path, op)] += seconds / steps
    return {"wall_s": wall, "ops_s": sum(by_type.values()), "by_type": dict(by_type.most_common()),
            "by_kind": dict(by_kind.most_common())}


def format_profile(result: dict, top: int = 12) -> str:
    """Two Markdown tables (by op type, the `top` largest; by kind of work) of `profile`'s numbers."""
    total = result["ops_s"]
    lines = [f"wall time {result['wall_s'] * 1e3:.0f} ms/step, summed op time {total * 1e3:.0f} ms/step", ""]
    for title, table in (("op type", result["by_type"]), ("kind of work", result["by_kind"])):
        lines += [f"| {title} | ms/step | share |", "|---|---|---|"]
        for i, (name, seconds) in enumerate(table.items()):
            if title == "op type" and i == top:
                rest = sum(list(table.values())[top:])
                lines.append(f"| (the other {len(table) - top}) | {rest * 1e3:.1f} | {rest / total:.1%} |")
                break
            lines.append(f"| {name} | {seconds * 1e3:.1f} | {seconds / total:.1%} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m cyclegan_tf.experiments.profile", description=__doc__.split("\n\n")[0],
        epilog="examples:\n  python -m cyclegan_tf.experiments.profile                      # 256 px float32 step\n"
               "  python -m cyclegan_tf.experiments.profile --precision bf16 --size 128\n"
               "  python -m cyclegan_tf.experiments.profile --kind infer --logdir prof/   # keep the trace\n"
               "  python -m cyclegan_tf.experiments.profile --size 32 --ngf 8 --steps 1  # smoke",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=["train", "infer"], default="train")
    parser.add_argument("--net", default="resnet_9blocks", help="--netG of the generators")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--precision", choices=["off", "bf16", "fp16"], default="off", help="--mixed-precision")
    parser.add_argument("--ngf", type=int, default=64, help="ngf = ndf")
    parser.add_argument("--xla", action="store_true", help="compile with XLA (--jit-compile on)")
    parser.add_argument("--model", default="cycle_gan", choices=["cycle_gan", "cut", "fastcut"])
    parser.add_argument("--steps", type=int, default=3, help="steps traced")
    parser.add_argument("--top", type=int, default=12, help="op types listed")
    parser.add_argument("--logdir", type=Path, help="keep the trace here (TensorBoard's profile plugin reads it)")
    parser.add_argument("--json", type=Path, help="also save the numbers here")
    args = parser.parse_args(argv)
    from cyclegan_tf.startup import import_tensorflow_quietly

    import_tensorflow_quietly()
    case = Case(args.net, args.size, args.precision, ngf=args.ngf, xla=args.xla, model=args.model)
    result = profile(case, args.kind, args.steps, args.logdir)
    print(f"{args.kind}: {case.label}\n")
    print(format_profile(result, args.top))
    if args.json:
        args.json.write_text(json.dumps({"case": case.label, "kind": args.kind, **result}, indent=2) + "\n")


if __name__ == "__main__":
    main()
