"""Load through a Service of the local cluster's real node, from loopback: what the rollout tests and
`make bench-cluster` share.

`ServiceForwarder` listens on a loopback port and, for each new connection, picks one ready endpoint of a Service's
EndpointSlices (re-read every 200 ms through `kubectl proxy`) and connects to that pod's address on the node's
bridge (10.88.0.0/16). Why not the ClusterIP: it is a virtual 10.96.x.x address, and traffic may go only to
loopback or to the pods' own addresses; kube-proxy programs exactly these endpoints into iptables, so the pods a
connection can reach, and when a terminating one stops being picked, are what a client of the Service sees. Why not
`kubectl port-forward`: it pins one pod, which a rollout deletes.

`Load` sends V2 inferences through it from a few threads, one new connection per request (so every request is
routed afresh, as through kube-proxy), at a bounded rate for a bounded time, and counts what failed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tools.cluster.layout import binary
from tools.cluster.processes import stop_child

# Every wait and every load here ends by itself.
PROXY_START_TIMEOUT = 15
REFRESH_SECONDS = 0.2
MAX_LOAD_SECONDS = 180
MAX_RATE = 400


class KubeProxy:
    """`kubectl proxy` on a free loopback port: the API server over plain HTTP for cheap, frequent reads."""

    def __init__(self, kubeconfig: Path):
        self.process = subprocess.Popen(
            [str(binary("kubectl")), f"--kubeconfig={kubeconfig}", "proxy", "--address=127.0.0.1", "--port=0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "Starting to serve on 127.0.0.1:NNNNN"
        if "Starting to serve on" not in line:
            self.close()
            raise RuntimeError(f"kubectl proxy did not start: {line.strip()}")
        self.client = httpx.Client(base_url=f"http://{line.split()[-1]}", timeout=5)

    def get(self, path: str, **params: str) -> Any:
        return self.client.get(path, params=params).raise_for_status().json()

    def close(self) -> None:
        if hasattr(self, "client"):
            self.client.close()
        stop_child(self.process)


@dataclass
class Endpoint:
    """One ready endpoint of the Service: the pod's bridge address and port, and the pod's name."""

    ip: str
    port: int
    pod: str


def ready_endpoints(proxy: KubeProxy, namespace: str, service: str) -> list[Endpoint]:
    """The Service's endpoints that are ready (serving and not terminating), as kube-proxy routes to them."""
    slices = proxy.get(
        f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
        labelSelector=f"kubernetes.io/service-name={service}",
    )["items"]
    found: list[Endpoint] = []
    for piece in slices:
        port = next((p["port"] for p in piece.get("ports") or [] if p.get("port")), None)
        for endpoint in piece.get("endpoints") or []:
            if port is None or not endpoint.get("conditions", {}).get("ready"):
                continue
            pod = (endpoint.get("targetRef") or {}).get("name", "")
            found.extend(Endpoint(address, port, pod) for address in endpoint["addresses"])
    return sorted(found, key=lambda e: e.ip)


