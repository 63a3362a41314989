"""`cyclegan-tf serve`: a run's translation over HTTP, with a web page to try it.

Built on Starlette and uvicorn (the `[serve]` extra) rather than Gradio: three small packages instead of a
hundred, HTTP status codes and limits under our control (413 for a body or an image that is too large, 415 for
something that is not an image, 503 when busy), and a page that is one static HTML file.

    GET  /            the page: drop, pick or draw an image; input and translation side by side
    GET  /healthz     {"status": "ok", "directions": [...], ...}
    POST /translate   an image (the raw body, or a multipart field `image`), `?direction=AtoB|BtoA`;
                      answers a PNG of the input's size; a run of scientific images (`data.scientific`) also
                      takes 16-bit PNG, TIFF and .npy and answers a 16-bit PNG (one band) or a TIFF (N bands,
                      float) at the run's depth or `?depth=8|16|float` (the page shows 8-bit runs only: browsers
                      draw no TIFF)

Requests that arrive together are translated together: a batcher collects what comes within `batch_wait`
seconds (at most `max_batch`), runs images of the same size and direction as one batch, and answers each.
Images larger than the translators' `tile` go through `inference.tiles` one at a time, as in `translate --tile`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from cyclegan_tf.data.images import ImageTooLarge, load_image
from cyclegan_tf.data.scientific import DEPTHS
from cyclegan_tf.deploy.export import require
from cyclegan_tf.errors import UserError
from cyclegan_tf.inference.translator import Translator

PAGE = Path(__file__).with_name("page.html")


@dataclass
class ServerLimits:
    """What one request may ask of the server."""

    max_upload_mb: float = 20.0
    max_pixels: int = 16_000_000  # decoded width x height (decompression bombs)
    timeout: float = 60.0  # seconds a request may wait and run
    max_batch: int = 8
    batch_wait: float = 0.01  # seconds the batcher waits for more requests
    max_queue: int = 64  # requests waiting; more are answered 503


@dataclass
class _Job:
    direction: str
    image: np.ndarray
    future: asyncio.Future = field(default=None)


MEDIA_TYPES = {".png": "image/png", ".tif": "image/tiff", ".npy": "application/octet-stream"}


class HTTPProblem(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def decode_upload(body: bytes, channels: int, limits: ServerLimits, translator: Translator | None = None
                  ) -> np.ndarray:
    """uint8 (H, W, channels) from an uploaded file's bytes (a scientific run's `translator`: its float32 values
    from a 16-bit PNG, a TIFF or a .npy), or an `HTTPProblem` (413 too large, 415 not an image)."""
    try:  # the translator's own reader: any mode, EXIF rotation, 16 bits
        if translator is not None:
            return translator.read(io.BytesIO(body), limits.max_pixels)
        return load_image(io.BytesIO(body), channels, limits.max_pixels)
    except ImageTooLarge as error:
        raise HTTPProblem(413, str(error).split(": ", 1)[-1]) from None  # without the reader's "<BytesIO ...>: "
    except (OSError, ValueError, UserError, Image.DecompressionBombError, SyntaxError) as error:
        raise HTTPProblem(415, f"not an image this server reads ({type(error).__name__})") from None


class Batcher:
    """Collects concurrent requests and runs them in batches on one worker thread."""

    def __init__(self, translators: dict[str, Translator], limits: ServerLimits):
        self.translators, self.limits = translators, limits
        self.queue: asyncio.Queue[_Job] | None = None
        self.batches = 0  # for the tests and /healthz

    async def start(self) -> None:
        self.queue = asyncio.Queue(self.limits.max_queue)
        self.task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        self.task.cancel()

    async def translate(self, direction: str, image: np.ndarray) -> np.ndarray:
        job = _Job(direction, image, asyncio.get_running_loop().create_future())
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            raise HTTPProblem(503, "the server is busy: try again") from None
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), self.limits.timeout)
        except asyncio.TimeoutError:
            raise HTTPProblem(503, f"no answer within {self.limits.timeout:g} s: try again") from None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            deadline = time.monotonic() + self.limits.batch_wait
            while len(jobs) < self.limits.max_batch:
                try:
                    jobs.append(await asyncio.wait_for(self.queue.get(), max(0.0, deadline - time.monotonic())))
                except asyncio.TimeoutError:
                    break
            groups = defaultdict(list)
            for job in jobs:
                groups[job.direction].append(job)
            for direction, group in groups.items():
                try:
                    outputs = await loop.run_in_executor(None, self._run, direction, [j.image for j in group])
                except Exception as error:  # every waiting request gets the failure
                    for job in group:
                        if not job.future.done():
                            job.future.set_exception(HTTPProblem(500, f"translation failed: {error}"))
                    continue
                for job, output in zip(group, outputs, strict=True):
                    if not job.future.done():
                        job.future.set_result(output)

    def _run(self, direction: str, images: list[np.ndarray]) -> list[np.ndarray]:
        self.batches += len({image.shape for image in images})  # `many` runs each size as one batch
        return self.translators[direction].many(images, self.limits.max_batch)


def make_app(translators: dict[str, Translator], limits: ServerLimits | None = None, title: str = "cyclegan-tf"):
    """The Starlette app serving `translators` ({direction: `inference.translator.Translator`})."""
    require("starlette", "uvicorn", "multipart")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    limits = limits or ServerLimits()
    batcher = Batcher(translators, limits)
    directions = list(translators)
    channels = {d: t.channels for d, t in translators.items()}
    page = PAGE.read_text().replace("{{TITLE}}", title).replace("{{DIRECTIONS}}", json.dumps(directions))

    def problem(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message, "status": status}, status_code=status)

    async def read_body(request: Request) -> bytes:
        cap = int(limits.max_upload_mb * 1e6)
        declared = request.headers.get("content-length")
        too_large = HTTPProblem(413, f"the upload is larger than {limits.max_upload_mb:g} MB")
        if declared and declared.isdigit() and int(declared) > 4 * cap:
            raise too_large  # not read at all: the connection closes under the client
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size <= cap:
                chunks.append(chunk)
            # somewhat over the limit: read to the end (and drop), so that the client can read the answer
        if size > cap:
            raise too_large
        return b"".join(chunks)

    async def image_of(request: Request) -> bytes:
        body = await read_body(request)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            from starlette.datastructures import UploadFile

            async def again():  # the body, read already (within the limit), once more for the form parser
                return {"type": "http.request", "body": body, "more_body": False}

            try:
                form = await Request(request.scope, again).form()
            except Exception:  # any malformed multipart body is the client's
                raise HTTPProblem(400, "a malformed multipart body") from None
            upload = form.get("image")
            if not isinstance(upload, UploadFile):
                raise HTTPProblem(400, "no file field named 'image' in the form")
            return await upload.read()
        if not body:
            raise HTTPProblem(400, "an empty body: send an image (the raw bytes, or a form field 'image')")
        return body

    async def translate(request: Request) -> Response:
        try:
            direction = request.query_params.get("direction", directions[0])
            if direction not in translators:
                raise HTTPProblem(400, f"direction must be one of {', '.join(directions)}")
            depth = request.query_params.get("depth")
            if depth not in (None, *DEPTHS) or (depth not in (None, "8") and translators[direction].scales[1] is None):
                raise HTTPProblem(400, f"depth must be one of {', '.join(DEPTHS)} (8 for a run of 8-bit images)")
            image = decode_upload(await image_of(request), channels[direction], limits, translators[direction])
            output = await batcher.translate(direction, image)
        except HTTPProblem as error:
            return problem(error.status, error.message)
        # 8-bit runs: a PNG; scientific runs: 16-bit PNG (one band) or TIFF (N bands, float), at ?depth=
        suffix, data = translators[direction].encode(output, depth)
        return Response(data, media_type=MEDIA_TYPES[suffix])

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "directions": directions, "batches": batcher.batches,
                             "max_upload_mb": limits.max_upload_mb, "max_pixels": limits.max_pixels})

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        yield
        await batcher.stop()

    routes = [Route("/", index), Route("/healthz", health), Route("/translate", translate, methods=["POST"])]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.batcher = batcher
    return app


@dataclass
class RunningServer:
    """A server started by `start_in_thread`: its URL, and `stop()`."""

    url: str
    server: object
    thread: object

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _bind(host: str, port: int):
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections wait in the backlog until the server accepts them
    except OSError as error:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sock, f"http://{host if family == socket.AF_INET else f'[{host}]'}:{sock.getsockname()[1]}"


def serve_forever(app, host: str = "127.0.0.1", port: int = 8000, on_ready=None) -> None:
    """Serve `app` until interrupted; `on_ready(url)` once it listens (port 0 takes a free one)."""
    import uvicorn

    sock, url = _bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    if on_ready:
        on_ready(url)
    server.run(sockets=[sock])


def start_in_thread(app, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve `app` (`make_app`) from a background thread, e.g. in a notebook or a test; port 0 takes a free one."""
    import threading

    import uvicorn

    sock, url = _bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs=dict(sockets=[sock]), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise UserError(f"the server on {url} did not start")
    return RunningServer(url, server, thread)
