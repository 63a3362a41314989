"""notebooks/quickstart.ipynb runs top to bottom, with nbclient, in a kernel of this Python: one short epoch of the
demo, a mirror on 127.0.0.1 serving a small generator in the reference's .pth layout for the pretrained step,
and ONNX export. Its first cell (the install) runs too and finds the package installed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient

from tests.test_download import server  # noqa: F401 - the loopback file server fixture

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import torch_reference as ref  # noqa: E402


def kernel_spec(folder: Path) -> None:
    """A `python3` kernel of this interpreter, found first through $JUPYTER_PATH."""
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))


def test_quickstart_notebook_runs_top_to_bottom(tmp_path, monkeypatch, server):  # noqa: F811
    torch.manual_seed(0)
    generator = ref.ResnetGenerator(ngf=8).eval()  # the real file is ngf 64: the importer reads the width
    torch.save(generator.state_dict(), tmp_path / "h2z.pth", _use_new_zipfile_serialization=False)
    server.files["/cyclegan/pretrained_models/horse2zebra.pth"] = (tmp_path / "h2z.pth").read_bytes()
    kernel_spec(tmp_path / "jupyter")
    work = tmp_path / "work"
    work.mkdir()
    for name, value in {"JUPYTER_PATH": tmp_path / "jupyter", "CYCLEGAN_TF_MIRROR": server.base,
                        "CYCLEGAN_TF_MODELS": tmp_path / "models", "CYCLEGAN_TF_DATA": tmp_path / "data",
                        "QUICKSTART_EPOCHS": 1, "QUICKSTART_EPOCH_SIZE": 8, "TF_CPP_MIN_LOG_LEVEL": 3}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # this checkout's package, whatever the venv's editable install

    notebook = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells), "commit the notebook without outputs"
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()

    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    text = "".join(output.get("text", "") for output in outputs)
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert f"cyclegan_tf from {ROOT / 'cyclegan_tf'}" in text  # the install cell ran and found this checkout
    assert "$ cyclegan-tf train --dataset demo" in text and "demo score" in text
    assert "30 images translated" in text
    assert len(images) == 5  # a translate grid, the sample grid, the loss plot, the pretrained and the ONNX output
    assert "ONNX: (1, 64, 64, 3) uint8 -> (1, 64, 64, 3) uint8" in text
    difference = int(text.split("largest difference from translate: ")[1].split()[0])
    assert difference <= 1
    run = work / "checkpoints" / "demo"
    assert [p.name for p in sorted((run / "samples").glob("epoch_*.png"))] == ["epoch_001.png", "epoch_002.png"]
    assert len(list((work / "pretrained").glob("*.png"))) == 1 and (work / "demo.onnx").stat().st_size > 100_000
    assert len(server.requests) == 1 and (tmp_path / "models" / "horse2zebra" / "config.json").is_file()
