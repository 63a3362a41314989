"""The guide (docs/, mkdocs.yml) and the README: the site builds with warnings as errors, every `cyclegan-tf`
command on every page (fenced and inline) names commands and options that exist, and the cheap examples run
against the shared demo run.

What runs here (in-process): `--help` of every command the pages name; the README's translate, evaluate and
export examples against the shared demo run; `datasets inspect` and `datasets list`; `pretrained list`; the
Python block that builds `features.keras`. Every Python block is compiled. Every fenced example of every page,
run as written on small data: tests/test_examples.py. The notebook: tests/test_notebook.py."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cyclegan_tf.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [ROOT / "README.md", *PAGES]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`((?:\.venv/bin/)?cyclegan-tf(?: [^`]*)?)`")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_.]*$|[|]")  # DIR, NAME, FILE, N; a|b lists in prose


def blocks(path: Path, *languages: str) -> list[str]:
    return [body for language, body in FENCE.findall(path.read_text()) if language in languages]


def shell_lines(body: str) -> list[str]:
    return [line for line in body.replace("\\\n", " ").splitlines() if line.strip()]


def cli_args(line: str) -> list[str] | None:
    """The arguments after `cyclegan-tf` on a shell line (after environment assignments), or None."""
    tokens = shlex.split(line, comments=True)
    for i, token in enumerate(tokens):
        if token == "cyclegan-tf" or token.endswith("/cyclegan-tf"):
            args = tokens[i + 1:]
            return args[:args.index("&&")] if "&&" in args else args
        if "=" not in token:
            return None
    return None


def commands(path: Path) -> list[list[str]]:
    """Every `cyclegan-tf` command of a page: its shell blocks' lines and its inline code."""
    found = [args for body in blocks(path, "bash") for line in shell_lines(body)
             if (args := cli_args(line)) is not None]
    prose = FENCE.sub("", path.read_text())
    found += [cli_args(span.replace("\\|", "|")) for span in INLINE.findall(prose)]
    return found


def resolve(args: list[str]) -> tuple[click.Command, list[str], list[str]]:
    """The command `args` names (through groups), its path, and the arguments left for it."""
    command, path, args = main, [], list(args)
    while isinstance(command, click.Group):
        while args and args[0].startswith("-"):  # the group's own options (-v, --help, --version)
            assert check_option(command, args[0]) is None, f"cyclegan-tf {' '.join(path)}: no option {args[0]}"
            args.pop(0)
        if not args:
            break
        assert args[0] in command.commands, f"cyclegan-tf {' '.join(path)}: no command {args[0]!r}"
        command, path = command.commands[args[0]], [*path, args[0]]
        args.pop(0)
    return command, path, args


