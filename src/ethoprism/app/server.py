"""``ethoprism app``: a local web app (FastAPI + uvicorn) to watch, label, train, correct and
label what matters next. Binds 127.0.0.1 by default; every request needs the random token
printed at start (``?token=`` once, then a cookie); videos are served by store name only."""

from __future__ import annotations

import io
import os
import secrets
import zipfile
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ethoprism.app.project import BadEdit, Project
from ethoprism.errors import EthoprismError, os_reason

STATIC = Path(__file__).parent / "static"
COOKIE = "ethoprism_token"


def create_app(project: Project, token: str | None = None) -> FastAPI:
    token = token or secrets.token_urlsafe(24)
    app = FastAPI(title="ethoprism", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.token, app.state.project = token, project

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        given = (
            request.query_params.get("token") or request.headers.get("x-token") or request.cookies.get(COOKIE)
        )
        if not given or not secrets.compare_digest(given, token):
            return JSONResponse({"error": "missing or wrong token (use the URL ethoprism app printed)"}, 403)
        response = await call_next(request)
        if request.query_params.get("token"):
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": str(exc.detail)}, exc.status_code)

    @app.exception_handler(OSError)
    async def disk_refused(request: Request, exc: OSError):
        # a read-only or full store: the page shows the line, nothing it holds is lost
        where = exc.filename or "the store"
        return JSONResponse({"error": f"{where}: {os_reason(exc)}"}, 503)

    @app.exception_handler(EthoprismError)
    async def refused(request: Request, exc: EthoprismError):
        status = exc.status if isinstance(exc, BadEdit) else 400
        return JSONResponse({"error": exc.problem if exc.path is None else str(exc)}, status)

    @app.get("/", response_class=HTMLResponse)
    def index():
        return (STATIC / "index.html").read_text()

    @app.get("/static/{name}")
    def static(name: str):
        allowed = {p.name: p for p in STATIC.iterdir() if p.is_file()}
        if name not in allowed:
            raise HTTPException(404, "no such file")
        return FileResponse(allowed[name])

    @app.get("/api/videos")
    def videos():
        return project.videos()

    @app.get("/api/videos/{video}/file")
    def video_file(video: str, request: Request):
        path = project.playable(video)
        if path is None:
            status = project.proxy_status(video)
            return JSONResponse({"making_proxy": status}, 202)
        return _ranged(path, request.headers.get("range"))

    @app.get("/api/videos/{video}/proxy")
    def proxy(video: str):
        return project.proxy_status(video)

    @app.get("/api/videos/{video}/animals/{frame}")
    def animals(video: str, frame: int):
        return project.animal_boxes(video, frame)

    @app.get("/api/videos/{video}/frames/{frame}.jpg")
    def thumbnail(video: str, frame: int):
        return Response(project.thumbnail(video, frame), media_type="image/jpeg")

    @app.get("/api/labels")
    def labels():
        return project.labels()

    @app.put("/api/labels")
    async def put_labels(request: Request):
        body = await _json_object(request)
        # in a worker thread: a save writes files, and the lock it takes must not stall the server
        return await run_in_threadpool(
            project.set_labels, body.get("behaviors"), body.get("bouts"), body.get("base_version")
        )

    @app.post("/api/train")
    async def train(request: Request):
        body = await _json_object(request) if await request.body() else {}
        # in a worker thread: the page keeps playing and seeking while the head trains
        return await run_in_threadpool(project.train, str(body.get("head", "linear")))

    @app.get("/api/motifs")
    def motifs():
        return project.motifs or {"n_motifs": 0, "colours": [], "bouts": {}}

    @app.get("/api/metrics")
    def metrics():
        return {"metrics": project.metrics}

    @app.get("/api/predictions/{video}")
    def predictions(video: str):
        return project.prediction(video)

    @app.get("/api/suggest")
    def suggest(n: int = 10):
        if not 1 <= n <= 200:
            raise HTTPException(400, "n must be 1 to 200")
        return project.suggest(n)

    @app.get("/api/similar")
    def similar(video: str, start: int, end: int, k: int = 10):
        if not 1 <= k <= 100:
            raise HTTPException(400, "k must be 1 to 100")
        return project.similar(video, start, end, k)

    @app.get("/api/export/{fmt}")
    def export(fmt: str):
        return _export(project, fmt)

    return app


async def _json_object(request: Request) -> dict:
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # not JSON, or nested deeper than any edit is
        raise HTTPException(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return body


def _ranged(path: Path, header: str | None):
    """The file, or the byte range the browser asks for (seeking needs HTTP range requests)."""
    size = path.stat().st_size
    if not header or not header.startswith("bytes="):
        return FileResponse(path, media_type="video/mp4", headers={"Accept-Ranges": "bytes"})
    first, _, last = header[len("bytes=") :].split(",")[0].partition("-")
    try:
        start = int(first) if first else max(0, size - int(last))
        end = min(int(last), size - 1) if first and last else size - 1
    except ValueError:
        raise HTTPException(416, "bad range") from None
    if start >= size or start > end:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})

    def chunks():
        with open(path, "rb") as handle:
            handle.seek(start)
            left = end - start + 1
            while left > 0:
                data = handle.read(min(1 << 20, left))
                if not data:
                    return
                left -= len(data)
                yield data

    headers = {
        "Content-Range": f"bytes {start}-{end}/{size}",
        "Accept-Ranges": "bytes",
        "Content-Length": str(end - start + 1),
    }
    return StreamingResponse(chunks(), status_code=206, media_type="video/mp4", headers=headers)


