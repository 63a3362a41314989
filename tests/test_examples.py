"""Every example on every page runs: each fenced shell line and Python block of the README and of docs/, in the
page's order, as written, on small data (tests/test_docs.py checks the same lines against the command line and
builds the site).

Each page runs in its own folder with HOME pointing into the sandbox (so `~/data/...` and the dataset cache are
the sandbox's), what the page takes as given made there first (photos, folders, a clip, 4-band TIFFs, a reference
checkpoints folder, runs the page names but does not train, the FID network's weights in the models dir), and
$CYCLEGAN_TF_MIRROR pointing at a file server on 127.0.0.1 serving small datasets and a pretrained generator in
the reference's layouts. What is changed in a line: every `train` gets small sizes and one short epoch
(SMALL; a pix2pix-like model the U-Net of 32 px; a resumed run only the sizes and epochs), `--epoch 100` is
`--epoch 1`, serve listens on a free port, and curl is answered by urllib. The lines that are not run are in
NOT_RUN, each with the test that covers it; a line in neither fails."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from cyclegan_tf.cli.main import main
from tests.test_deploy import post, start_serve
from tests.test_docs import DOCUMENTS, FENCE, ROOT, shell_lines
from tests.test_download import file_server, make_tar_gz, make_zip

sys.path.insert(0, str(ROOT / "benchmarks"))
import torch_reference as ref

SMALL = ["--load-size", "32", "--crop-size", "32", "--n-epochs", "1", "--n-epochs-decay", "0", "--epoch-size", "2",
         "--save-epoch-freq", "1", "--quiet"]
NARROW = ["--ngf", "4", "--ndf", "4"]
RESUMED = ["--load-size", "32", "--crop-size", "32", "--n-epochs", "1", "--n-epochs-decay", "1", "--epoch-size", "2",
           "--quiet"]  # one more epoch of a run that has one
UNET_MODELS = {"pix2pix", "colorization"}  # their default generator is unet_256: too deep for 32 px

NOT_RUN = {  # a line that is not run here -> why, and where it is covered
    "make demo": "8 epochs, minutes: tests/test_train.py trains its preset for 2 and checks the score; its train "
                 "and translate commands run on the README page here",
    "make test": "this is make test",
    "make install": "make test installs the same .venv first",
    ".venv/bin/pip install notebook": "needs the internet; tests/test_notebook.py runs the notebook with nbclient",
    ".venv/bin/jupyter notebook notebooks/quickstart.ipynb": "an interactive server; tests/test_notebook.py runs "
                                                             "the notebook top to bottom",
    "TF_CONFIG=": "needs two machines; tests/test_multiworker.py trains with two local workers and TF_CONFIG",
}

# Runs a page names but does not train: how they are made (and then copied into the page's checkpoints/).
GIVEN_RUNS = {
    "apple2orange": ["--dataset", "apple2orange"],
    "demo": ["--dataset", "demo"],
    "horse2zebra": ["--dataroot", "~/data/horse2zebra"],
    "h2z": ["--dataset", "horse2zebra"],
    "facades_pix2pix": ["--model", "pix2pix", "--dataset", "facades", "--direction", "BtoA", "--netG", "unet_32"],
}


def page_examples(path: Path) -> tuple[list[str], list[str]]:
    """A page's shell lines (comments and blank lines left out) and its Python blocks, in order."""
    lines, sources = [], []
    for language, body in FENCE.findall(path.read_text()):
        if language == "bash":
            lines += [line for line in shell_lines(body) if not line.lstrip().startswith("#")]
        elif language == "python":
            sources.append(body)
    return lines, sources


def not_run(line: str) -> str | None:
    return next((why for start, why in NOT_RUN.items() if line.startswith(start)), None)


PAGES = [path for path in DOCUMENTS if any(not not_run(line) for line in page_examples(path)[0])
         or page_examples(path)[1]]


# --- what the pages take as given -----------------------------------------------------------------------------


