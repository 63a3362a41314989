"""Importing TensorFlow without the lines it writes to stderr at start-up (the CLI, the benchmarks and the Python
API's first use of a name that needs TensorFlow).
"""

from __future__ import annotations

import os
import sys
import tempfile


def import_tensorflow_quietly() -> None:
    """Import TensorFlow without the oneDNN/CUDA/CPU-feature lines it writes to stderr at start-up.

    Those lines come from C++ before Python logging exists, so fd 2 is redirected around the import
    and the first look for devices (where a CUDA build on a machine without a GPU reports that cuInit
    failed); if the import fails, what it wrote is shown after all.
    """
    # Level 3 also hides Grappler's "remapper failed" ERROR lines, which TF logs for a fusion it skips
    # in our discriminators' gradients: harmless, and alarming to read each epoch. Set the variable to see them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow

            tensorflow.config.list_physical_devices("GPU")
        except Exception:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
