"""Downloads that can be trusted, and archive extraction that writes nothing outside its target.

`fetch` streams a URL to `<dest>.part` and renames it to `dest` only when the byte count matches the
server's Content-Length, so a file at `dest` is always complete. An interrupted transfer keeps its
`.part` and is resumed with an HTTP Range request (206), or restarted from zero when the server
ignores Range (200). Network failures become one `DownloadError` line that names the URL.

`extract_archive` checks the whole archive (every zip CRC / every tar member read) and every member
name and link *before* writing anything, extracts into a hidden folder beside the target, and renames
that into place, so a half-extracted dataset never looks complete. Links are never created: a link
to a file inside the archive becomes a copy of it; anything pointing outside is refused, as are
absolute names, `..` components and device files.
"""

from __future__ import annotations

import http.client
import os
import posixpath
import re
import shutil
import socket
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import click

from cyclegan_tf.errors import UserError

CHUNK = 1 << 16
USER_AGENT = "cyclegan-tf (https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix datasets)"


class DownloadError(UserError):
    """The network or the server failed; the message names the URL (callers add how to get the data by hand)."""


class ArchiveError(UserError):
    """An archive is damaged or unsafe; nothing was extracted."""


class _Interrupted(Exception):
    """The body ended (or the connection failed) before Content-Length bytes arrived."""

    def __init__(self, have: int, total: int | None, reason: str):
        super().__init__(reason)
        self.have, self.total, self.reason = have, total, reason


def part_path(dest: Path) -> Path:
    """Where `fetch` keeps the bytes received so far."""
    return dest.with_name(dest.name + ".part")


def megabytes(n: int | None) -> str:
    """A byte count for people: "?" when unknown."""
    if n is None:
        return "?"
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


# ---------------------------------------------------------------------------------------------------------------
# Download


def fetch(url: str, dest: Path | str, *, timeout: float = 30.0, retries: int = 2, retry_wait: float = 1.0,
          progress: bool | None = None) -> Path:
    """Download `url` to `dest` (complete, or not at all); resume a `.part` left by an earlier attempt.

    Args:
        url: the file to download; a server that ignores Range requests sends it again from the start.
        dest: the file to write (its folder is created); the bytes so far are kept in `dest` + ".part".
        timeout: seconds to wait for the server to connect or to send more data.
        retries: how many times an interrupted transfer is resumed; after that the `.part` is kept and the
            `DownloadError` says to run the command again.
        retry_wait: seconds before the first retry, doubled before each further one.
        progress: a progress bar on stderr; None: when stderr is a terminal (otherwise one line at the start).

    Returns:
        `dest`, as a `Path`.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if progress is None:
        progress = sys.stderr.isatty()
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, part_path(dest), timeout, progress)
            break
        except OSError as error:  # network errors became DownloadError inside: this is the local disk
            raise DownloadError(f"cannot write {part_path(dest)}: {error.strerror or error}") from None
        except _Interrupted as stop:
            if attempt == retries:
                raise DownloadError(
                    f"download of {url} was interrupted after {megabytes(stop.have)} of {megabytes(stop.total)} "
                    f"({stop.reason}); the part is kept in {part_path(dest)}: run the same command again to resume"
                ) from None
            time.sleep(retry_wait * 2**attempt)
    os.replace(part_path(dest), dest)
    return dest


def _fetch_once(url: str, part: Path, timeout: float, progress: bool) -> None:
    """One request: append to `part` (206) or rewrite it (200); raise `_Interrupted` if the body is short."""
    have = part.stat().st_size if part.exists() else 0
    response = _open(url, have, timeout)
    if response is None:  # the server found nothing left to send after `have` bytes: start again
        part.unlink()
        have, response = 0, _open(url, 0, timeout)
    with response:
        start, total = _body_range(response, have, url)
        if total is not None:
            _check_disk_space(part.parent, total - start)
        if not progress:
            click.echo(f"downloading {url} ({megabytes(total)})", err=True)
        with open(part, "ab" if start else "wb") as out, _bar(progress, total, url) as bar:
            bar(start)
            received = _stream(response, out, bar, start, total)
    if total is not None and received < total:
        raise _Interrupted(received, total, "the connection closed early")
    if total is not None and received > total:
        part.unlink()
        raise DownloadError(f"{url} sent more bytes ({received}) than it announced ({total}); run the command again")


def _open(url: str, have: int, timeout: float):
    """The response for bytes `have`.. of `url`, or None when the server answers 416 to that range."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:
            return None
        raise DownloadError(f"cannot download {url}: the server answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise DownloadError(f"cannot download {url}: {network_reason(error, timeout)}") from None


def network_reason(error: BaseException, timeout: float) -> str:
    """A short human reason for a failed connection (offline, DNS, refused, timeout, ...).

    Args:
        error: the exception of the failed connection; a `URLError`'s `reason` is looked into.
        timeout: the timeout used, in seconds, quoted when the failure was a timeout.

    Returns:
        A phrase such as "the connection was refused (nothing is listening there)".
    """
    reason = getattr(error, "reason", error)
    if isinstance(reason, socket.gaierror):
        return "the host name does not resolve (offline, or a DNS failure)"
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused (nothing is listening there)"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout:g} s (a timeout)"
    if isinstance(reason, FileNotFoundError):
        return "no such file at the mirror"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__


def _body_range(response, have: int, url: str) -> tuple[int, int | None]:
    """(offset the body starts at, total file size or None) from the status and headers."""
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if have and getattr(response, "status", 200) == 206:
        match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != have:
            raise DownloadError(f"cannot resume {url}: the server sent an unexpected range "
                                f"({response.headers.get('Content-Range')!r}); delete the .part file and retry")
        total = int(match.group(3)) if match.group(3) != "*" else None
        return have, total if total is not None else (have + length if length is not None else None)
    return 0, length  # 200: the whole file, from its start


def _stream(response, out: IO[bytes], bar: Callable[[int], None], start: int, total: int | None) -> int:
    """Copy the body in chunks; return the file's size so far. A failing connection is an `_Interrupted`;
    a failing disk (full, read-only) is a `DownloadError` at once, since retrying cannot help."""
    received = start
    while True:
        try:
            chunk = response.read(CHUNK)
        except (OSError, http.client.HTTPException) as error:  # reset, timeout, IncompleteRead
            out.flush()
            raise _Interrupted(received, total, f"{type(error).__name__}: {error}".rstrip(": ")) from None
        if not chunk:
            return received
        try:
            out.write(chunk)
        except OSError as error:
            raise DownloadError(f"cannot write {out.name}: {error.strerror or error}") from None
        received += len(chunk)
        bar(len(chunk))


@contextmanager
def _bar(show: bool, total: int | None, url: str) -> Iterator[Callable[[int], None]]:
    if not show or total is None:
        yield lambda n: None
        return
    label = "downloading " + url.rsplit("/", 1)[-1]
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=False, show_percent=True) as bar:
        yield bar.update


