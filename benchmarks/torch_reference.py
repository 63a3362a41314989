"""The reference CycleGAN training step in PyTorch, for `make bench-torch` to time beside ours.

Our own PyTorch implementation of what pytorch-CycleGAN-and-pix2pix runs by default: ResNet-9
generators and 70x70 PatchGANs with non-affine instance norm, LSGAN, cycle and identity L1,
a 50-image pool, Adam(2e-4, 0.5), eager mode, float32, batch 1. The networks are checked against
the reference's parameter counts (at ngf = ndf = 64) before anything is timed, so the two
implementations do the same work.

The networks are built with the reference's module structure, so their state dicts have the reference's
keys: the `.pth` import tests (tests/test_torch_import.py) build every architecture here.

With `--precision bf16` the step runs as PyTorch's mixed precision does on a CPU: the forward passes and losses
under `torch.autocast("cpu", dtype=torch.bfloat16)` (convolutions in bfloat16, weights and their gradients in
float32), the backward passes and Adam outside it; inference under the same autocast.

Prints one JSON line: seconds per training step, inference images/s, peak RSS.
Usage: python benchmarks/torch_reference.py --size 256 --steps 8 [--precision bf16]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import resource
import time

import torch
from torch import nn

REFERENCE_PARAMETERS = {"generator": 11_378_179, "discriminator": 2_764_737}  # ngf = ndf = 64


def norm(channels: int, kind: str = "instance") -> nn.Module:
    """The reference's norm layers: non-affine instance norm, batch norm, or a placeholder that keeps positions."""
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "none":
        return nn.Identity()
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """pad, conv, norm, relu, [dropout], pad, conv, norm; plus the input. Its keys: `conv_block.<index>`."""

    def __init__(self, channels: int, kind: str = "instance", dropout: bool = False):
        super().__init__()
        bias = kind == "instance"  # the reference drops conv biases under batch norm and under no norm
        def half():
            return [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), norm(channels, kind)]

        layers = half() + [nn.ReLU(True)] + ([nn.Dropout(0.5)] if dropout else []) + half()
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """The reference's ResNet generator, with its state-dict keys (`model.<index>...`)."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, blocks: int = 9, kind: str = "instance",
                 dropout: bool = False):
        super().__init__()
        bias = kind == "instance"
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), norm(ngf, kind), nn.ReLU(True)]
        for i in range(2):
            width = ngf * 2**i
            layers += [nn.Conv2d(width, width * 2, 3, stride=2, padding=1, bias=bias), norm(width * 2, kind),
                       nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, kind, dropout) for _ in range(blocks)]
        for i in range(2):
            width = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(width, width // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       norm(width // 2, kind), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def resnet_generator(ngf: int = 64, blocks: int = 9) -> nn.Module:
    return ResnetGenerator(ngf=ngf, blocks=blocks)


class UnetBlock(nn.Module):
    """One U-Net level around `inner` (None: the innermost); its output is its input beside the level's result."""

    def __init__(self, outer_nc: int, inner_nc: int, inner: nn.Module | None, input_nc: int | None = None,
                 outermost: bool = False, kind: str = "batch", dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        bias = kind == "instance"
        down = nn.Conv2d(input_nc or outer_nc, inner_nc, 4, stride=2, padding=1, bias=bias)
        if outermost:
            layers = [down, inner, nn.ReLU(), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1), nn.Tanh()]
        elif inner is None:
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(), nn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1, bias=bias),
                      norm(outer_nc, kind)]
        else:
            layers = [nn.LeakyReLU(0.2), down, norm(inner_nc, kind), inner, nn.ReLU(),
                      nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=bias), norm(outer_nc, kind)]
            layers += [nn.Dropout(0.5)] if dropout else []
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """The reference's U-Net with `num_downs` levels (8: unet_256, 7: unet_128); keys `model.model.<index>...`."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, num_downs: int = 8, ngf: int = 64, kind: str = "batch",
                 dropout: bool = True):
        super().__init__()
        block = UnetBlock(ngf * 8, ngf * 8, None, kind=kind)
        for _ in range(num_downs - 5):
            block = UnetBlock(ngf * 8, ngf * 8, block, kind=kind, dropout=dropout)
        for outer in (4, 2, 1):
            block = UnetBlock(ngf * outer, ngf * outer * 2, block, kind=kind)
        self.model = UnetBlock(output_nc, ngf, block, input_nc=input_nc, outermost=True, kind=kind)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """The reference's PatchGAN; keys `model.<index>...`."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, kind: str = "instance"):
        super().__init__()
        bias = kind == "instance"
        layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for n in range(1, n_layers + 1):
            out = ndf * min(2**n, 8)
            layers += [nn.Conv2d(width, out, 4, stride=2 if n < n_layers else 1, padding=1, bias=bias),
                       norm(out, kind), nn.LeakyReLU(0.2, True)]
            width = out
        layers += [nn.Conv2d(width, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def patchgan(ndf: int = 64, n_layers: int = 3) -> nn.Module:
    return NLayerDiscriminator(ndf=ndf, n_layers=n_layers)


class PixelDiscriminator(nn.Module):
    """The reference's 1x1 PatchGAN; keys `net.<index>...`."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, kind: str = "instance"):
        super().__init__()
        bias = kind == "instance"
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1), nn.LeakyReLU(0.2, True), nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            norm(ndf * 2, kind), nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * 2, 1, 1, bias=bias))

    def forward(self, x):
        return self.net(x)


def init_normal(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)


def adam(*nets: nn.Module) -> torch.optim.Adam:
    """One optimizer for a pair of networks, with the reference's settings."""
    return torch.optim.Adam([p for net in nets for p in net.parameters()], 2e-4, betas=(0.5, 0.999))


class ImagePool:
    """The reference's history of fakes: fill to 50, then swap with probability 0.5."""

    def __init__(self, size: int = 50):
        self.size, self.images = size, []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        out = []
        for image in images:
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.random() > 0.5:
                i = random.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


class CycleGANStep:
    """`optimize_parameters` of the reference's CycleGANModel with its default options."""

    def __init__(self, ngf: int = 64):
        self.G_A, self.G_B = resnet_generator(ngf), resnet_generator(ngf)
        self.D_A, self.D_B = patchgan(ngf), patchgan(ngf)
        for net in (self.G_A, self.G_B, self.D_A, self.D_B):
            net.apply(init_normal)
        self.opt_G = adam(self.G_A, self.G_B)
        self.opt_D = adam(self.D_A, self.D_B)
        self.pool_A, self.pool_B = ImagePool(), ImagePool()
        self.mse, self.l1 = nn.MSELoss(), nn.L1Loss()

    def gan(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        return self.mse(logits, torch.full_like(logits, 1.0 if real else 0.0))

    def discriminator_loss(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.gan(D(real), True) + self.gan(D(fake.detach()), False))

    def __call__(self, real_A: torch.Tensor, real_B: torch.Tensor, autocast=contextlib.nullcontext) -> None:
        """One step; `autocast`: a context for the forward passes and losses (mixed precision), or none."""
        with autocast():
            fake_B = self.G_A(real_A)
            rec_A = self.G_B(fake_B)
            fake_A = self.G_B(real_B)
            rec_B = self.G_A(fake_A)
            for D in (self.D_A, self.D_B):
                D.requires_grad_(False)
            self.opt_G.zero_grad()
            lam, idt = 10.0, 0.5
            loss_G = (self.gan(self.D_A(fake_B), True) + self.gan(self.D_B(fake_A), True)
                      + lam * self.l1(rec_A, real_A) + lam * self.l1(rec_B, real_B)
                      + lam * idt * self.l1(self.G_A(real_B), real_B) + lam * idt * self.l1(self.G_B(real_A), real_A))
        loss_G.backward()
        self.opt_G.step()
        for D in (self.D_A, self.D_B):
            D.requires_grad_(True)
        self.opt_D.zero_grad()
        pairs = ((self.D_A, real_B, self.pool_B.query(fake_B)), (self.D_B, real_A, self.pool_A.query(fake_A)))
        for D, real, fake in pairs:
            with autocast():
                loss_D = self.discriminator_loss(D, real, fake)
            loss_D.backward()
        self.opt_D.step()


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--precision", choices=["off", "bf16"], default="off",
                        help="off: float32; bf16: torch.autocast on the CPU in bfloat16")
    args = parser.parse_args()
    if args.precision == "bf16":
        def autocast():
            return torch.autocast("cpu", dtype=torch.bfloat16)
    else:
        autocast = contextlib.nullcontext
    torch.manual_seed(0)
    random.seed(0)
    step = CycleGANStep(args.ngf)
    if args.ngf == 64:
        got = {"generator": count(step.G_A), "discriminator": count(step.D_A)}
        assert got == REFERENCE_PARAMETERS, f"parameter counts {got} differ from the reference's"
    real_A, real_B = (torch.rand(1, 3, args.size, args.size) * 2 - 1 for _ in range(2))
    for _ in range(2):
        step(real_A, real_B, autocast)
    started = time.perf_counter()
    for _ in range(args.steps):
        step(real_A, real_B, autocast)
    step_seconds = (time.perf_counter() - started) / args.steps

    step.G_A.eval()
    with torch.no_grad(), autocast():
        for _ in range(2):
            step.G_A(real_A)
        started = time.perf_counter()
        repeats = max(3, args.steps)
        for _ in range(repeats):
            step.G_A(real_A)
        infer_seconds = (time.perf_counter() - started) / repeats
    print(json.dumps({
        "size": args.size, "precision": args.precision, "train_step_s": step_seconds,
        "infer_img_s": 1.0 / infer_seconds,
        "torch_version": torch.__version__.split("+")[0], "threads": torch.get_num_threads(),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
