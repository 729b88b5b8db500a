"""The authoring page's local server: ``uniad review OUT_DIR``.

Bound to 127.0.0.1 only. Every URL starts with a random token (``/<token>/...``) printed
once: other local users and other web sites cannot read or write the track, and a request
without it gets 403. Files are served from the folder under review only (a path that
resolves outside it, through ``..`` or a link, gets 403), plus the one video ``ad.json``
records.

Starlette + uvicorn rather than the standard library's ``http.server``: the page plays
and seeks the video, which needs HTTP range requests (Starlette's ``FileResponse`` answers
them; ``http.server`` does not), speech synthesis and rendering take seconds and must not
stall the page (uvicorn's event loop with a thread pool), and routing, JSON bodies and
error codes are a few declarative lines instead of a hand-written request parser.

Edits are serialised by one lock (one folder, one writer); the HTTP codes the page acts
on: 409 a stale revision (another tab changed the track: reload), 422 an edit that cannot
apply or a render refused (its message is announced), 400 a malformed request.
"""

from __future__ import annotations

import asyncio
import errno
import json
import secrets
import socket
import threading
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (FileResponse, JSONResponse, PlainTextResponse, Response,
                                 RedirectResponse)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from uniad.errors import UniADError
from uniad.narrate.deliver.authoring.draft import EditError, StaleRevision
from uniad.narrate.deliver.authoring.session import Session
from uniad.narrate.deliver.speech import wav_bytes

HOST = "127.0.0.1"
ASSETS = {"author.js": "text/javascript", "author.css": "text/css"}


def page_asset(name: str) -> bytes:
    """A file of the page (``index.html``, script, style), shipped in the package."""
    return resources.files("uniad.narrate.deliver.authoring").joinpath("page", name).read_bytes()


class TokenGate:
    """ASGI middleware: only paths under ``/<token>/`` pass; ``/<token>`` redirects there."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        first, _, rest = scope["path"].lstrip("/").partition("/")
        if not secrets.compare_digest(first.encode(), self.token.encode()):
            response: Response = PlainTextResponse(
                "403: this address needs the token `uniad review` printed", status_code=403)
        elif not rest and not scope["path"].endswith("/"):
            response = RedirectResponse(f"/{self.token}/")
        else:
            # the app's routes are below the token: ASGI's root_path says so
            return await self.app({**scope, "root_path": f"/{self.token}"}, receive, send)
        await response(scope, receive, send)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def build_app(session: Session, token: str) -> ASGIApp:
    """The page, its API and the folder's files for ``session``, behind ``token``."""
    lock = asyncio.Lock()
    folder = session.folder.resolve()

    async def locked(work: Callable[[], Any]) -> JSONResponse:
        """Run ``work`` (it may synthesise or render: seconds) in a thread, one at a time,
        then answer with what it returned plus the new state."""
        async with lock:
            try:
                said = await run_in_threadpool(work)
                state = await run_in_threadpool(session.state)
            except StaleRevision as exc:
                return _error(409, str(exc), revision=exc.current)
            except UniADError as exc:  # an edit that cannot apply, a render refused
                return _error(422, str(exc))
        return JSONResponse({"said": said, "state": state})

    async def body(request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("revision"), int):
            raise EditError("the request needs a JSON object with the page's 'revision'")
        return data

    def guarded(handler: Callable[[dict[str, Any]], Any]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                data = await body(request)
            except EditError as exc:
                return _error(400, str(exc))
            return await locked(lambda: handler(data))
        return endpoint

    def edit(data: dict[str, Any]) -> str:
        args = {k: v for k, v in data.items() if k not in ("revision", "op")}
        return "Saved " + session.draft.apply(data["revision"], str(data.get("op")), **args)

    def undo(data: dict[str, Any]) -> str:
        return "Undid " + session.draft.step(data["revision"], back=True)

    def redo(data: dict[str, Any]) -> str:
        return "Redid " + session.draft.step(data["revision"], back=False)

    def render(data: dict[str, Any]) -> str:
        session.draft.check_revision(data["revision"])
        paths = session.render()
        return f"Rendered {len(paths)} deliverables: " + ", ".join(sorted(paths))

    async def index(request: Request) -> Response:
        return Response(page_asset("index.html"), media_type="text/html")

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return PlainTextResponse("not found", status_code=404)
        return Response(page_asset(name), media_type=ASSETS[name])

    async def state(request: Request) -> Response:
        async with lock:
            await run_in_threadpool(session.draft.sync)
            return JSONResponse(await run_in_threadpool(session.state))

    async def track(request: Request) -> Response:
        return Response(session.vtt(), media_type="text/vtt")

    async def video(request: Request) -> Response:
        return FileResponse(session.video)

    async def files(request: Request) -> Response:
        path = (folder / request.path_params["path"]).resolve()
        if not path.is_relative_to(folder):
            return PlainTextResponse("403: outside the folder under review", status_code=403)
        if not path.is_file():
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(path)

    async def speech(request: Request) -> Response:
        try:
            index = int(request.path_params["index"])
            fitted = await run_in_threadpool(session.fitted, index)
        except (IndexError, ValueError):
            return _error(404, f"no cue {request.path_params['index']}")
        if fitted is None or fitted.speech is None:  # skipped or dropped: nothing to hear
            return _error(422, "a render would not speak this description: "
                          + ("its room holds too few words" if fitted is None
                             else "its speech does not fit its time"))
        return Response(wav_bytes(fitted.speech.samples, fitted.speech.sample_rate),
                        media_type="audio/wav")

    routes = [
        Route("/", index), Route("/assets/{name}", asset), Route("/api/state", state),
        Route("/track.vtt", track), Route("/video", video),
        Route("/files/{path:path}", files), Route("/api/speech/{index}", speech),
        Route("/api/edit", guarded(edit), methods=["POST"]),
        Route("/api/undo", guarded(undo), methods=["POST"]),
        Route("/api/redo", guarded(redo), methods=["POST"]),
        Route("/api/render", guarded(render), methods=["POST"]),
    ]
    return TokenGate(Starlette(routes=routes), token)


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: a free one); a port in use is a
    one-line error, before anything else starts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UniADError(f"port {port} on {HOST} is in use: choose another --port, or "
                             "leave it out for a free one") from None
        raise UniADError(f"cannot listen on {HOST}:{port}: {exc.strerror}") from None
    sock.listen(64)
    return sock


class ReviewServer:
    """The server for one session: ``url`` (with its token), :meth:`serve` (blocking, the
    command) or :meth:`start`/:meth:`stop` (a thread: tests, the screenshot script)."""

    def __init__(self, session: Session, port: int = 0) -> None:
        self.session, self.token = session, secrets.token_urlsafe(18)
        self.socket = bind(port)
        self.port = self.socket.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}/{self.token}/"
        config = uvicorn.Config(build_app(session, self.token), log_level="warning",
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def serve(self) -> None:
        self.server.run(sockets=[self.socket])

    def start(self) -> ReviewServer:
        self._thread = threading.Thread(target=self.serve, daemon=True)
        self._thread.start()
        while not self.server.started and self._thread.is_alive():
            threading.Event().wait(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.socket.close()

    def __enter__(self) -> ReviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