def _check_disk_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DownloadError(f"not enough disk space in {folder}: the download needs {megabytes(needed)}, "
                            f"{megabytes(free)} are free (choose another --data-dir)")


# ---------------------------------------------------------------------------------------------------------------
# Extraction


@dataclass(frozen=True)
class Member:
    """One archive entry after validation: a safe relative name and what to make of it."""

    name: str  # normalised relative POSIX path
    kind: str  # "file" | "dir" | "copy" (a link inside the archive: a copy of member `source`)
    source: str = ""
    info: object = field(default=None, compare=False, repr=False)  # the ZipInfo / TarInfo to read from


class UnsafeArchive(ArchiveError):
    """A member would land outside the target (absolute, `..`, a link outside) or is a device file."""


def safe_name(name: str) -> str:
    """`name` as a relative POSIX path inside the target; `UnsafeArchive` for absolute paths and `..`."""
    unified = name.replace("\\", "/")
    if "\x00" in unified or unified.startswith("/") or re.match(r"^[A-Za-z]:", unified):
        raise UnsafeArchive(f"absolute path {name!r}")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"path with '..' {name!r}")
    return "/".join(parts)


def _link_source(member_name: str, target: str, hard: bool) -> str:
    """The member a link points to, as a safe relative name; refused when it leaves the archive's folder."""
    target = target.replace("\\", "/")
    if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
        raise UnsafeArchive(f"link {member_name!r} points to the absolute path {target!r}")
    base = "" if hard else posixpath.dirname(member_name)  # hard links name members; symlinks are relative
    joined = posixpath.normpath(posixpath.join(base, target))
    if joined == ".." or joined.startswith("../"):
        raise UnsafeArchive(f"link {member_name!r} points outside the archive ({target!r})")
    return joined


def _zip_members(archive: zipfile.ZipFile) -> list[Member]:
    members = []
    for info in archive.infolist():
        name = safe_name(info.filename)
        kind = (info.external_attr >> 16) & 0o170000
        if kind == 0o120000:  # a symlink: its data is the link target
            target = archive.read(info).decode("utf-8", "replace")
            members.append(Member(name, "copy", _link_source(name, target, hard=False)))
        elif kind not in (0, 0o100000, 0o040000):
            raise UnsafeArchive(f"special file {info.filename!r}")
        elif name:
            members.append(Member(name, "dir" if info.is_dir() else "file", info=info))
    return members


def _tar_members(archive: tarfile.TarFile) -> list[Member]:
    members = []
    for info in archive.getmembers():
        name = safe_name(info.name)
        if info.issym() or info.islnk():
            members.append(Member(name, "copy", _link_source(name, info.linkname, hard=info.islnk())))
        elif info.isdir():
            if name:
                members.append(Member(name, "dir"))
        elif info.isfile():
            members.append(Member(name, "file", info=info))
        else:
            raise UnsafeArchive(f"device, FIFO or other special file {info.name!r}")
    return members


