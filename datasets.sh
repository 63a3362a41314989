#!/usr/bin/env bash
# Download the reference's CycleGAN / pix2pix datasets by name (the list of names lives in
# cyclegan_tf/datasets.py; this script calls `cyclegan-tf datasets download`).
#
#   bash datasets.sh NAME [NAME...] [--kind aligned] [--data-dir DIR] [--mirror URL]
#   bash datasets.sh --help          # usage and the list of names
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -x "$here/.venv/bin/python" ]]; then
    python="$here/.venv/bin/python"
else
    python="$(command -v python3 || command -v python)"
fi
cli() { PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" "$python" -m cyclegan_tf.cli "$@"; }

usage() {
    cat <<USAGE
Usage: bash datasets.sh NAME [NAME...] [--kind unpaired|aligned] [--data-dir DIR] [--mirror URL]

Downloads and extracts each dataset into the data dir (\$CYCLEGAN_TF_DATA, default
~/.cache/cyclegan-tf/datasets): NAME/ for CycleGAN's unpaired sets, pix2pix/NAME/ for pix2pix's.
A dataset already there is not downloaded again; an interrupted download resumes.

Examples:
  bash datasets.sh apple2orange
  bash datasets.sh facades --kind aligned
  CYCLEGAN_TF_MIRROR=https://mirror.example.org bash datasets.sh horse2zebra

USAGE
    cli datasets list
}

case "${1:-}" in
    "" | -h | --help | help) usage ;;
    *) cli datasets download "$@" ;;
esac
