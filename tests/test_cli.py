"""The command line: help documents every option; a user's mistake is one line and an exit code."""

import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cyclegan_tf.cli.main import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# The train options a user can rely on, written out (not read from TrainConfig, which makes them): the
# reference's flags hyphenated and in its own spelling, and ours.
TRAIN_FLAGS = (
    "--dataroot", "--name", "--checkpoints-dir", "--checkpoints_dir", "--model", "--input-nc", "--input_nc",
    "--output-nc", "--ngf", "--ndf", "--netD", "--netG", "--n-layers-D", "--n_layers_D", "--norm", "--init-type",
    "--init_gain", "--dropout", "--no-dropout", "--no_dropout", "--direction", "--batch-size", "--batch_size",
    "--load-size", "--crop-size", "--max-dataset-size", "--preprocess", "--no-flip", "--no_flip",
    "--save-latest-freq", "--save-epoch-freq", "--continue-train", "--continue_train", "--n-epochs",
    "--n_epochs_decay", "--beta1", "--lr", "--gan-mode", "--pool-size", "--lambda-A", "--lambda_A", "--lambda-B",
    "--lambda-identity", "--lambda-L1", "--lambda_L1",
    "--dataset", "--data-dir", "--resume", "--seed", "--strict", "--cache-mb", "--no-gan", "--unconditional-D",
    "--cycle", "--mixed-precision", "--jit-compile", "--steps-per-execution", "--logdir", "--print-freq",
    "--n-samples", "--eval-freq", "--feature-extractor", "--quiet", "--nz", "--augment",
)


def test_help_documents_every_option_with_examples():
    assert "Examples:" in run("--help").output
    train_help = run("train", "--help").output
    for flag in (*TRAIN_FLAGS, "Examples:"):
        assert flag in train_help, flag
    assert "[lsgan|vanilla|hinge|wgangp]" in train_help and "[default: off]" in train_help
    translate_help = run("translate", "--help").output
    for flag in ("--name", "--checkpoint", "--epoch", "--direction", "--output", "Examples:"):
        assert flag in translate_help
    generate_help = run("generate", "--help").output
    for flag in ("--name", "--checkpoint", "--epoch", "-n", "--seed", "--output", "--grid", "Examples:"):
        assert flag in generate_help
    assert "[none|flip-crop|diffaugment]" in train_help and "colorization" in train_help


def _one_line_error(result, code, pattern):
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error:") and pattern in lines[-1], result.output
    assert "Traceback" not in result.output


def test_usage_errors_exit_2():
    _one_line_error(run("train", "--netG", "resnet_0blocks"), 2, "'resnet_0blocks' is not resnet_9blocks")
    _one_line_error(run("train", "--netG", "unet_100"), 2, "or unet_<size> (a power of two, 32 or more)")
    _one_line_error(run("train", "--n-epochs", "many"), 2, "many")
    _one_line_error(run("translate", "x.png"), 2, "one of --name RUN, --pretrained NAME or --checkpoint DIR")
    _one_line_error(run("evaluate"), 2, "give exactly one of --name RUN or --pretrained NAME")
    _one_line_error(run("export", "--format", "torch", "--name", "a", "--pretrained", "b"), 2, "give exactly one")


def test_user_errors_exit_1(tmp_path, demo_run):
    _one_line_error(run("train", "--dataroot", tmp_path / "nowhere"), 1, "--dataroot folder not found")
    _one_line_error(run("train", "--name", "x"), 1, "give --dataroot DIR or --dataset NAME")
    _one_line_error(run("train", "--dataset", "my_set", "--data-dir", tmp_path), 1,  # not in the registry: no download
                    "put its trainA/ trainB/ testA/ testB/ folders there")
    (tmp_path / "trainA").mkdir()
    _one_line_error(run("train", "--dataroot", tmp_path), 1, "no images")
    _one_line_error(run("train", "--dataroot", tmp_path, "--crop-size", "300"), 1, "larger than --load-size")
    _one_line_error(run("train", "--dataroot", tmp_path, "--input-nc", "1"), 1, "add --lambda-identity 0")
    _one_line_error(run("translate", tmp_path / "x.png", "--name", "none", "--checkpoints-dir", tmp_path), 1,
                    "input not found")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ok.png")
    _one_line_error(run("translate", tmp_path / "ok.png", "--name", "none", "--checkpoints-dir", tmp_path), 1,
                    "no checkpoints found")
    (tmp_path / "broken.png").write_text("not an image")
    broken = run("translate", tmp_path / "broken.png", "--checkpoint", demo_run.run_dir, "--output", tmp_path / "o")
    assert broken.exit_code == 1 and "Traceback" not in broken.output
    assert broken.output.strip().splitlines()[-1].startswith(f"1 of 1 files skipped: {tmp_path / 'broken.png'} (")
    _one_line_error(run("translate", tmp_path / "broken.png", "--checkpoint", demo_run.run_dir, "--strict"), 1,
                    "cannot read image")