class _Reader:
    """A zip or tar archive behind one interface: validated members, an integrity check, member contents."""

    def __init__(self, path: Path):
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.tar: tarfile.TarFile | None = None
        if zipfile.is_zipfile(path):
            self.zip = zipfile.ZipFile(path)
            self.members = _zip_members(self.zip)
        elif tarfile.is_tarfile(path):
            self.tar = tarfile.open(path, "r:*")
            self.members = _tar_members(self.tar)
        else:
            raise ArchiveError("not a complete zip or tar archive (truncated, or an error page saved instead)")
        self.files = {m.name: m for m in self.members if m.kind == "file"}
        for m in self.members:  # a link must name a regular file (a link to a folder could lead anywhere)
            if m.kind == "copy" and m.source not in self.files:
                raise UnsafeArchive(f"link {m.name!r} points to {m.source!r}, which is not a file in the archive")

    def verify(self) -> None:
        """Read every byte of every member (zip: CRCs too), so damage is found before anything is written."""
        if self.zip is not None:
            bad = self.zip.testzip()
            if bad is not None:
                raise ArchiveError(f"member {bad!r} fails its CRC check")
            return
        for m in self.files.values():
            with self.open(m) as source:
                while source.read(1 << 20):
                    pass

    def open(self, member: Member) -> IO[bytes]:
        info = self.files[member.source].info if member.kind == "copy" else member.info
        if self.zip is not None:
            return self.zip.open(info)
        source = self.tar.extractfile(info)
        assert source is not None  # regular files always have data
        return source

    def close(self) -> None:
        (self.zip or self.tar).close()


# What reading a damaged archive raises (gzip.BadGzipFile is an OSError).
DAMAGE = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError, ValueError)


def open_archive(path: Path) -> _Reader:
    """Validate names, links and integrity of an archive: `UnsafeArchive` / `ArchiveError` and nothing written."""
    reader = None
    try:
        reader = _Reader(path)
        reader.verify()
        return reader
    except UnsafeArchive as error:
        _close(reader)
        raise UnsafeArchive(f"refusing to extract {path}: {error}; nothing was extracted") from None
    except ArchiveError as error:
        _close(reader)
        raise ArchiveError(f"{path} is damaged: {error}; nothing was extracted") from None
    except DAMAGE as error:
        _close(reader)
        raise ArchiveError(f"{path} is damaged or truncated ({type(error).__name__}: {error}); "
                           "nothing was extracted") from None


def _close(reader: _Reader | None) -> None:
    if reader is not None:
        reader.close()


def extract_archive(archive: Path | str, target: Path | str, expect: tuple[str, ...] = (),
                    on_member: Callable[[], None] | None = None) -> Path:
    """Extract `archive` so that its content ends up in `target` (which must not exist, or be empty).

    An archive holding one top folder (e.g. `apple2orange/`) has that folder's content moved to `target`.
    Nothing is written outside a hidden temporary folder beside `target` until the final rename.

    Args:
        archive: a zip or tar (any compression) file, checked in full before anything is written.
        target: the folder to create.
        expect: folder names one of which must be in it (e.g. ("trainA",)), else `ArchiveError`; () checks nothing.
        on_member: called with no argument after each member is written (e.g. to advance a progress bar).

    Returns:
        `target`, as a `Path`.
    """
    archive, target = Path(archive), Path(target)
    reader = open_archive(archive)
    staging = target.with_name(f".{target.name}.extracting-{os.getpid()}")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        _write_members(reader, staging, on_member)
        root = _content_root(staging)
        if expect and not any((root / name).is_dir() for name in expect):
            found = ", ".join(sorted(p.name for p in root.iterdir())) or "nothing"
            raise ArchiveError(f"{archive} holds no {' or '.join(n + '/' for n in expect)} folder (found: {found})")
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        os.replace(root, target)
    except OSError as error:
        raise UserError(f"cannot extract {archive} to {target}: {error.strerror or error}") from None
    finally:
        reader.close()
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _write_members(reader: _Reader, root: Path, on_member: Callable[[], None] | None) -> None:
    resolved = root.resolve()
    for m in reader.members:
        dest = root / m.name
        if not dest.resolve().is_relative_to(resolved):  # belt and braces: names were checked already
            raise UnsafeArchive(f"refusing to extract {reader.path}: {m.name!r} leaves the target")
        if m.kind == "dir":
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with reader.open(m) as source, open(dest, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
        if on_member:
            on_member()


def _content_root(staging: Path) -> Path:
    """The folder holding the dataset: the single top folder of the archive if there is one."""
    entries = [p for p in staging.iterdir() if p.name not in ("__MACOSX", ".DS_Store")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return staging
