"""Per epoch, panels of fixed test images (PNG grid, TensorBoard), `timelapse.gif`, `index.html`."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from cyclegan_tf.choices import DOMAINS, REVERSE
from cyclegan_tf.config import TrainConfig
from cyclegan_tf.data.splits import TestImages, test_images
from cyclegan_tf.inference.sampler import Sampler, noise
from cyclegan_tf.inference.translator import translators_of
from cyclegan_tf.models.registry import model_generators, run_directions
from cyclegan_tf.runs import report
from cyclegan_tf.training.callbacks.tensorboard import write_images


class SampleWriter(keras.callbacks.Callback):
    """Each epoch: fixed test images through the run's generators, as `samples/epoch_NNN.png` and TensorBoard
    images (`samples/AtoB`, `samples/BtoA`); a time-lapse frame of the first sample of each direction
    (`timelapse/`, made into `timelapse.gif`); and `index.html`. With `--sample-freq N`, also a grid every N steps
    (`samples/step_NNNNNNNN.png`), and the time-lapse frames come every N steps instead of every epoch.

    A row per sample: a CycleGAN's real_A | fake_B | rec_A | idt_B (and real_B | fake_A | rec_B | idt_A), the
    reference's panels (idt_B = G_AB(real_B): identity panels need domains with the same number of channels);
    pix2pix's input | output | target (real_A | fake_B | real_B for AtoB); a DCGAN's images of fixed noise.
    """

    def __init__(self, config: TrainConfig, root: Path, writer):
        super().__init__()
        self.config, self.root, self.writer = config, root, writer
        self.samples: dict[str, TestImages] | None = None

    def on_train_begin(self, logs=None):
        if self.samples is None:
            self.samples = fixed_samples(self.root, self.config)
            self.translators = translators_of(model_generators(self.model, self.config), self.config.netG,
                                             config=self.config)
            if not self.samples:  # a generator from noise: n_samples x n_samples images of the same noise
                self.sampler = Sampler(self.model.G)
                self.noise = noise(self.config.n_samples**2, self.sampler.nz, self.config.seed or 0)
        self.sampled_at = int(self.model.step_counter.numpy())  # a resumed run goes on from its step

    def panels(self) -> dict[str, tuple[list[str], list[list[np.ndarray]]]]:
        """{direction: (column labels, one row of panels per sample)}; a DCGAN's {"generated": rows of images}."""
        if not self.samples:
            images, n = self.sampler.from_noise(self.noise), self.config.n_samples
            return {"generated": (["G(z)"] + [""] * (n - 1), [list(images[i:i + n]) for i in range(0, n * n, n)])}
        out = {}
        for direction, images in self.samples.items():
            source, target = DOMAINS[direction]
            forward, back = self.translators[direction], self.translators.get(REVERSE[direction])
            # the identity panel feeds a target image to the forward generator: only where both domains scale alike
            identity = (back is not None and self.config.input_nc == self.config.output_nc
                        and forward.scales[0] == forward.scales[1])
            labels = [f"real_{source}", f"fake_{target}"]
            labels += [f"rec_{source}"] if back else []
            labels += [f"real_{target}"] if images.paired else []
            labels += [f"idt_{target}"] if identity else []
            rows = []
            for i, real in enumerate(images.inputs):
                fake = forward(real)
                other = images.targets[i % len(images.targets)]
                # scientific images as 8-bit views (false colour of the first three bands, stretched): a no-op for 8-bit
                rows.append([forward.view(real), forward.view(fake, output=True)]
                            + ([back.view(back(fake), output=True)] if back else [])
                            + ([forward.view(other, output=True)] if images.paired else [])
                            + ([forward.view(forward(other), output=True)] if identity else []))
            out[direction] = (labels, rows)
        return out

    def on_train_batch_end(self, batch, logs=None):
        freq = self.config.sample_freq
        if not freq:
            return
        step = int(self.model.step_counter.numpy())
        if step // freq > self.sampled_at // freq:  # crossed a multiple (also with --steps-per-execution)
            self.sampled_at = step
            self.write(f"step_{step // freq * freq:08d}", f"step {step // freq * freq}", timelapse=True)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        # with --sample-freq the time-lapse is made of the step frames alone, one frame rate
        panels = self.write(f"epoch_{done:03d}", f"epoch {done}", timelapse=not self.config.sample_freq, step=done)
        step = int(self.model.step_counter.numpy())
        columns = " | ".join(next(iter(panels.values()))[0])
        report.write_gallery(self.config.run_dir, f"cyclegan-tf run {self.config.name}",
                             f"Epoch {done} of {self.config.total_epochs} done (step {step}).",
                             f"Each row, on fixed test images: {columns}.")

    def write(self, stem: str, label: str, timelapse: bool, step: int | None = None) -> dict:
        """The sample grid `samples/<stem>.png` (and TensorBoard images at `step`, an epoch), and a time-lapse frame:
        the first sample of every direction, real | fake, under `label`."""
        run_dir = self.config.run_dir
        panels = self.panels()
        grid = report.vstack([report.sample_grid(rows, labels) for labels, rows in panels.values()], 3 * report.GAP)
        report.save_png(run_dir / "samples" / f"{stem}.png", grid)
        if step is not None:
            with self.writer.as_default():
                for direction, (labels, rows) in panels.items():
                    write_images(f"samples/{direction}", [report.hstack(row) for row in rows], step,
                                 " | ".join(labels))
            self.writer.flush()
        if timelapse:
            firsts = [report.hstack(rows[0][:2], report.GAP) for _, rows in panels.values()]
            report.save_png(run_dir / "timelapse" / f"{stem}.png",
                            report.caption(report.vstack(firsts, report.GAP), label))
            prefix = stem.split("_")[0] + "_"
            report.write_gif([path for _, path in report.numbered(run_dir / "timelapse", prefix)],
                             run_dir / "timelapse.gif")
        return panels


def fixed_samples(root: Path, config: TrainConfig) -> dict[str, TestImages]:
    """The first `n_samples` test images of each direction (training images without a test split), scaled and
    centre-cropped to the training size: the same images every epoch, so the panels show progress.

    Args:
        root: the run's training data folder.
        config: the run's config (`n_samples`, `crop_size`, the model's directions).

    Returns:
        {direction: its test images}.
    """
    out = {}
    for direction in run_directions(config):
        images = test_images(config, root, direction, config.n_samples)
        images.inputs, images.targets = ([report.fit_square(image, config.crop_size) for image in group]
                                         for group in (images.inputs, images.targets))
        out[direction] = images
    return out
