"""Server settings, read once from environment variables into a typed, validated object.

Each field of `Settings` is one variable, and its default is the variable's default (docs/model-server.md
has the table). A bad value stops the server with one line naming the variable, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from model_server.cpu import available_cpus
from model_server.manifest import ManifestError, read_manifest

# The image puts the package at /app/model_server and the model at /app/artifacts, so the default model path is
# found next to the package: /app/artifacts/breast-cancer.onnx in the image, model/artifacts/... in a checkout.
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "artifacts" / "breast-cancer.onnx"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class SettingsError(ValueError):
    """A bad environment variable; the message names it and says what was expected."""


@dataclass(frozen=True)
class Settings:
    """Everything the server is configured with; the defaults are those of the environment variables."""

    port: int = 8080  # PORT: TCP port to listen on
    host: str | None = None  # HOST: address to listen on; None: every IPv4 and IPv6 address
    # MODEL_NAME, MODEL_VERSION: the model's name and version in URLs and responses (with MODEL_DIR, unset: the
    # manifest's)
    model_name: str = "breast-cancer"
    model_version: str = "1"
    model_path: Path = DEFAULT_MODEL_PATH  # MODEL_PATH: the ONNX file (with MODEL_DIR: the manifest's graph in it)
    model_dir: Path | None = None  # MODEL_DIR: a model artifact directory (manifest.json), instead of MODEL_PATH
    log_level: str = "info"  # LOG_LEVEL: one of LOG_LEVELS
    max_request_rows: int = 1024  # MAX_REQUEST_ROWS: most rows (first dimension) one infer request may carry
    max_body_bytes: int = 2 * 1024 * 1024  # MAX_BODY_BYTES: larger bodies get 413 before being read
    model_threads: int = 1  # MODEL_THREADS: ONNX Runtime intra-op threads (from the environment: the CPUs granted)
    batch_max_rows: int = 64  # BATCH_MAX_ROWS: merge concurrent requests up to this many rows; 0 disables
    shutdown_timeout_seconds: int = 20  # SHUTDOWN_TIMEOUT_SECONDS: how long in-flight requests may run after SIGTERM


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


def _name(env: Mapping[str, str], key: str, default: str, default_from: str = "") -> str:
    raw = env.get(key, "").strip()
    value = raw or default
    # Names and versions appear as URL path segments.
    if "/" in value or any(ch.isspace() for ch in value):
        where = f"{key} (unset, so {default_from})" if default_from and not raw else key
        raise SettingsError(f"{where}={value!r}: expected a name without '/' or spaces")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from environment variables (default: `os.environ`); raise `SettingsError` on a bad value."""
    env = os.environ if env is None else env
    default = Settings()
    log_level = env.get("LOG_LEVEL", "").strip().lower() or default.log_level
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL={log_level!r}: expected one of {', '.join(LOG_LEVELS)}")
    model_path = env.get("MODEL_PATH", "").strip()
    model_dir = env.get("MODEL_DIR", "").strip()
    name, version, name_from = default.model_name, default.model_version, ""
    if model_dir and model_path:
        raise SettingsError(
            f"MODEL_DIR={model_dir!r} and MODEL_PATH={model_path!r} are both set; set one: MODEL_DIR, a model "
            "directory with manifest.json, or MODEL_PATH, one .onnx file"
        )
    if model_dir:
        # Only the manifest is read here; main() checks every file's checksum before the server listens.
        try:
            manifest = read_manifest(Path(model_dir))
        except ManifestError as error:
            raise SettingsError(f"MODEL_DIR={model_dir!r}: {error}") from None
        name, version, name_from = manifest.name, manifest.version, "from MODEL_DIR's manifest.json"
        model_path = str(Path(model_dir) / manifest.graph)
    return Settings(
        port=_int(env, "PORT", default.port, 1, 65535),
        host=env.get("HOST", "").strip().strip("[]") or default.host,  # "[::1]" as in a URL is "::1"
        model_name=_name(env, "MODEL_NAME", name, name_from),
        model_version=_name(env, "MODEL_VERSION", version, name_from),
        model_path=Path(model_path) if model_path else default.model_path,
        model_dir=Path(model_dir) if model_dir else None,
        log_level=log_level,
        max_request_rows=_int(env, "MAX_REQUEST_ROWS", default.max_request_rows, 1),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", default.max_body_bytes, 1024),
        model_threads=_int(env, "MODEL_THREADS", available_cpus(), 1, 1024),
        batch_max_rows=_int(env, "BATCH_MAX_ROWS", default.batch_max_rows, 0),
        shutdown_timeout_seconds=_int(env, "SHUTDOWN_TIMEOUT_SECONDS", default.shutdown_timeout_seconds, 0, 3600),
    )
