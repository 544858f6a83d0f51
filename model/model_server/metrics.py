"""Prometheus metrics: requests by endpoint and status, a latency histogram, in-flight requests, model info.

The metrics live in their own registry (not the process-global one), so a test can build several servers.
Labelled children are cached: looking them up through `.labels()` on every request would cost more than the rest
of the bookkeeping.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# Sub-millisecond buckets: a single-row prediction takes well under a millisecond.
# The *_created series double the output and say nothing a scraper needs.
disable_created_metrics()

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The server's Prometheus metrics."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, model_name: str, model_version: str, platform: str, path: str):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "model_server_requests",
            "HTTP requests handled, by endpoint and status code.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "model_server_request_duration_seconds",
            "Time from receiving a request to sending its response, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "model_server_requests_in_flight", "HTTP requests being handled now.", registry=self.registry
        )
        self.inference_rows = Counter(
            "model_server_inference_rows", "Rows predicted in successful infer requests.", registry=self.registry
        )
        self.model_ready = Gauge(
            "model_server_model_ready", "1 once the model is loaded and warmed up, else 0.", registry=self.registry
        )
        info = Gauge(
            "model_server_model_info",
            "The model this server serves (always 1).",
            ["name", "version", "platform", "path"],
            registry=self.registry,
        )
        info.labels(model_name, model_version, platform, path).set(1)
        self._requests: dict[tuple[str, int], object] = {}
        self._latency: dict[str, object] = {}

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one finished request and record its latency."""
        counter = self._requests.get((endpoint, status))
        if counter is None:
            counter = self._requests[(endpoint, status)] = self.requests.labels(endpoint, str(status))
        counter.inc()
        histogram = self._latency.get(endpoint)
        if histogram is None:
            histogram = self._latency[endpoint] = self.latency.labels(endpoint)
        histogram.observe(seconds)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
