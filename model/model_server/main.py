"""Wiring: settings from the environment, JSON logs, the ONNX model, the ASGI app, and uvicorn.

uvicorn (with httptools and uvloop) measured fastest of the servers compared on one core (docs/adr/0001-http-server.md).
It runs in this one process, with no worker processes: Kubernetes scales pods, not workers.

On SIGTERM or SIGINT uvicorn stops accepting connections, lets in-flight requests finish (at most
SHUTDOWN_TIMEOUT_SECONDS), and returns; the process then exits 0.

Exit statuses: 2 a bad setting, 3 the address cannot be bound, 4 MODEL_DIR's files do not match its manifest.
"""

from __future__ import annotations

import logging
import signal
import sys
import time

import uvicorn

from model_server.app import ModelServerApp
from model_server.listen import listen_address, listening_sockets
from model_server.logs import configure_logging
from model_server.manifest import ManifestError, verify
from model_server.onnx_model import OnnxModel
from model_server.settings import Settings, SettingsError, load_settings

logger = logging.getLogger("model_server")


def _ignore(_signum, _frame) -> None:
    """After draining, uvicorn re-raises the signal it caught under the previous handler: this one, so exit is 0."""


def verified(settings: Settings) -> bool:
    """True without MODEL_DIR, or when every file its manifest lists is there with its sha256; else log why, in
    one line.

    Checked before the server listens: a model delivered wrong (a file missing, altered, cut short) can never become
    ready, and no wait mends it, so the process exits at once, and loudly: in Kubernetes the container restarts
    and `kubectl logs --previous` shows the line. A model that loads badly, by contrast, stays up and answers 503
    with the reason (`app.ModelServerApp.load_model`). Hashing costs about 1 s per GB, before the startup probe's
    first success.
    """
    directory = settings.model_dir
    if directory is None:
        return True
    started = time.perf_counter()
    try:
        manifest = verify(directory)
    except ManifestError as error:
        logger.error(
            "model directory %s does not match its manifest, the server will not start: %s",
            directory,
            error,
            extra={"model": settings.model_name, "path": str(directory)},
        )
        return False
    logger.info(
        "model files verified",
        extra={
            "path": str(directory),
            "files": sorted(manifest.files),
            "verify_seconds": round(time.perf_counter() - started, 4),
        },
    )
    return True


def main() -> int:
    """Run the server until SIGTERM/SIGINT; return the process exit status."""
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"model-server: bad setting: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if not verified(settings):
        return 4
    model = OnnxModel(settings.model_path, threads=settings.model_threads)
    # uvicorn keeps one task per request being handled; the batcher does not wait for company when it is alone.
    app = ModelServerApp(model, settings, requests_in_progress=lambda: len(server.server_state.tasks))
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        interface="asgi3",
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,  # no client addresses are used (no access log): skip the middleware on every request
        date_header=False,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )
    try:
        sockets = listening_sockets(settings.host, settings.port, backlog=2048)
    except OSError as error:  # port taken, unknown or foreign address
        logger.error("cannot listen on %s: %s", listen_address(settings.host, settings.port), error.strerror or error)
        return 3
    logger.info(
        "starting",
        extra={
            "listen": listen_address(settings.host, settings.port),
            "model": settings.model_name,
            "path": str(settings.model_path),
        },
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _ignore)
    server = uvicorn.Server(config)
    server.run(sockets=sockets)
    logger.info("stopped")
    return 0
