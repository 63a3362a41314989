"""One writer per run: training holds an OS lock on its run directory.

The lock is `fcntl.flock` on `<run>/.lock`: the kernel releases it when the process ends in any way (kill -9
included), so a dead trainer never leaves a stale lock. The file holds the holder's process id, to name it.
Readers (translate, evaluate) take no lock: they read complete checkpoints only (`checkpoints`).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from cyclegan_tf.errors import UserError

LOCK_FILE = ".lock"


class RunLock:
    """An exclusive lock on a run directory, held from `acquire` (or `with`) until `release` or the process's end.

    Args:
        run_dir: the run directory; created if missing.
    """

    def __init__(self, run_dir: Path | str):
        self.run_dir = Path(run_dir)
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock, or raise a `UserError` naming the process that holds it."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise UserError(f"run {self.run_dir} is being trained by process {holder}: wait for it to finish, stop "
                            "it, or choose another --name") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

