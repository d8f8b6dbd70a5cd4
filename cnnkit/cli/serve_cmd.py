"""``cnnkit serve``: the local web app (draw a digit, edit a kernel) in the browser."""

from typing import Annotated, Optional

import typer

from cnnkit.cli import common
from cnnkit.cli.root import app
from cnnkit.cli.model_opts import DIGITS, ModelOption, resolve_model

HINT = "cnnkit serve needs the serve extra: pip install 'cnnkit[serve]'"


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command("serve", rich_help_panel=DIGITS)
def serve_command(
    model: ModelOption = None,
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535,
                                      help="Port to listen on (0: a free one).")] = 0,
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on. Anything but loopback lets other machines in "
        "(there is no login).")] = "127.0.0.1",
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in the browser.")
                            ] = False,
    max_pixels: Annotated[int, typer.Option(
        "--max-pixels", min=1, help="Refuse dropped pictures with more pixels.")
    ] = 40_000_000,
    threads: Annotated[Optional[int], typer.Option(
        "--threads", min=1, help="Numba threads (default: all cores).", show_default=False)
    ] = None,
) -> None:
    """Open a local page: draw a digit and watch the CNN, edit a kernel and watch the picture.

    Binds to 127.0.0.1 on a free port and prints the URL; Ctrl-C stops it.
    [dim]Example:[/] cnnkit serve --open
    """
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        raise common.fail(HINT) from None
    path = resolve_model(model)
    loopback = is_loopback(host)
    with common.user_errors():
        import socket

        from cnnkit.ops._jit import set_threads
        from cnnkit.serve.app import create_app, warm_up

        set_threads(threads)
        ipv4 = "." in host or host.lower() == "localhost" or not host
        # the Host names a loopback page may use; Starlette's check cannot parse IPv6 hosts
        hosts = [host, "127.0.0.1", "localhost"] if loopback and ipv4 else ["*"]
        application = create_app(path, trusted_hosts=hosts, max_pixels=max_pixels)
        sock = socket.socket(socket.AF_INET if ipv4 else socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            sock.close()
            raise common.fail(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        sock.listen(64)
        warm_up(application)
    bound = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"http://{shown}:{bound}/"
    if not loopback:
        common.err.print(f"[bold yellow]warning:[/] listening on {common.escape(host)}: anyone "
                         f"who can reach this machine can use the page (there is no login)")
    common.out.print(common.escape(f"cnnkit serve: {url}  (model {path.name}; Ctrl-C stops)"))
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(application, log_level="warning", access_log=False,
                            lifespan="off", timeout_graceful_shutdown=2)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
