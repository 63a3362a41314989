"""`make bench-deploy`: tiles (seams and memory) and the server's throughput, on this machine.

- tiles: a 1024x1024 mosaic of the demo's test images translated whole and in tiles by a run's generator:
  the PSNR of tiled against whole, and of naive tiling (each tile on its own) against whole;
- memory: the peak RSS of a process that translates a 4096x4096 image in tiles (and of one that translates a
  1024x1024 image whole, for scale), with a ResNet-9 generator at ngf 64 (the reference's size; its weights are
  random, which changes nothing about memory);
- server: requests/s at 256x256 with 16 concurrent clients, 96 requests, through HTTP on 127.0.0.1.

Usage: python -m cyclegan_tf.experiments.deploy_bench --run checkpoints/demo [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

MEMORY = """
import resource, sys, numpy as np
from cyclegan_tf.config import TrainConfig
from cyclegan_tf.models.registry import build_generator
from cyclegan_tf.inference.translator import Translator
side, tile = int(sys.argv[1]), int(sys.argv[2])
generator = build_generator(TrainConfig(netG="resnet_9blocks", ngf=64), "AtoB")
image = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
out = Translator(generator, "resnet_9blocks", tile=tile or None)(image)
assert out.shape == image.shape
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def mosaic(folder: Path, side: int, cell: int = 128) -> np.ndarray:
    from PIL import Image

    files = sorted(folder.glob("*.png"))
    n = side // cell
    cells = [np.asarray(Image.open(files[i % len(files)]).convert("RGB").resize((cell, cell), Image.BICUBIC))
             for i in range(n * n)]
    return np.concatenate([np.concatenate(cells[r * n:(r + 1) * n], 1) for r in range(n)], 0)


def tiles(run: Path, data: Path, tile: int, overlap: int) -> dict:
    from cyclegan_tf.evaluation.metrics import psnr
    from cyclegan_tf.inference.translator import load_translator

    image = mosaic(data, 1024)
    whole = load_translator(run, "AtoB")(image)
    tiled = load_translator(run, "AtoB", tile=tile, tile_overlap=overlap)(image)
    plain = load_translator(run, "AtoB")
    naive = np.concatenate([np.concatenate([plain(image[r:r + tile, c:c + tile]) for c in range(0, 1024, tile)], 1)
                            for r in range(0, 1024, tile)], 0)
    return {"tile": tile, "overlap": overlap, "psnr_tiled_db": psnr(tiled, whole), "psnr_naive_db": psnr(naive, whole)}


def memory(side: int, tile: int) -> float:
    done = subprocess.run([sys.executable, "-c", MEMORY, str(side), str(tile)], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return float(done.stdout.strip().splitlines()[-1])


def server_throughput(run: Path, clients: int = 16, requests: int = 96, size: int = 256) -> dict:
    from PIL import Image

    from cyclegan_tf.deploy.server import make_app, start_in_thread
    from cyclegan_tf.inference.translator import load_generators, translators_of
    from cyclegan_tf.runs.checkpoints import open_checkpoint

    with open_checkpoint(run) as opened:
        translators = translators_of(load_generators(opened, ["AtoB"]), opened.config.netG)
    running = start_in_thread(make_app(translators))
    rng = np.random.default_rng(0)
    bodies = []
    for _ in range(requests):
        out = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(out, format="PNG")
        bodies.append(out.getvalue())

    def post(body: bytes) -> int:
        request = urllib.request.Request(f"{running.url}/translate", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=300) as response:
            response.read()
            return response.status

    try:
        post(bodies[0])  # the first call traces the graph
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            statuses = list(pool.map(post, bodies))
        seconds = time.perf_counter() - started
    finally:
        running.stop()
    assert statuses == [200] * requests
    return {"size": size, "clients": clients, "requests": requests, "requests_per_s": requests / seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("checkpoints/demo"), help="A trained run (make demo).")
    parser.add_argument("--data", type=Path, help="Images for the mosaic [default: the demo's testA].")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from cyclegan_tf.data.registry import resolve_dataset

    data = args.data or resolve_dataset("demo") / "testA"
    results = {"tiles": tiles(args.run, data, 512, 64), "server": server_throughput(args.run),
               "peak_rss_mib": {"4096px tiles 512": memory(4096, 512), "1024px whole": memory(1024, 0)},
               "this_process_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
