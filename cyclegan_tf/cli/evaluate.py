"""`cyclegan-tf evaluate`."""

from __future__ import annotations

import click

from cyclegan_tf.cli.common import CHECKPOINTS_DIR, CONTEXT, PRETRAINED, STRICT_FILES, finish_batch, run_source
from cyclegan_tf.startup import import_tensorflow_quietly

FEATURES_HELP = ("FID/KID features: [default: the FID Inception network the papers use, pytorch-fid's weights "
                 "downloaded into the models dir on first use]; imagenet: Keras' InceptionV3; a .pth "
                 "(pytorch-fid's) or .pt (NVIDIA's TorchScript inception-2015-12-05.pt) of the FID network; or a "
                 "Keras model file taking float32 RGB in [0, 255] and returning (batch, d) features.")

@click.command(context_settings=CONTEXT)
@click.option("--name", help="Run to evaluate: <checkpoints-dir>/<name>.")
@CHECKPOINTS_DIR
@PRETRAINED
@click.option("--direction", type=click.Choice(["AtoB", "BtoA", "both"]), default="both", show_default=True,
              help="Which generator(s) to score (both: every one the run has; pix2pix has one).")
@click.option("--epoch", type=int, help="Evaluate the networks saved at this epoch (default: the latest).")
@click.option("--feature-extractor", "--feature_extractor", "--fid-weights", "feature_extractor",
              metavar="imagenet|FILE", help=FEATURES_HELP)
@click.option("--no-fid", "--no_fid", "no_fid", is_flag=True,
              help="Skip FID and KID (no feature extractor needed): the other scores only.")
@click.option("--dataroot", type=click.Path(file_okay=False),
              help="Folder with testA/ testB/ (pix2pix: test/ or val/ of A|B images) [default: the run's own "
                   "dataset].")
@click.option("--max-images", "--max_images", "max_images", type=click.IntRange(min=2),
              help="Use at most this many test images per domain.")
@click.option("--segmenter", type=click.Path(dir_okay=False),
              help="FCN-score (labels -> photo) with this Keras segmentation model (.keras): input (1, H, W, 3) "
                   "float32 RGB in [0, 255], output (1, H, W, K) class scores. The run's inputs are the label maps: "
                   "one-channel class ids, or colour maps with --palette. Runs on labels2photo_demo get the "
                   "FCN-score from its exact segmenter without this.")
@click.option("--palette", type=click.Path(dir_okay=False),
              help="JSON list of [r, g, b] colours, class i = colour i, to read colour label maps (--segmenter).")
@STRICT_FILES
def evaluate(name, checkpoints_dir, pretrained, direction, epoch, feature_extractor, no_fid, dataroot, max_images,
             segmenter, palette, strict) -> None:
    """Score a trained run on its test split: FID and KID, L1 and PSNR, and the embedded sets' exact scores.

    For each direction a CycleGAN run has (AtoB: testA -> G_AB -> fake B -> G_BA -> reconstructed A), FID and
    KID compare the translations with the real test images of the target domain (lower is better); cycle L1
    (in [-1, 1] units) and PSNR compare each input with its reconstruction. A pix2pix run is scored in its
    direction on the A|B pairs of test/ (else val/): FID and KID as above, L1 and PSNR against each pair's
    target. On the embedded demo dataset the exact demo score (IoU, style accuracy) is added, on
    labels2photo_demo the FCN-score of labels -> photo (per-pixel acc., per-class acc., class IoU). Prints a
    table and saves it as JSON in <run>/eval/epoch_NNN.json.

    Features are the FID Inception network's, as in the papers and pytorch-fid (pytorch-fid's weights,
    downloaded once into the models dir; offline, put the file there or pass --fid-weights FILE, or --no-fid);
    --feature-extractor imagenet uses Keras' InceptionV3 instead. The table names the network. FID/KID from
    few images are biased upwards: compare runs on the same images with the same features.

    \b
    Examples:
      cyclegan-tf evaluate --name apple2orange
      cyclegan-tf evaluate --pretrained horse2zebra --direction AtoB     # the reference's model on its test set
      cyclegan-tf evaluate --name apple2orange --epoch 100 --direction AtoB
      cyclegan-tf evaluate --name demo --feature-extractor features.keras
      cyclegan-tf evaluate --name h2z --fid-weights inception-2015-12-05.pt   # NVIDIA's TorchScript file
      cyclegan-tf evaluate --name facades_pix2pix --no-fid                 # L1 / PSNR to the targets
      cyclegan-tf evaluate --name h2z --dataroot ~/data/horse2zebra --max-images 100
    """
    import_tensorflow_quietly()
    from cyclegan_tf.data.images import Skipped
    from cyclegan_tf.evaluation.evaluate import evaluate_run, fcn_score_run
    from cyclegan_tf.evaluation.fcn import keras_segmenter, read_palette

    run = run_source(name, checkpoints_dir, pretrained)
    colours = read_palette(palette) if palette else None  # files the user gave fail before the work
    segment = keras_segmenter(segmenter) if segmenter else None
    skipped = Skipped()
    result = evaluate_run(run, direction, epoch, feature_extractor, dataroot, max_images, features=not no_fid,
                          skipped=skipped, strict=strict)
    click.echo(result.table())
    if segment:
        fcn = fcn_score_run(run, epoch, segment, colours, dataroot, max_images)
        click.echo(f"FCN-score with {segmenter} ({fcn.images} test images): {fcn.line()}")
    click.echo(f"saved {run / 'eval' / f'epoch_{result.epoch:03d}.json'}")
    finish_batch(skipped)