def pictures(folder: Path, count: int, size=(40, 32), suffix=".jpg", seed=0, names=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names or [f"{i}{suffix}" for i in range(count)]:
        pixels = rng.integers(0, 256, (size[1] // 4, size[0] // 4, 3), dtype=np.uint8)  # blocky: JPEG keeps it
        Image.fromarray(pixels).resize(size, Image.NEAREST).save(folder / name)


def unpaired(root: Path, seed=0) -> None:
    for split in ("trainA", "trainB", "testA", "testB"):
        pictures(root / split, 3, suffix=".png", seed=seed + len(split) + ord(split[-1]))


def archive_files(root: Path, top: str) -> dict[str, bytes]:
    return {f"{top}/{p.relative_to(root).as_posix()}": p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def mirror_files(tmp: Path) -> dict[str, bytes]:
    """The mirror's files: unpaired and aligned datasets, a pretrained generator."""
    files = {}
    for name in ("horse2zebra", "apple2orange", "monet2photo", "maps"):
        unpaired(tmp / name)
        files[f"/cyclegan/datasets/{name}.zip"] = make_zip(archive_files(tmp / name, name))
    for split in ("train", "val", "test"):
        pictures(tmp / "facades" / split, 3, size=(64, 32))
    files["/pix2pix/datasets/facades.tar.gz"] = make_tar_gz(archive_files(tmp / "facades", "facades"))
    torch.manual_seed(0)
    torch.save(ref.ResnetGenerator(ngf=8).eval().state_dict(), tmp / "h2z.pth", _use_new_zipfile_serialization=False)
    files["/cyclegan/pretrained_models/horse2zebra.pth"] = (tmp / "h2z.pth").read_bytes()
    return files


def fid_weights(models: Path) -> None:
    """pytorch-fid's weight file where a user without the internet puts it (its download: tests/test_fid.py)."""
    from cyclegan_tf.evaluation import fid_inception
    from tests.test_fid import pytorch_fid_weights

    models.mkdir(parents=True)
    pytorch_fid_weights(models / fid_inception.WEIGHTS_FILE)


def home_files(home: Path) -> None:
    unpaired(home / "data" / "horse2zebra")
    unpaired(home / "data" / "apple2orange", seed=5)
    pictures(home / "photos", 4, seed=1)
    pictures(home / "cats", 4, size=(64, 64), seed=2)
    pictures(home / "data" / "raw", 3, size=(300, 200), seed=3)
    for split in ("train", "test"):
        pictures(home / "data" / "maps_ab" / split, 2, size=(64, 32), seed=4)
    folder = home / "pytorch-CycleGAN-and-pix2pix" / "checkpoints" / "h2z"
    folder.mkdir(parents=True)
    torch.manual_seed(1)
    for suffix, net in (("G_A", ref.ResnetGenerator(ngf=8, blocks=6)), ("G_B", ref.ResnetGenerator(ngf=8, blocks=6)),
                        ("D_A", ref.NLayerDiscriminator(ndf=8)), ("D_B", ref.NLayerDiscriminator(ndf=8))):
        torch.save(net.state_dict(), folder / f"latest_net_{suffix}.pth")


def page_files(folder: Path) -> None:
    """What the pages' lines read from their working folder."""
    from cyclegan_tf.data import demo_video
    from cyclegan_tf.inference.video import write_clip
    from tests.test_science import _four_band_set

    for name in ("photo.jpg", "my_horse.jpg", "grandma_1952.jpg", "horse.jpg", "photo.png"):
        pictures(folder, 1, seed=len(name), names=[name])
    pictures(folder / "more", 2, seed=6)
    pictures(folder / "photos", 2, size=(32, 32), seed=7, names=["a.png", "b.png"])
    pictures(folder / "labels", 2, size=(32, 32), seed=8, names=["a.png", "b.png"])
    pictures(folder / "my_pair" / "trainA", 1, size=(64, 48), seed=9, names=["photo.jpg"])
    pictures(folder / "my_pair" / "trainB", 1, size=(64, 48), seed=10, names=["painting.jpg"])
    pictures(folder / "translated", 3, suffix=".png", seed=11)
    pictures(folder / "testB", 3, suffix=".png", seed=12)
    pictures(folder / "frames", 6, size=(48, 32), suffix=".png", seed=13)
    unpaired(folder / "data" / "horse2zebra", seed=14)
    _four_band_set(folder / "rgbnir")
    frames = (frame for frame, _ in demo_video.clip_frames(28))
    assert write_clip(folder / "clip.mp4", frames, 2) == 28  # 14 s: `--start 10 --duration 3` has frames
    torch.manual_seed(2)
    torch.save(ref.UnetGenerator(num_downs=8, ngf=8).state_dict(), folder / "latest_net_G.pth")
    from tests.test_fid import SCRIPT

    shutil.copy(SCRIPT, folder / "inception-2015-12-05.pt")


# --- running a line -------------------------------------------------------------------------------------------


def small_train(args: list[str]) -> list[str]:
    if "--continue-train" in args:
        return [*args, *RESUMED]
    model = args[args.index("--model") + 1] if "--model" in args else "cycle_gan"
    unet = ["--netG", "unet_32"] if model in UNET_MODELS and "--netG" not in args else []
    batch = ["--batch-size", "2"] if "--batch-size" in args else []
    return [*args, *SMALL, *NARROW, *unet, *batch]


def cli(args: list[str], env: dict[str, str] | None = None) -> str:
    """`cyclegan-tf ARGS` in this process; a `train` with its functions run eagerly (no tracing: seconds)."""
    import tensorflow as tf

    eager = args[0] == "train"
    tf.config.run_functions_eagerly(eager)
    try:
        result = CliRunner().invoke(main, args, env=env)
    finally:
        tf.config.run_functions_eagerly(False)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def curl(tokens: list[str], server_url: str) -> None:
    """curl -s --data-binary @FILE URL -o OUT, against the server this page started."""
    body = Path(tokens[tokens.index("--data-binary") + 1].lstrip("@")).read_bytes()
    (url,) = [t for t in tokens if t.startswith("http")]
    status, answer, _ = post(re.sub(r"^http://[^/]+", server_url, url), body)
    assert status == 200, answer[:200]
    Path(tokens[tokens.index("-o") + 1]).write_bytes(answer)


def outputs(args: list[str]) -> list[str]:
    return [args[i + 1] for i, token in enumerate(args[:-1]) if token in ("-o", "--output", "--save-stats")]


def run_line(line: str, servers: list) -> None:
    tokens = [os.path.expanduser(token) for token in shlex.split(line, comments=True)]  # as the shell: ~ is $HOME
    env = {}
    while "=" in tokens[0] and not tokens[0].startswith("-"):
        name, value = tokens.pop(0).split("=", 1)
        env[name] = os.environ["CYCLEGAN_TF_MIRROR"] if name == "CYCLEGAN_TF_MIRROR" else value
    if tokens[0] == "python" and tokens[1] == "-c":
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(tokens[2], "python -c", "exec"), {})
        assert printed.getvalue().strip() == "(1, 300, 200, 3)", printed.getvalue()  # deploy's checks
        return
    if tokens[0] == "curl":
        curl(tokens, servers[-1][1])
        assert Image.open(tokens[tokens.index("-o") + 1]).size == Image.open("photo.png").size
        return
    if tokens[:2] == ["bash", "datasets.sh"]:
        done = subprocess.run(["bash", str(ROOT / "datasets.sh"), *tokens[2:]], capture_output=True, text=True)
        assert done.returncode == 0 and "horse2zebra" in done.stdout, done.stderr
        return
    assert tokens[0].endswith("cyclegan-tf"), line
    args = tokens[1:]
    if args[0] == "serve":
        servers.append(start_serve(*args[1:], env={**os.environ, "PYTHONPATH": str(ROOT)}))
        return
    if args[0] == "train":
        args = small_train(args)
    if "--epoch" in args:
        args[args.index("--epoch") + 1] = "1"  # the small runs have one epoch
    cli(args, env)
    for out in outputs(args):
        assert Path(out).exists(), (line, out)


# --- the test -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """HOME, a mirror on 127.0.0.1, the pages' given files, for every page of this module: (root, given)."""
    root = tmp_path_factory.mktemp("examples")
    home, given = root / "home", root / "given"
    home_files(home)
    page_files(given)
    fid_weights(root / "models")
    with file_server() as mirror, pytest.MonkeyPatch.context() as patch:
        mirror.files.update(mirror_files(root / "mirror"))
        for name, value in {"HOME": home, "CYCLEGAN_TF_MIRROR": mirror.base, "CYCLEGAN_TF_MODELS": root / "models",
                            "XDG_CACHE_HOME": home / ".cache"}.items():
            patch.setenv(name, str(value))
        patch.delenv("CYCLEGAN_TF_DATA", raising=False)
        patch.setattr("keras.src.utils.file_utils.get_file", imagenet_weights(root / "keras"))
        yield root, given


def imagenet_weights(folder: Path):
    """Stands in for Keras' download of InceptionV3's ImageNet weights: weights of the same shapes, made here."""
    def get_file(fname=None, origin=None, **kwargs):
        import keras

        path = folder / "inception_v3_notop.weights.h5"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg").save_weights(path)
        return str(path)
    return get_file


def given_run(name: str, root: Path) -> Path:
    runs = root / "given_runs"
    if not (runs / "checkpoints" / name).exists():
        runs.mkdir(exist_ok=True)
        with contextlib.chdir(runs):
            run_line(shlex.join(["cyclegan-tf", "train", *GIVEN_RUNS[name], "--name", name]), [])
    return runs / "checkpoints" / name


def given_runs(lines: list[str], sources: list[str]) -> set[str]:
    """The runs a page names (`--name`, "checkpoints/NAME") but does not make (train, import-torch) itself."""
    named, made = set(), set()
    for line in lines:
        tokens = shlex.split(line, comments=True)
        value = {t: tokens[i + 1] for i, t in enumerate(tokens[:-1]) if t.startswith("--")}
        if "--name" in value:
            named.add(value["--name"])
        if ("train" in tokens and "--continue-train" not in tokens) or "import-torch" in tokens:
            made.add(value.get("--name") or value.get("--dataset") or Path(value.get("--dataroot", "")).name)
    named |= {name for source in sources for name in re.findall(r'"checkpoints/(\w+)"', source)}
    return named - made


def test_every_shell_line_is_run_or_says_why_not():
    lines = [line for path in DOCUMENTS for line in page_examples(path)[0]]
    skipped = [line for line in lines if not_run(line)]
    assert len(lines) - len(skipped) > 70  # run: all but the make, pip, jupyter and cluster lines
    assert {start for start in NOT_RUN if any(line.startswith(start) for line in lines)} == set(NOT_RUN)
    assert all(shlex.split(line, comments=True)[-1] for line in lines)


@pytest.mark.filterwarnings("ignore:Even though:UserWarning")  # tf.data's functions stay traced: as meant
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_example_of_the_page_runs(page, sandbox, monkeypatch):
    root, given = sandbox
    lines, sources = page_examples(page)
    work = root / "pages" / page.stem
    shutil.copytree(given, work)
    monkeypatch.chdir(work)
    for name in sorted(given_runs(lines, sources)):
        shutil.copytree(given_run(name, root), work / "checkpoints" / name)

    import cyclegan_tf

    config = cyclegan_tf.TrainConfig
    monkeypatch.setattr(cyclegan_tf, "TrainConfig", lambda **fields: config(**{
        **fields, "load_size": 32, "crop_size": 32, "ngf": 4, "ndf": 4, "n_epochs": 1, "n_epochs_decay": 0,
        "epoch_size": 2}))
    for source in sources:  # before the shell lines: evaluation.md's block makes the features.keras they use
        exec(compile(source, page.name, "exec"), {})

    servers, ran = [], 0
    try:
        for line in lines:
            if not not_run(line):
                run_line(line, servers)
                ran += 1
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait(30)
    assert ran > 0 or sources
    if "features.keras" in " ".join(sources):
        assert (work / "features.keras").is_file()
    if "translated_frame_" in " ".join(sources):
        assert len(list(work.glob("translated_frame_*.png"))) == len(list((work / "frames").glob("*.png")))
    if "TrainConfig(" in " ".join(sources):
        assert (work / "checkpoints" / "h2z" / "config.json").is_file()