class ServiceForwarder:
    """A loopback TCP port that forwards each new connection to one ready endpoint of a Service (round robin)."""

    def __init__(self, kubeconfig: Path, namespace: str, service: str):
        self.namespace, self.service = namespace, service
        self.proxy = KubeProxy(kubeconfig)
        self.endpoints: list[Endpoint] = []
        self.observers: list[Callable[[float, list[Endpoint]], None]] = []
        self._turn = itertools.count()
        self._stop = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0
        self._refresh()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()
        self._server_thread = threading.Thread(target=self._serve, daemon=True)
        self._server_thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the loopback forwarder did not start")
        self.url = f"http://127.0.0.1:{self.port}"

    def _refresh(self) -> None:
        endpoints = ready_endpoints(self.proxy, self.namespace, self.service)
        self.endpoints = endpoints
        now = time.monotonic()
        for observe in list(self.observers):
            observe(now, endpoints)

    def _watch(self) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            try:
                self._refresh()
            except (httpx.HTTPError, ValueError):
                continue  # a slow API read: keep the last list, as kube-proxy keeps its rules

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> asyncio.Server:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512)
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            return server

        server = self._loop.run_until_complete(start())
        self._loop.run_forever()
        # Stopped: close the listener and every open connection before the loop goes away.
        server.close()
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        endpoints = self.endpoints
        if not endpoints:
            writer.close()
            return
        target = endpoints[next(self._turn) % len(endpoints)]
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(target.ip, target.port), timeout=5
            )
        except (TimeoutError, OSError):
            writer.close()  # as a rule to a dead pod would: the client sees the connection fail
            return

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                sink.close()

        try:
            await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        except asyncio.CancelledError:
            pass  # the forwarder is closing; ending normally spares asyncio's stream callback a cancelled task

    def close(self) -> None:
        self._stop.set()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._server_thread.join(10)
        self._watcher.join(10)
        self.proxy.close()

    def __enter__(self) -> ServiceForwarder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def example_rows(count: int) -> np.ndarray:
    """Rows of the breast-cancer data set (bundled with scikit-learn: no download)."""
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer().data[:count].astype(np.float32)


def infer_body(rows: np.ndarray, input_name: str = "input", datatype: str = "FP32") -> dict[str, Any]:
    return {
        "inputs": [{"name": input_name, "shape": list(rows.shape), "datatype": datatype, "data": rows.ravel().tolist()}]
    }


@dataclass
class LoadResult:
    """What a bounded load sent and how it went."""

    seconds: float = 0.0
    ok: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)  # the first few, for the assertion message
    versions: dict[str, int] = field(default_factory=dict)  # successful responses by the model version that served

    @property
    def sent(self) -> int:
        return self.ok + self.failed

    @property
    def success_rate(self) -> float:
        return self.ok / self.sent if self.sent else 0.0


class Load:
    """V2 inferences to `url` from `workers` threads at most `rate` per second in all, until `stop()` or
    `max_seconds`; one new connection per request."""

    def __init__(
        self,
        url: str,
        model: str,
        body: dict[str, Any],
        *,
        workers: int = 4,
        rate: float = 100,
        max_seconds: float = 60,
    ):
        self.url, self.path, self.body = url, f"/v2/models/{model}/infer", json.dumps(body).encode()
        self.workers, self.interval = workers, workers / min(rate, MAX_RATE)
        self.max_seconds = min(max_seconds, MAX_LOAD_SECONDS)
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def _record(self, ok: bool, detail: str, version: str = "") -> None:
        with self._lock:
            if ok:
                self.result.ok += 1
                self.result.versions[version] = self.result.versions.get(version, 0) + 1
            else:
                self.result.failed += 1
                if len(self.result.failures) < 10:
                    self.result.failures.append(detail)

    def _work(self) -> None:
        deadline = self._started + self.max_seconds
        headers = {"content-type": "application/json", "connection": "close"}
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=self.url, timeout=10, limits=limits) as client:
            next_at = time.monotonic()
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    response = client.post(self.path, content=self.body, headers=headers)
                    if response.status_code == 200:
                        self._record(True, "", response.json().get("model_version", ""))
                    else:
                        self._record(False, f"HTTP {response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as error:
                    self._record(False, f"{type(error).__name__}: {error}")
                next_at += self.interval
                pause = next_at - time.monotonic()
                if pause > 0:
                    self._stop.wait(pause)
                else:
                    next_at = time.monotonic()  # behind: no burst to catch up

    def start(self) -> Load:
        self._started = time.monotonic()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
        self.result.seconds = round(time.monotonic() - self._started, 1)
        return self.result

    def snapshot(self) -> tuple[int, int]:
        """(ok, failed) so far."""
        with self._lock:
            return self.result.ok, self.result.failed