def _export(project: Project, fmt: str):

    from ethoprism.io.deepethogram import write_deepethogram
    from ethoprism.outputs.tables import output_stems, write_bouts_boris

    bouts = project.bouts_table()
    if fmt == "bouts":
        return Response(
            bouts.to_csv(index=False),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="labels.csv"'},
        )
    if fmt not in ("boris", "deepethogram", "nwb"):
        raise HTTPException(404, "export formats: bouts, boris, deepethogram, nwb")
    if fmt == "nwb" and project.head_path is None:
        raise HTTPException(409, "train a head first: the NWB file holds its predictions")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, _scratch() as folder:
        arrays = project.label_arrays()  # per animal: one per (video, animal)
        stems = output_stems(sorted({label.video for label in arrays}))  # clip.mp4 and clip.avi both kept
        for label in arrays:
            if fmt != "deepethogram":
                continue
            # DeepEthogram has no animals: one file per animal
            path = folder / f"{stems[label.video]}{'_' + label.subject if label.subject else ''}_labels.csv"
            write_deepethogram(label, path)
            archive.write(path, path.name)
        for video in stems if fmt == "boris" else []:  # the animals are the BORIS Subjects
            path = folder / f"{stems[video]}.boris.tsv"
            entry = project.entries[video]
            write_bouts_boris(bouts[bouts.video == video], entry.timestamps(), entry.fps, path, video)
            archive.write(path, path.name)
        if fmt == "nwb":
            from ethoprism.workflows.classify import export_nwb

            labels = folder / "labels.csv"
            bouts.to_csv(labels, index=False)
            for path in export_nwb(
                project.store.root, project.head_path, folder / "nwb", labels if len(bouts) else None
            ):
                archive.write(path, path.name)
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{fmt}.zip"'},
    )


class _scratch:
    def __enter__(self) -> Path:
        import tempfile

        self.folder = tempfile.TemporaryDirectory()
        return Path(self.folder.name)

    def __exit__(self, *exc):
        self.folder.cleanup()


def serve(
    project: Project,
    host: str = "127.0.0.1",
    port: int | None = None,
    token: str | None = None,
    announce=print,
):
    import socket

    import uvicorn

    token = token or secrets.token_urlsafe(24)
    # bind here, before announcing: a port in use or not ours is one line, not a uvicorn traceback
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port or 0))
    except (OSError, OverflowError) as exc:
        listener.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise EthoprismError(f"cannot serve on {host}:{port or 'a free port'}: {reason}") from None
    port = listener.getsockname()[1]
    announce(f"http://{host}:{port}/?token={token}")
    config = uvicorn.Config(create_app(project, token), log_level="warning")
    uvicorn.Server(config).run(sockets=[listener])
    return os.EX_OK