def check_option(command: click.Command, token: str) -> str | None:
    """None if `token` (an option, maybe `--name=value`) is an option of `command`, else why not."""
    name = token.split("=", 1)[0]
    names = {"--help", "-h"} | {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    return None if name in names else f"no option {name}"


def problems(args: list[str]) -> list[str]:
    """What is wrong with one command line: unknown commands, options, or choice values."""
    command, path, rest = resolve(args)
    params = {o: p for p in command.params for o in (*p.opts, *p.secondary_opts)}
    found, i = [], 0
    while i < len(rest):
        token = rest[i]
        i += 1
        if not token.startswith("-") or token == "-" or re.match(r"-\d", token):
            continue
        if why := check_option(command, token):
            found.append(f"cyclegan-tf {' '.join(path)}: {why}")
            continue
        param = params.get(token.split("=", 1)[0])
        if param is None or getattr(param, "is_flag", False) or token in param.secondary_opts or "=" in token:
            continue
        values = rest[i:i + max(param.nargs, 1)]
        i += len(values)
        if isinstance(param.type, click.Choice):
            for value in values:
                if not PLACEHOLDER.search(value) and value not in param.type.choices:
                    found.append(f"cyclegan-tf {' '.join(path)} {token}: {value!r} is none of {param.type.choices}")
    return found


def test_every_page_is_found_and_every_command_line_is_the_real_cli():
    assert {p.name for p in PAGES} >= {
        "index.md", "your-data.md", "pretrained.md", "models.md", "evaluation.md", "health.md", "video.md",
        "scientific.md", "distributed.md", "deploy.md", "performance.md", "reproductions.md", "ARCHITECTURE.md",
        "quickstart.md"}
    seen, wrong = 0, []
    for path in DOCUMENTS:
        for args in commands(path):
            seen += 1
            wrong += [f"{path.name}: {problem}" for problem in problems(args)]
    assert seen > 80 and not wrong, "\n".join(wrong)


def test_the_checker_finds_a_wrong_option_a_wrong_command_and_a_wrong_choice():
    assert problems(["train", "--dataset", "demo", "--lambda_A", "5", "--n-epochs", "1"]) == []
    assert problems(["train", "--no-such-flag"]) == ["cyclegan-tf train: no option --no-such-flag"]
    assert problems(["export", "--name", "x", "--format", "pdf"])[0].startswith("cyclegan-tf export --format: 'pdf'")
    with pytest.raises(AssertionError, match="no command 'trian'"):
        problems(["trian", "--name", "x"])
    assert problems(["datasets", "inspect", "DIR", "--limit", "0"]) == []


def test_every_command_the_pages_name_answers_help():
    paths = {tuple(resolve(args)[1]) for path in DOCUMENTS for args in commands(path)}
    assert len(paths) >= 12
    for path in sorted(paths):
        result = CliRunner().invoke(main, [*path, "--help"])
        assert result.exit_code == 0 and "Usage: " in result.output, (path, result.output)


def test_every_python_block_compiles_and_the_feature_extractor_block_runs(tmp_path, monkeypatch):
    sources = [(path, body) for path in DOCUMENTS for body in blocks(path, "python")]
    assert len(sources) >= 4
    for path, body in sources:
        compile(body, str(path), "exec")
    (features,) = [body for _, body in sources if 'save("features.keras")' in body]
    monkeypatch.chdir(tmp_path)
    exec(compile(features, "evaluation.md", "exec"), {})
    import keras

    model = keras.saving.load_model(tmp_path / "features.keras")
    assert model.output_shape == (None, 128)


def readme_block() -> list[list[str]]:
    (body,) = [b for b in blocks(ROOT / "README.md", "bash") if "--format keras" in b]
    return [args for line in shell_lines(body) if (args := cli_args(line)) is not None]


def test_readme_examples_run_against_the_demo_run(demo_run, tmp_path, monkeypatch):
    """The README's translate, evaluate and export lines, on the shared demo run (its train line is the demo
    preset, which tests/test_train.py trains; serve runs until stopped: tests/test_deploy.py serves)."""
    monkeypatch.chdir(tmp_path)
    runs = ["--checkpoints-dir", str(demo_run.run_dir.parent)]
    by_command = {args[0]: args for args in readme_block()}
    assert set(by_command) == {"train", "translate", "evaluate", "export", "serve"}
    translate = [str(Path(demo_run.dataroot) / "testA") if a.endswith("demo/testA") else a
                 for a in by_command["translate"]]
    for args in (translate, by_command["evaluate"], by_command["export"]):
        result = CliRunner().invoke(main, [*args, *runs])
        assert result.exit_code == 0, (args, result.output)
    inputs = list((Path(demo_run.dataroot) / "testA").iterdir())
    assert len(list((tmp_path / "translated").glob("*.png"))) == len(inputs) > 0
    assert (tmp_path / "demo.keras").stat().st_size > 100_000
    assert json.loads((tmp_path / "demo.keras.json").read_text())["direction"] == "AtoB"


def test_dataset_examples_run_on_the_demo_set(demo_run):
    inspect = [args for args in commands(ROOT / "docs" / "your-data.md") if args[:2] == ["datasets", "inspect"]][0]
    result = CliRunner().invoke(main, ["datasets", "inspect", str(demo_run.dataroot), *inspect[3:]])
    assert result.exit_code == 0 and "trainA" in result.output, result.output
    for args in (["datasets", "list"], ["pretrained", "list"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0 and "horse2zebra" in result.output, result.output


def test_readme_is_short_and_its_links_land_on_pages_and_anchors(site):
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    assert re.findall(r"^## .*", text, re.M)[:2] == ["## Two commands", "## One example per task"]
    assert "make demo" in text and "make test" in text and "76.5" in text and "8.7 min" in text
    links = re.findall(r"\]\(((?:docs|notebooks)/[^)#]+)(?:#([^)]+))?\)", text)
    assert len(links) >= 15
    for target, anchor in links:
        assert (ROOT / target).is_file(), target
        if anchor:
            stem = Path(target).with_suffix("").relative_to("docs")
            page = site / ("" if stem.name == "index" else stem) / "index.html"
            assert f'id="{anchor}"' in page.read_text(), (target, anchor)


def test_the_repository_address_is_the_same_everywhere():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    url = config["metadata"]["url"]
    owner_repo = url.removeprefix("https://github.com/")
    badge = f"colab.research.google.com/github/{owner_repo}/blob/main/notebooks/quickstart.ipynb"
    assert f"repo_url: {url}\n" in (ROOT / "mkdocs.yml").read_text()
    for path in (ROOT / "README.md", ROOT / "docs" / "quickstart.md", ROOT / "notebooks" / "quickstart.ipynb"):
        assert badge in path.read_text(), path
    assert f"{url}.git" in (ROOT / "notebooks" / "quickstart.ipynb").read_text()


def mkdocs(config: Path, site_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site_dir)],
                          capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=120)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    built = mkdocs(ROOT / "mkdocs.yml", out)
    assert built.returncode == 0, built.stderr
    return out


def test_the_site_builds_with_warnings_as_errors(site):
    pages = {p.relative_to(site).parts[0] for p in site.glob("*/index.html")}
    assert pages >= {p.stem for p in PAGES if p.name != "index.md"}
    assert "demo_samples.png" in (site / "monitoring" / "index.html").read_text()
    assert (site / "demo_samples.png").is_file() and (site / "server.png").is_file()


@pytest.mark.parametrize("damage", ["a broken link", "a broken anchor", "a page left out of the nav"])
def test_a_broken_link_or_a_page_missing_from_the_nav_fails_the_build(tmp_path, damage):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "video.md"
    if damage == "a broken link":
        page.write_text(page.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    elif damage == "a broken anchor":
        page.write_text(page.read_text() + "\nSee [there](deploy.md#no-such-heading).\n")
    else:
        (tmp_path / "docs" / "orphan.md").write_text("# Orphan\n")
    built = mkdocs(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert built.returncode != 0
    assert {"a broken link": "no-such-page.md", "a broken anchor": "no-such-heading",
            "a page left out of the nav": "orphan.md"}[damage] in built.stderr
