"""Server settings, read once from environment variables into a typed, validated object.

Every variable, its default and its meaning is listed in `ENVIRONMENT` (the README's model server section shows the same table).
A bad value stops the server with one line naming the variable, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from model_server.cpu import available_cpus

# The image puts the package at /app/model_server and the model at /app/artifacts, so the default model path is
# found next to the package: /app/artifacts/breast-cancer.onnx in the image, model/artifacts/... in a checkout.
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "artifacts" / "breast-cancer.onnx"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

ENVIRONMENT: dict[str, tuple[str, str]] = {
    "PORT": ("8080", "TCP port to listen on"),
    "HOST": ("0.0.0.0", "address to listen on"),
    "MODEL_NAME": ("breast-cancer", "the model's name in URLs and responses"),
    "MODEL_VERSION": ("1", "the model's version in URLs and responses"),
    "MODEL_PATH": ("/app/artifacts/breast-cancer.onnx", "the ONNX file (default: artifacts/ beside the package)"),
    "LOG_LEVEL": ("info", "one of debug, info, warning, error, critical"),
    "MAX_REQUEST_ROWS": ("1024", "most rows (first dimension) one infer request may carry"),
    "MAX_BODY_BYTES": ("2097152", "largest request body in bytes; larger ones get 413 before being read"),
    "MODEL_THREADS": ("CPUs granted", "ONNX Runtime intra-op threads; default: the cgroup CPU quota/affinity"),
    "BATCH_MAX_ROWS": ("64", "merge concurrent requests into one model call up to this many rows; 0 disables"),
    "SHUTDOWN_TIMEOUT_SECONDS": ("20", "on SIGTERM, how long in-flight requests may take before being cancelled"),
}


class SettingsError(ValueError):
    """A bad environment variable; the message names it and says what was expected."""


@dataclass(frozen=True)
class Settings:
    """Everything the server is configured with (see `ENVIRONMENT` for meanings and defaults)."""

    port: int = 8080
    host: str = "0.0.0.0"
    model_name: str = "breast-cancer"
    model_version: str = "1"
    model_path: Path = DEFAULT_MODEL_PATH
    log_level: str = "info"
    max_request_rows: int = 1024
    max_body_bytes: int = 2 * 1024 * 1024
    model_threads: int = 1
    batch_max_rows: int = 64
    shutdown_timeout_seconds: int = 20


def _int(env: Mapping[str, str], key: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{key}={raw!r}: expected an integer") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise SettingsError(f"{key}={raw!r}: expected an integer {bounds}")
    return value


def _name(env: Mapping[str, str], key: str, default: str) -> str:
    value = env.get(key, "").strip() or default
    # Names and versions appear as URL path segments.
    if "/" in value or any(ch.isspace() for ch in value):
        raise SettingsError(f"{key}={value!r}: expected a name without '/' or spaces")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from environment variables (default: `os.environ`); raise `SettingsError` on a bad value."""
    env = os.environ if env is None else env
    log_level = env.get("LOG_LEVEL", "").strip().lower() or "info"
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL={log_level!r}: expected one of {', '.join(LOG_LEVELS)}")
    model_path = env.get("MODEL_PATH", "").strip()
    return Settings(
        port=_int(env, "PORT", 8080, 1, 65535),
        host=env.get("HOST", "").strip() or "0.0.0.0",
        model_name=_name(env, "MODEL_NAME", "breast-cancer"),
        model_version=_name(env, "MODEL_VERSION", "1"),
        model_path=Path(model_path) if model_path else DEFAULT_MODEL_PATH,
        log_level=log_level,
        max_request_rows=_int(env, "MAX_REQUEST_ROWS", 1024, 1),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 2 * 1024 * 1024, 1024),
        model_threads=_int(env, "MODEL_THREADS", available_cpus(), 1, 1024),
        batch_max_rows=_int(env, "BATCH_MAX_ROWS", 64, 0),
        shutdown_timeout_seconds=_int(env, "SHUTDOWN_TIMEOUT_SECONDS", 20, 0, 3600),
    )
