"""`make bench`: our model server against MLServer, the server pinned to one core and wrk to the other.

Targets: (a) our server's infer endpoint, (b) MLServer 1.7 (mlserver-sklearn, the same model saved with joblib)
with default settings and (c) with adaptive batching, and (d) our cheapest endpoint, GET /v2/health/live: the
floor of our HTTP stack. Each at concurrency 1, 8 and 32 with single-row requests; then the ratios and our
process start-to-ready time. Results also go to build/bench/results.json.

    python bench/run.py [--duration 5] [--mlserver .venv-bench/bin/mlserver] [--skip-mlserver]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build" / "bench"
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk.lua"
CONCURRENCY = (1, 8, 32)
SERVER_CPU, LOAD_CPU = "0", "1"
# One row of the breast-cancer data set (the first sample).
ROW = [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095, 0.9053, 8.589, 153.4,
       0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38, 17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119,
       0.2654, 0.4601, 0.1189]  # fmt: skip


@dataclass
class Result:
    """One wrk run."""

    target: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(port: int, path: str) -> int | None:
    """The status of GET path, or None when nothing answers."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", path)
        status = connection.getresponse().status
        connection.close()
        return status
    except OSError:
        return None


def wait_until_ready(port: int, path: str, process: subprocess.Popen, timeout: float) -> float:
    """Poll until path answers 200; return the seconds since the process was started."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"bench: the server exited with {process.returncode} before becoming ready")
        if http_status(port, path) == 200:
            return time.monotonic() - started
        time.sleep(0.002)
    raise SystemExit(f"bench: the server was not ready on {path} within {timeout}s")


def start(command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    """Start a server pinned to the server core, in its own process group (MLServer starts workers)."""
    return subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, *command],
        env={**os.environ, **env},
        cwd=cwd,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def run_wrk(url: str, concurrency: int, duration: int, body_file: Path | None) -> dict:
    env = {**os.environ}
    env.pop("BENCH_BODY_FILE", None)
    if body_file is not None:
        env["BENCH_BODY_FILE"] = str(body_file)
    command = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{concurrency}", f"-d{duration}s", "-s", str(WRK_SCRIPT)]
    output = subprocess.run([*command, url], env=env, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    return json.loads(line[len("BENCH ") :])


def measure(target: str, url: str, body_file: Path | None, duration: int) -> list[Result]:
    run_wrk(url, 8, 1, body_file)  # warm-up: connections, caches, lazy initialisation
    results = []
    for concurrency in CONCURRENCY:
        numbers = run_wrk(url, concurrency, duration, body_file)
        result = Result(
            target=target,
            concurrency=concurrency,
            rps=numbers["requests"] / (numbers["duration_us"] / 1e6),
            p50_ms=numbers["p50_us"] / 1000,
            p99_ms=numbers["p99_us"] / 1000,
            errors=numbers["socket_errors"] + numbers["non_2xx"],
        )
        print(f"  {target:<28} c={concurrency:<3} {result.rps:9.0f} req/s  p99 {result.p99_ms:7.2f} ms", flush=True)
        results.append(result)
    return results


def bench_ours(duration: int, starts: int) -> tuple[list[Result], list[float]]:
    """Our server: start-to-ready (several starts), then infer and the HTTP floor."""
    body = BUILD / "ours.json"
    body.write_text(json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 30], "data": ROW}]}))
    env = {"PYTHONPATH": str(REPO / "model"), "PYTHONDONTWRITEBYTECODE": "1", "LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "model_server"]
    start_times = []
    for attempt in range(starts):
        port = free_port()
        process = start(command, {**env, "PORT": str(port)}, BUILD / "ours.log")
        try:
            start_times.append(wait_until_ready(port, "/v2/health/ready", process, timeout=30))
        finally:
            if attempt < starts - 1:
                stop(process)
    try:
        results = measure("ours: infer", f"http://127.0.0.1:{port}/v2/models/breast-cancer/infer", body, duration)
        results += measure("ours: floor (GET live)", f"http://127.0.0.1:{port}/v2/health/live", None, duration)
    finally:
        stop(process)
    return results, start_times


def bench_mlserver(mlserver: Path, duration: int, adaptive: bool) -> list[Result]:
    """MLServer with mlserver-sklearn on the same model (joblib), default settings or adaptive batching."""
    repository = BUILD / ("mlserver-adaptive" if adaptive else "mlserver-default")
    model_dir = repository / "breast-cancer"
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib_file = BUILD / "breast-cancer.joblib"
    if not joblib_file.exists():
        subprocess.run([str(mlserver.parent / "python"), str(REPO / "bench" / "train_joblib.py"), str(joblib_file)],
                       check=True)  # fmt: skip
    shutil.copy(joblib_file, model_dir / "model.joblib")
    (model_dir / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "breast-cancer",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib", "version": "1"},
            }
        )
    )
    port = free_port()
    (repository / "settings.json").write_text(
        json.dumps({"http_port": port, "grpc_port": free_port(), "metrics_port": free_port()})
    )
    # Adaptive batching, as MLServer documents it: the model's max_batch_size and max_batch_time (seconds).
    env = {"MLSERVER_MODEL_MAX_BATCH_SIZE": "32", "MLSERVER_MODEL_MAX_BATCH_TIME": "0.002"} if adaptive else {}
    body = BUILD / "mlserver.json"
    body.write_text(json.dumps({"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, 30], "data": ROW}]}))
    name = "MLServer adaptive batching" if adaptive else "MLServer default"
    process = start([str(mlserver), "start", "."], env, BUILD / f"{repository.name}.log", cwd=repository)
    try:
        wait_until_ready(port, "/v2/models/breast-cancer/ready", process, timeout=120)
        return measure(name, f"http://127.0.0.1:{port}/v2/models/breast-cancer/infer", body, duration)
    finally:
        stop(process)


def report(results: list[Result], start_times: list[float]) -> list[str]:
    """The table, the ratios and the targets, as printed lines."""
    by = {(r.target, r.concurrency): r for r in results}
    lines = [
        "",
        f"{'target':<28} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}",
        "-" * 68,
    ]
    for r in results:
        lines.append(f"{r.target:<28} {r.concurrency:>4} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>6}")
    lines += ["", "ratios (ours: infer against ...)"]
    for c in CONCURRENCY:
        ours, floor = by[("ours: infer", c)], by[("ours: floor (GET live)", c)]
        parts = [f"c={c:<3} floor {ours.rps / floor.rps:5.2f}x"]
        for peer in ("MLServer default", "MLServer adaptive batching"):
            if (peer, c) in by:
                other = by[(peer, c)]
                parts.append(
                    f"{peer} {ours.rps / other.rps:6.1f}x req/s, p99 {ours.p99_ms:.2f} vs {other.p99_ms:.2f} ms"
                )
        lines.append("  " + "; ".join(parts))
    median_start = statistics.median(start_times)
    each = ", ".join(f"{t * 1000:.0f}" for t in start_times)
    lines += ["", f"start to ready: median {median_start * 1000:.0f} ms of {len(start_times)} starts ({each} ms)"]
    ours, floor = by[("ours: infer", 8)], by[("ours: floor (GET live)", 8)]
    checks = [
        (f"ours >= 0.8x our HTTP floor at c=8 ({ours.rps / floor.rps:.2f}x)", ours.rps >= 0.8 * floor.rps),
        (f"start to ready < 1 s ({median_start:.3f} s)", median_start < 1.0),
    ]
    default = by.get(("MLServer default", 8))
    if default:
        checks.insert(0, (f"ours >= 30x MLServer default req/s at c=8 ({ours.rps / default.rps:.0f}x)",
                          ours.rps >= 30 * default.rps))  # fmt: skip
        checks.insert(1, (f"ours p99 < MLServer default p99 at c=8 ({ours.p99_ms:.2f} vs {default.p99_ms:.2f} ms)",
                          ours.p99_ms < default.p99_ms))  # fmt: skip
    lines += ["", "targets:"] + [f"  [{'PASS' if ok else 'MISS'}] {text}" for text, ok in checks]
    errors = sum(r.errors for r in results)
    if errors:
        lines.append(f"  note: {errors} requests failed (socket errors or non-2xx); see build/bench/*.log")
    return lines


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (wrk cannot run 0 s, and the bench needs a started server)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=positive_int, default=5, help="seconds per measurement (default 5)")
    parser.add_argument(
        "--starts", type=positive_int, default=5, help="server starts timed for start-to-ready (default 5)"
    )
    parser.add_argument("--mlserver", type=Path, default=REPO / ".venv-bench" / "bin" / "mlserver")
    parser.add_argument("--skip-mlserver", action="store_true", help="only our server (no peer comparison)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    if len(os.sched_getaffinity(0)) < 2:
        print("bench: needs two CPUs (one for the server, one for wrk)", file=sys.stderr)
        return 2
    if not args.skip_mlserver and not args.mlserver.exists():
        print(f"bench: {args.mlserver} not found (make bench creates .venv-bench)", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {int(LOAD_CPU)})  # this driver stays off the server's core too
    BUILD.mkdir(parents=True, exist_ok=True)
    print(f"bench: server on CPU {SERVER_CPU}, wrk on CPU {LOAD_CPU}, {args.duration:g} s per point", flush=True)
    results, start_times = bench_ours(args.duration, args.starts)
    if not args.skip_mlserver:
        results += bench_mlserver(args.mlserver, args.duration, adaptive=False)
        results += bench_mlserver(args.mlserver, args.duration, adaptive=True)
    lines = report(results, start_times)
    print("\n".join(lines))
    (BUILD / "results.json").write_text(
        json.dumps({"results": [asdict(r) for r in results], "start_to_ready_s": start_times}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
