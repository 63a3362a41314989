"""`cyclegan-tf export` and `cyclegan-tf serve`: a run where its user's application runs."""

from __future__ import annotations

from pathlib import Path

import click

from cyclegan_tf import choices
from cyclegan_tf.cli.common import CHECKPOINTS_DIR, CONTEXT, PRETRAINED, run_source
from cyclegan_tf.startup import import_tensorflow_quietly


@click.command(context_settings=CONTEXT)
@click.option("--name", help="Run to export: <checkpoints-dir>/<name>.")
@CHECKPOINTS_DIR
@PRETRAINED
@click.option("--format", "fmt", type=click.Choice(choices.EXPORT_FORMATS), required=True,
              help="keras: a .keras file; savedmodel: a TensorFlow SavedModel folder (TF Serving); onnx: an .onnx "
                   "file (onnxruntime); litert: a .tflite file (LiteRT, phones); torch: the reference's state "
                   "dicts (latest_net_G_A.pth, ...) for its test.py.")
@click.option("--direction", type=click.Choice(choices.DIRECTIONS),
              help="The generator to export [default: the run's first; torch: every one].")
@click.option("--epoch", type=int, help="Export the networks saved at this epoch (default: the latest).")
@click.option("--output", "-o", type=click.Path(),
              help="File (folder for savedmodel and torch) to write [default: <run>/export/<name>_<direction>].")
@click.option("--raw", is_flag=True, help="float32 [-1, 1] tensors in and out instead of uint8 images.")
@click.option("--quantize", type=click.Choice(choices.QUANTIZE_MODES), default="none", show_default=True,
              help="litert: float16 weights, or int8 calibrated on the run's test images.")
def export(name, checkpoints_dir, pretrained, fmt, direction, epoch, output, raw, quantize) -> None:
    """Export a run's generator as a whole translation for another runtime.

    The exported model takes uint8 images (N, H, W, C) of any height and width and gives uint8 images of
    the same size: scaling and reflect-padding to the network's size multiple are inside it (--raw:
    float32 [-1, 1] in and out). A JSON beside the file says its direction, channels, size multiple,
    source run and SHA-256. onnx and litert need `pip install "cyclegan-tf[export]"`.

    \b
    Examples:
      cyclegan-tf export --name apple2orange --format onnx -o a2o.onnx
      cyclegan-tf export --name apple2orange --format savedmodel --direction BtoA -o serving/o2a/1
      cyclegan-tf export --pretrained horse2zebra --format litert --quantize fp16
      cyclegan-tf export --name apple2orange --format keras          # keras.saving.load_model after import cyclegan_tf
      cyclegan-tf export --name apple2orange --format torch -o pt/   # the reference's latest_net_G_A.pth, ...
    """
    run = run_source(name, checkpoints_dir, pretrained)
    import_tensorflow_quietly()
    from cyclegan_tf.runs.checkpoints import open_checkpoint

    with open_checkpoint(run, epoch) as opened:
        target = Path(output) if output else None
        if fmt == "torch":
            from cyclegan_tf.interop.importer import export_torch

            for path in export_torch(opened, target or run / "export", [direction] if direction else None):
                click.echo(path)
            return
        from cyclegan_tf.deploy.export import export_model, run_calibration_images

        calibration = run_calibration_images(opened.config, direction) if quantize == "int8" else None
        label = direction or "default"
        path, info = export_model(opened, fmt, target or run / "export" / f"{opened.config.name}_{label}", direction,
                                  raw, quantize, calibration)
    click.echo(f"wrote {path} ({info.direction}, {info.input}; {path}.json describes it)")


@click.command(context_settings=CONTEXT)
@click.option("--name", help="Run to serve: <checkpoints-dir>/<name>.")
@CHECKPOINTS_DIR
@PRETRAINED
@click.option("--epoch", type=int, help="Serve the networks saved at this epoch (default: the latest).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 makes it reachable from other machines).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: any free one).")
@click.option("--max-upload-mb", type=click.FloatRange(min=0.01), default=20.0, show_default=True,
              help="Largest request body.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=16_000_000, show_default=True,
              help="Largest decoded image (width x height).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds a request may wait and run before it is answered 503.")
@click.option("--max-batch", type=click.IntRange(min=1), default=8, show_default=True,
              help="Requests of one size translated together.")
@click.option("--tile", type=click.IntRange(min=64), default=1024, show_default=True,
              help="Images larger than this on a side are translated in tiles of this size.")
def serve(name, checkpoints_dir, pretrained, epoch, host, port, max_upload_mb, max_pixels, timeout, max_batch,
          tile) -> None:
    """Serve a run's translation over HTTP, with a web page to try it.

    \b
    GET  /           a page: drop, pick or draw an image, see it translated beside it
    GET  /healthz    status and limits
    POST /translate  an image (raw body or multipart field "image"), ?direction=AtoB|BtoA -> PNG of its size
    Errors are JSON with status 400, 413 (too large), 415 (not an image) or 503 (busy, too slow).
    Needs `pip install "cyclegan-tf[serve]"`.

    \b
    Examples:
      cyclegan-tf serve --name apple2orange                 # then open http://127.0.0.1:8000/
      cyclegan-tf serve --pretrained horse2zebra --port 8080
      curl -s --data-binary @horse.jpg "http://127.0.0.1:8000/translate" -o zebra.png
    """
    run = run_source(name, checkpoints_dir, pretrained)
    import_tensorflow_quietly()  # before anything that imports TensorFlow (deploy.export does)
    from cyclegan_tf.deploy.export import require

    require("starlette", "uvicorn", "multipart")
    from cyclegan_tf.deploy.server import ServerLimits, make_app, serve_forever
    from cyclegan_tf.inference.translator import load_generators, translators_of
    from cyclegan_tf.runs.checkpoints import open_checkpoint

    with open_checkpoint(run, epoch) as opened:
        translators = translators_of(load_generators(opened), opened.config.netG, tile, opened.config)
        title = f"cyclegan-tf: {opened.config.name}"
    limits = ServerLimits(max_upload_mb=max_upload_mb, max_pixels=max_pixels, timeout=timeout, max_batch=max_batch)
    directions = ", ".join(translators)
    serve_forever(make_app(translators, limits, title), host, port,
                  lambda url: click.echo(f"serving {run} ({directions}) on {url}/ (Ctrl-C stops)", err=True))