def test_translate_command_writes_same_size_pngs(tmp_path, demo_run):
    Image.fromarray(np.zeros((173, 251, 3), np.uint8)).save(tmp_path / "a.jpg")
    result = run("translate", tmp_path / "a.jpg", "--checkpoint", demo_run.run_dir, "--direction", "BtoA",
                 "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / "a.png") as image:
        assert image.size == (251, 173)


@pytest.mark.parametrize("args,code", [(["train", "--dataroot", "/no/such/dir"], 1), (["train", "--ngf", "x"], 2)])
def test_real_process_prints_one_line_and_no_tensorflow_noise(args, code):
    done = subprocess.run([sys.executable, "-m", "cyclegan_tf.cli", *args], capture_output=True, text=True)
    assert done.returncode == code
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if code == 1:  # TensorFlow was imported: none of its start-up lines may show
        assert len(lines) == 1, done.stderr
    else:  # click's usage hint, then the error
        assert lines[0].startswith("Usage:") and len(lines) == 3, done.stderr
    assert lines[-1].startswith("Error:") and "Traceback" not in done.stderr


def test_the_python_api_imports_tensorflow_without_its_start_up_lines():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = "import tensorflow; tensorflow.config.list_physical_devices('GPU')"
    noisy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert noisy.returncode == 0 and noisy.stderr.strip()  # what TensorFlow itself writes on this machine
    code = "from cyclegan_tf import load_translator; import tensorflow; assert load_translator"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_options_arrive_with_their_field_types():
    from cyclegan_tf.cli.options import typed_options
    from cyclegan_tf.config import option_type

    assert [option_type(name) for name in ("input_nc", "lr", "dataroot", "max_dataset_size", "no_flip")] == [
        (int, False), (float, False), (str, True), (int, True), (bool, False)]
    assert typed_options({"input_nc": "1", "lr": "0.001", "netG": "unet_128", "seed": None, "no_flip": True}) == {
        "input_nc": 1, "lr": 0.001, "netG": "unet_128", "seed": None, "no_flip": True}


def test_run_is_named_after_its_dataset(tmp_path):
    from cyclegan_tf.config import make_config

    assert make_config({"dataset": "demo"}).name == "demo"
    assert make_config({"dataroot": str(tmp_path / "horse2zebra")}).name == "horse2zebra"
    assert make_config({"dataset": "demo", "name": "mine"}).name == "mine"


def test_config_file_sits_between_the_command_line_and_the_presets(tmp_path, demo_run):
    from cyclegan_tf.config import TrainConfig, make_config

    toml = tmp_path / "setup.toml"
    toml.write_text('# a setup\ndataset = "demo"\nname = "from_file"\nlambda-A = 5.0\nngf = 8\nno_flip = true\n'
                    'netG = "resnet_6blocks"\n')
    cfg = make_config({"lr": 1e-4, "ngf": 16, "seed": None}, toml)
    assert (cfg.name, cfg.lambda_A, cfg.no_flip, cfg.netG, cfg.lr, cfg.ngf) == \
        ("from_file", 5.0, True, "resnet_6blocks", 1e-4, 16)  # the file over defaults; the command line over it
    assert cfg.n_epochs == make_config({"dataset": "demo"}).n_epochs  # the demo preset still applies
    # a run's own config.json: its options, not its state
    again = make_config({"name": "again"}, demo_run.run_dir / "config.json")
    saved = TrainConfig.load(demo_run.run_dir / "config.json")
    assert again.name == "again" and again.ngf == saved.ngf and again.netG == saved.netG
    assert again.continue_train is False and again.strategy_used is None
    for text, message in (('lamda_A = 5.0', "unknown option(s) lamda_A"), ('ngf = "wide"', "ngf is 'wide', not an int"),
                          ('netG = "resnet_99"', "netG is 'resnet_99', not one of resnet_9blocks"),
                          ('ngf = ', "is not valid TOML")):
        bad = tmp_path / "bad.toml"
        bad.write_text(text + "\n")
        result = run("train", "--config", bad)
        assert result.exit_code == 1 and message in result.output and result.output.count("\n") == 1, result.output
