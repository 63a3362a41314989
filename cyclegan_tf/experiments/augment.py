"""`make bench-augment`: what a DCGAN's augmentation does on a small set, measured.

A DCGAN is trained on the first N images of the embedded demo set (domain A: orange shapes on beige) with each
`--augment` mode and several seeds, and scored by FID and KID of as many generated images against those N, with
the untrained generator's FID for scale. Features: InceptionV3 when its ImageNet weights can be had, else (no
internet) `--feature-extractor FILE`, else a small convolutional network with random weights made here (its FID
compares these runs with each other only).

Usage: python -m cyclegan_tf.experiments.augment [--images 100] [--seeds 3] [--epochs 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from cyclegan_tf.choices import AUGMENTS


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100, help="Training images (the first N of the demo's A).")
    parser.add_argument("--seeds", type=int, default=3, help="Runs per augmentation mode.")
    parser.add_argument("--epochs", type=int, default=60, help="Epochs per run.")
    parser.add_argument("--size", type=int, default=32, help="Image size (a power of two).")
    parser.add_argument("--feature-extractor", help="A .keras feature extractor [default: InceptionV3, else random].")
    parser.add_argument("--json", help="Also write the results here.")
    args = parser.parse_args(argv)

    from cyclegan_tf.config import make_config
    from cyclegan_tf.data.registry import resolve_dataroot
    from cyclegan_tf.errors import UserError
    from cyclegan_tf.evaluation.evaluate import score_generation
    from cyclegan_tf.evaluation.features import load_feature_extractor, save_random_extractor
    from cyclegan_tf.inference.sampler import Sampler
    from cyclegan_tf.models.registry import build_generator
    from cyclegan_tf.training.trainer import train

    scratch = Path(tempfile.mkdtemp(prefix="cyclegan-tf-augment-"))
    try:
        extractor = load_feature_extractor(args.feature_extractor)
    except UserError:
        extractor = load_feature_extractor(save_random_extractor(scratch / "random_features.keras", 64, (32, 64)))
    results: dict = {"images": args.images, "epochs": args.epochs, "size": args.size, "features": extractor.name,
                     "runs": {}}

    def options(augment: str, seed: int) -> dict:
        return dict(model="dcgan", dataset="demo", name=f"{augment}_{seed}", checkpoints_dir=str(scratch),
                    crop_size=args.size, ngf=16, ndf=16, batch_size=16, n_epochs=args.epochs, n_epochs_decay=0,
                    max_dataset_size=args.images, seed=seed, augment=augment, save_epoch_freq=10**6,
                    lr=2e-4)

    cfg = make_config(options("none", 0))
    root = resolve_dataroot(cfg)
    untrained = []
    for seed in range(args.seeds):
        import keras

        keras.utils.set_random_seed(seed)
        untrained.append(score_generation(Sampler(build_generator(cfg)), cfg, root, extractor).fid)
    results["untrained_fid"] = untrained
    for augment in AUGMENTS:
        for seed in range(args.seeds):
            cfg = make_config(options(augment, seed))
            started = time.time()
            run = train(cfg, verbose=0)
            scores = score_generation(Sampler(run.model.G), cfg, root, extractor)
            results["runs"].setdefault(augment, []).append(
                {"seed": seed, "fid": scores.fid, "kid": scores.kid, "seconds": time.time() - started})
            print(f"{augment:12s} seed {seed}: FID {scores.fid:.4f}  KID {scores.kid:.4f}  "
                  f"({time.time() - started:.0f} s)", flush=True)
    print(f"\n{args.images} images, {args.epochs} epochs at {args.size} px, features: {extractor.name}")
    print(f"untrained G: FID {np.mean(untrained):.4f}")
    for augment, runs in results["runs"].items():
        fids = [r["fid"] for r in runs]
        print(f"{augment:12s} FID {np.mean(fids):.4f} +- {np.std(fids):.4f} (min {min(fids):.4f}, max {max(fids):.4f})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
