"""The Starlette application: pages, static files and the JSON API the pages call.

Every route is thin: it decodes the request, runs the library call in a worker thread (so the
event loop keeps answering while the CPU works), and encodes the answer. A user's mistake
(a corrupt picture, a bad kernel cell) is answered with ``{"error": "..."}`` and a 4xx code
the page shows; an unexpected failure is logged and answered with a 500, and the server
carries on.
"""

from __future__ import annotations

import json
import logging
import sys
from importlib.resources import files
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cnnkit.errors import CnnkitError
from cnnkit.serve import explain_api, uploads
from cnnkit.serve.kernel_lab import (
    PictureStore,
    bank,
    describe_held,
    learned_filters,
    named_kernel,
    run_filter,
)
from cnnkit.serve.look import DigitLab
from cnnkit.serve.uploads import UploadError

log = logging.getLogger("cnnkit.serve")
MAX_JSON = 64 * 1024
LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]
# Only what the package ships: no CDN, no inline script, no request leaves the machine.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "style-src 'self'; script-src 'self'; connect-src 'self'; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml",
                ".png": "image/png"}


def _static_files() -> dict[str, tuple[bytes, str]]:
    """Every file the pages use, read once: the only files any request can get."""
    folder = files("cnnkit.serve") / "static"
    table = {}
    for item in folder.iterdir():
        suffix = Path(item.name).suffix
        if item.is_file() and suffix in STATIC_TYPES:
            table[item.name] = (item.read_bytes(), STATIC_TYPES[suffix])
    return table


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=SECURITY_HEADERS)


def _ok(payload) -> JSONResponse:
    return JSONResponse(payload, headers=SECURITY_HEADERS)


def api(handler):
    """Wrap a route: CnnkitError -> its message and a 4xx; anything else -> logged, 500."""

    async def route(request: Request):
        try:
            return await handler(request)
        except UploadError as exc:
            return _error(str(exc), exc.status)
        except CnnkitError as exc:
            return _error(str(exc), 422)
        except Exception as exc:  # a bug: say so, keep serving
            log.exception("error while answering %s %s", request.method, request.url.path)
            return _error(f"internal error ({type(exc).__name__}); the server is still running",
                          500)

    route.__name__ = handler.__name__
    return route


async def _json(request: Request) -> dict:
    try:
        body = await uploads.read_body(request, MAX_JSON)
    except UploadError as exc:
        if exc.status == 400:  # empty
            raise UploadError("the request has no JSON body") from None
        raise
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UploadError("the request is not valid JSON") from None
    if not isinstance(payload, dict):
        raise UploadError("the request must be a JSON object")
    return payload


def create_app(model: Path, *, trusted_hosts: list[str] | None = None,
               max_pixels: int = uploads.MAX_PIXELS, max_bytes: int = uploads.MAX_BYTES
               ) -> Starlette:
    """The web app for one model file.

    trusted_hosts : Host header values accepted (default: the loopback names), which stops a
        web page elsewhere from reaching this server through DNS rebinding; ``["*"]`` accepts
        any (for ``--host``).
    Raises CnnkitError when the model cannot be loaded or is not a 28x28 digit model.
    """
    from threadpoolctl import threadpool_limits

    lab = DigitLab(model)
    store = PictureStore()
    learned = learned_filters(lab.model)
    static = _static_files()

    def page(name: str):
        async def serve_page(request: Request):
            body, kind = static[name]
            return Response(body, media_type=kind, headers=SECURITY_HEADERS)

        return serve_page

    async def static_file(request: Request):
        found = static.get(request.path_params["name"])
        if found is None:
            return _error("no such file", 404)
        return Response(found[0], media_type=found[1], headers=SECURITY_HEADERS)

    @api
    async def info(request: Request):
        from cnnkit.viz import colormaps

        def hexes(table):
            return ["#%02x%02x%02x" % tuple(int(v) for v in row) for row in table]

        return _ok({**lab.describe(), "samples": store.samples(), "kernels": bank(),
                    "learned": list(learned),
                    "max_bytes": max_bytes, "max_pixels": max_pixels,
                    "colormaps": {"sequential": hexes(colormaps.SEQUENTIAL),
                                  "diverging": hexes(colormaps.DIVERGING)}})

    @api
    async def look(request: Request):
        body = await uploads.read_body(request, max_bytes)

        stages = request.query_params.get("stages") == "1"

        def work():
            return lab.look(uploads.decode(body, max_pixels, grey=True), stages)

        return _ok(await run_in_threadpool(work))

    @api
    async def kernel(request: Request):
        return _ok(await run_in_threadpool(named_kernel, request.path_params["name"], learned))

    @api
    async def add_picture(request: Request):
        body = await uploads.read_body(request, max_bytes)
        title = request.headers.get("x-filename", "your picture")[:80]

        def work():
            token, held = store.add(uploads.decode(body, max_pixels), title)
            return describe_held(token, held)

        return _ok(await run_in_threadpool(work))

    @api
    async def picture(request: Request):
        from cnnkit.serve.kernel_lab import picture_png

        held = store.get(request.path_params["name"])
        png = await run_in_threadpool(picture_png, held)
        return Response(png, media_type="image/png", headers=SECURITY_HEADERS)

    @api
    async def picture_info(request: Request):
        name = request.path_params["name"]
        return _ok(describe_held(name, store.get(name)))

    @api
    async def filter_picture(request: Request):
        payload = await _json(request)
        held = store.get(str(payload.get("picture", "")))
        return _ok(await run_in_threadpool(run_filter, held, payload, learned))

    @api
    async def explain(request: Request):
        payload = await _json(request) if request.method == "POST" else {
            "kind": request.query_params.get("kind", "conv")}
        return _ok(await run_in_threadpool(explain_api.walkthrough, payload))

    routes = [
        Route("/", page("draw.html")),
        Route("/kernels", page("kernels.html")),
        Route("/static/{name}", static_file),
        Route("/api/info", info),
        Route("/api/look", look, methods=["POST"]),
        Route("/api/kernels/{name:path}", kernel),  # a lookup key ("model:conv2d/7"), no file
        Route("/api/pictures", add_picture, methods=["POST"]),
        Route("/api/pictures/{name}.png", picture),
        Route("/api/pictures/{name}", picture_info),
        Route("/api/filter", filter_picture, methods=["POST"]),
        Route("/api/explain", explain, methods=["GET", "POST"]),
    ]
    hosts = trusted_hosts or LOOPBACK_HOSTS
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=hosts)]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.lab, app.state.store = lab, store
    # BLAS on one thread for the life of the server, as `cnnkit predict` does: OpenBLAS's
    # spinning workers starve Numba's (a look measured 2.9 ms median with them, 0.3 without)
    app.state.blas = threadpool_limits(1, user_api="blas")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("cnnkit serve: %(message)s"))
        log.addHandler(handler)
    return app


def warm_up(app: Starlette) -> None:
    """Run each computation once on a tiny input, so the first stroke is not the one that
    loads (or compiles) the kernels."""
    import numpy as np

    from cnnkit.imaging.io import Picture

    canvas = np.full((64, 64), 255, np.float32)
    canvas[16:48, 30:34] = 0
    app.state.lab.look(Picture(canvas, None, 255.0))
    held = app.state.store.get("squares")
    run_filter(held, {"kernel": {"name": "laplacian"}, "pool": True, "relu": True})
