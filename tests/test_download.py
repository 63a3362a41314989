"""Downloads and extraction, offline: a local HTTP server on 127.0.0.1 serves archives built by the test.

The server (and the archive builders) are shared with test_datasets.py.
"""

from __future__ import annotations

import contextlib
import io
import re
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from cyclegan_tf.data.download import ArchiveError, DownloadError, UnsafeArchive, extract_archive, fetch, part_path

# ---------------------------------------------------------------------------------------------------------------
# A small file server whose behaviour the tests control


@dataclass
class ServerState:
    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> body
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    cut_next: int = 0  # the next N responses send Content-Length, half the body, then close the connection
    ranges: bool = True  # honour Range requests with 206


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # the name http.server calls
        state: ServerState = self.server.state
        state.requests.append((self.path, self.headers.get("Range")))
        data = state.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if match and state.ranges:
            start = int(match.group(1))
            if start >= len(data):
                self.send_error(416)
                return
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if state.cut_next > 0:
            state.cut_next -= 1
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def file_server() -> Iterator[ServerState]:
    """A file server on 127.0.0.1 (a free port) while the block runs: put files into its `files`."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = ServerState(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True)
    thread.start()
    try:
        yield httpd.state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def server():
    with file_server() as state:
        yield state


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: bind a free port, then close it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ---------------------------------------------------------------------------------------------------------------
# Archives


def png_bytes(color=(200, 30, 30), size=(8, 8), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, "PNG")
    return buffer.getvalue()


def unpaired_files(top: str = "mini") -> dict[str, bytes]:
    """An unpaired dataset: top/trainA, trainB, testA, testB with two PNGs of distinct colour each."""
    files = {}
    for i, split in enumerate(("trainA", "trainB", "testA", "testB")):
        for j in range(2):
            files[f"{top}/{split}/{j}.png"] = png_bytes((40 * i, 100 + j, 7))
    return files


def aligned_files(top: str = "facades") -> dict[str, bytes]:
    return {f"{top}/{split}/{j}.jpg": png_bytes((j, 50, 90), (16, 8)) for split in ("train", "val", "test")
            for j in range(1, 3)}


def make_zip(files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name), data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)
    return buffer.getvalue()


def make_tar_gz(files: dict[str, bytes], links: list[tarfile.TarInfo] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in links:
            archive.addfile(info)
    return buffer.getvalue()


def link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def all_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ---------------------------------------------------------------------------------------------------------------
# Tests


def test_zip_is_downloaded_and_extracted_into_place(server, tmp_path):
    files = unpaired_files("mini")
    server.files["/d/mini.zip"] = make_zip(files)
    archive = fetch(server.base + "/d/mini.zip", tmp_path / "dl" / "mini.zip", progress=False)
    assert archive.read_bytes() == server.files["/d/mini.zip"]
    assert not part_path(archive).exists()
    target = extract_archive(archive, tmp_path / "mini", expect=("trainA",))
    assert target == tmp_path / "mini"
    for name, data in files.items():  # the single top folder mini/ became the target itself
        assert (tmp_path / name).read_bytes() == data
    assert sorted(p.name for p in target.iterdir()) == ["testA", "testB", "trainA", "trainB"]
    assert all_files(tmp_path) == {"dl", "dl/mini.zip", "mini"} | {str(Path(n)) for n in files} | \
        {"mini/trainA", "mini/trainB", "mini/testA", "mini/testB"}  # no staging folder left


def test_tar_gz_is_extracted_and_inner_links_become_copies(server, tmp_path):
    files = aligned_files("facades")
    links = [link("facades/train/copy.jpg", "1.jpg"), link("facades/val/hard.jpg", "facades/train/2.jpg",
                                                            tarfile.LNKTYPE)]
    server.files["/facades.tar.gz"] = make_tar_gz(files, links)
    archive = fetch(server.base + "/facades.tar.gz", tmp_path / "facades.tar.gz", progress=False)
    target = extract_archive(archive, tmp_path / "pix2pix" / "facades", expect=("train",))
    assert (target / "train" / "1.jpg").read_bytes() == files["facades/train/1.jpg"]
    copy, hard = target / "train" / "copy.jpg", target / "val" / "hard.jpg"
    assert not copy.is_symlink() and copy.read_bytes() == files["facades/train/1.jpg"]
    assert not hard.is_symlink() and hard.read_bytes() == files["facades/train/2.jpg"]
    assert len(list(target.rglob("*.jpg"))) == 8


def test_interrupted_transfer_is_resumed_with_a_range_request(server, tmp_path):
    data = bytes(range(256)) * 400  # 102400 bytes
    server.files["/big.zip"] = data
    server.cut_next = 1
    dest = fetch(server.base + "/big.zip", tmp_path / "big.zip", retries=1, retry_wait=0, progress=False)
    assert dest.read_bytes() == data
    assert server.requests == [("/big.zip", None), ("/big.zip", "bytes=51200-")]


def test_interrupted_transfer_keeps_its_part_and_the_next_call_resumes(server, tmp_path):
    data = bytes(range(256)) * 400
    server.files["/big.zip"] = data
    server.cut_next = 1
    dest = tmp_path / "big.zip"
    with pytest.raises(DownloadError) as error:
        fetch(server.base + "/big.zip", dest, retries=0, progress=False)
    message = str(error.value)
    assert (f"download of {server.base}/big.zip was interrupted after 51.2 kB of 102.4 kB (the connection closed "
            "early)") in message
    assert "run the same command again to resume" in message
    assert not dest.exists() and part_path(dest).stat().st_size == 51200
    fetch(server.base + "/big.zip", dest, retries=0, progress=False)
    assert dest.read_bytes() == data and not part_path(dest).exists()
    assert server.requests[-1] == ("/big.zip", "bytes=51200-")


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    data = bytes(range(256)) * 400
    server.files["/big.zip"] = data
    server.ranges = False
    server.cut_next = 1
    dest = fetch(server.base + "/big.zip", tmp_path / "big.zip", retries=1, retry_wait=0, progress=False)
    assert dest.read_bytes() == data  # 200 to the Range request: rewritten from the start, not appended
    assert len(server.requests) == 2


def test_404_names_the_url(server, tmp_path):
    with pytest.raises(DownloadError, match=re.escape(f"cannot download {server.base}/nothing.zip: the server "
                                                      "answered HTTP 404 Not Found")):
        fetch(server.base + "/nothing.zip", tmp_path / "nothing.zip", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_nothing_listening_says_connection_refused(tmp_path):
    url = closed_port_url() + "/x.zip"
    with pytest.raises(DownloadError, match=re.escape(f"cannot download {url}: the connection was refused")):
        fetch(url, tmp_path / "x.zip", progress=False)


def test_dns_failure_says_so(tmp_path, monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(DownloadError, match="the host name does not resolve \\(offline, or a DNS failure\\)"):
        fetch("http://no-such-host.invalid/x.zip", tmp_path / "x.zip", progress=False)


def test_a_silent_server_times_out(tmp_path):
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/x.zip"
        with pytest.raises(DownloadError, match=re.escape(f"cannot download {url}: no answer within 0.3 s")):
            fetch(url, tmp_path / "x.zip", timeout=0.3, progress=False)


@pytest.mark.parametrize("builder", [make_zip, make_tar_gz], ids=["zip", "tar.gz"])
def test_a_truncated_archive_is_refused_and_nothing_is_extracted(tmp_path, builder):
    data = builder(unpaired_files("mini"))
    archive = tmp_path / "mini.archive"
    archive.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ArchiveError, match="damaged|not a complete zip or tar archive") as error:
        extract_archive(archive, tmp_path / "mini")
    assert "nothing was extracted" in str(error.value)
    assert all_files(tmp_path) == {"mini.archive"}


def test_a_zip_with_a_bad_crc_is_refused(tmp_path):
    data = bytearray(make_zip({"mini/trainA/0.bin": b"A" * 1000}))
    data[data.index(b"A" * 100) + 10] = ord("B")  # stored (uncompressed): flip one byte of the member
    archive = tmp_path / "bad.zip"
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="member 'mini/trainA/0.bin' fails its CRC check"):
        extract_archive(archive, tmp_path / "mini")
    assert all_files(tmp_path) == {"bad.zip"}


def _zip_slip_cases(tmp_path: Path):
    outside = tmp_path / "outside.txt"
    return {
        "dotdot": (make_zip({"mini/trainA/0.png": b"ok", "../evil.txt": b"x"}), "path with '..' '../evil.txt'"),
        "deep-dotdot": (make_zip({"mini/trainA/../../../evil.txt": b"x"}), "path with '..'"),
        "absolute": (make_zip({str(outside): b"x"}), f"absolute path '{outside}'"),
        "windows-drive": (make_zip({"C:\\evil.txt": b"x"}), "absolute path"),
        "backslash-dotdot": (make_zip({"mini\\..\\..\\evil.txt": b"x"}), "path with '..'"),
        "symlink-outside": (make_zip({"mini/trainA/0.png": b"ok"}, {"mini/trainA/link.png": "../../../etc/passwd"}),
                            "link 'mini/trainA/link.png' points outside the archive"),
        "symlink-absolute": (make_zip({}, {"mini/link": "/etc/passwd"}), "points to the absolute path '/etc/passwd'"),
    }


@pytest.mark.parametrize("case", ["dotdot", "deep-dotdot", "absolute", "windows-drive", "backslash-dotdot",
                                  "symlink-outside", "symlink-absolute"])
def test_zip_slip_is_refused_and_nothing_is_written(tmp_path, case):
    data, expected = _zip_slip_cases(tmp_path)[case]
    work = tmp_path / "data"
    work.mkdir()
    archive = work / "evil.zip"
    archive.write_bytes(data)
    with pytest.raises(UnsafeArchive, match=re.escape(expected)) as error:
        extract_archive(archive, work / "mini")
    assert str(error.value).startswith(f"refusing to extract {archive}: ")
    assert all_files(tmp_path) == {"data", "data/evil.zip"}


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink-outside", "symlink-absolute", "hardlink-outside",
                                  "symlink-to-folder", "device"])
def test_tar_slip_is_refused_and_nothing_is_written(tmp_path, case):
    ok = {"mini/trainA/0.png": b"ok"}
    device = tarfile.TarInfo("mini/dev")
    device.type = tarfile.CHRTYPE
    cases = {
        "dotdot": (make_tar_gz({**ok, "mini/../../evil.txt": b"x"}), "path with '..'"),
        "absolute": (make_tar_gz({str(tmp_path / "outside.txt"): b"x"}), "absolute path"),
        "symlink-outside": (make_tar_gz(ok, [link("mini/trainA/l.png", "../../../outside.txt")]),
                            "points outside the archive ('../../../outside.txt')"),
        "symlink-absolute": (make_tar_gz(ok, [link("mini/l", "/etc/passwd")]), "absolute path '/etc/passwd'"),
        "hardlink-outside": (make_tar_gz(ok, [link("mini/h", "../outside.txt", tarfile.LNKTYPE)]),
                             "points outside the archive"),
        "symlink-to-folder": (make_tar_gz(ok, [link("mini/d", "trainA")]), "which is not a file in the archive"),
        "device": (make_tar_gz(ok, [device]), "device, FIFO or other special file 'mini/dev'"),
    }
    data, expected = cases[case]
    work = tmp_path / "data"
    work.mkdir()
    archive = work / "evil.tar.gz"
    archive.write_bytes(data)
    with pytest.raises(UnsafeArchive, match=re.escape(expected)):
        extract_archive(archive, work / "mini")
    assert all_files(tmp_path) == {"data", "data/evil.tar.gz"}


def test_an_archive_without_the_expected_layout_is_refused(tmp_path):
    archive = tmp_path / "x.zip"
    archive.write_bytes(make_zip({"x/photos/1.png": b"1"}))
    with pytest.raises(ArchiveError, match=re.escape(f"{archive} holds no trainA/ folder (found: photos)")):
        extract_archive(archive, tmp_path / "x", expect=("trainA",))
    assert all_files(tmp_path) == {"x.zip"}
