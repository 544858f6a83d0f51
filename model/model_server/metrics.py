"""Prometheus metrics: requests by endpoint and status, a latency histogram, in-flight requests, model info.

Counting happens on every request, so it is plain Python arithmetic on the event loop's thread; the Prometheus
families are built only when /metrics is scraped (a custom collector, served from the same thread, so no locks).
prometheus_client's own Counter and Histogram take a lock and walk the buckets in Python on every observation,
which cost more than the rest of a health check.
"""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from model_server.batching import MicroBatcher

# Sub-millisecond buckets: a single-row prediction takes well under a millisecond.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The server's Prometheus metrics. Update them from the event loop's thread only."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, model_name: str, model_version: str, platform: str, path: str):
        self.in_flight = 0
        self.inference_rows = 0
        #: Set once the model is loaded: reports how many calls the model got (rows / calls = batch size).
        self.batcher: MicroBatcher | None = None
        self.model_ready = 0
        self._model_labels = (model_name, model_version, platform, path)
        self._requests: dict[tuple[str, int], int] = {}
        # endpoint -> [count per bucket (the last one is +Inf), sum of seconds]
        self._latency: dict[str, list] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one finished request and record its latency."""
        key = (endpoint, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        latency = self._latency.get(endpoint)
        if latency is None:
            latency = self._latency[endpoint] = [[0] * (len(LATENCY_BUCKETS) + 1), 0.0]
        latency[0][bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latency[1] += seconds

    def collect(self):
        """The metric families, built at scrape time (the prometheus_client collector interface)."""
        requests = CounterMetricFamily(
            "model_server_requests",
            "HTTP requests handled, by endpoint and status code.",
            labels=["endpoint", "status"],
        )
        for (endpoint, status), count in sorted(self._requests.items()):
            requests.add_metric([endpoint, str(status)], count)
        yield requests

        latency = HistogramMetricFamily(
            "model_server_request_duration_seconds",
            "Time from receiving a request to sending its response, by endpoint.",
            labels=["endpoint"],
        )
        for endpoint, (counts, total) in sorted(self._latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*map(str, LATENCY_BUCKETS), "+Inf"), counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric([endpoint], buckets, total)
        yield latency

        yield GaugeMetricFamily("model_server_requests_in_flight", "HTTP requests being handled now.", self.in_flight)
        yield CounterMetricFamily(
            "model_server_inference_rows", "Rows predicted in successful infer requests.", self.inference_rows
        )
        yield CounterMetricFamily(
            "model_server_model_calls",
            "Calls to the model; concurrent requests share calls (rows / calls is the average batch).",
            self.batcher.model_calls if self.batcher is not None else 0,
        )
        yield GaugeMetricFamily(
            "model_server_model_ready", "1 once the model is loaded and warmed up, else 0.", self.model_ready
        )
        info = GaugeMetricFamily(
            "model_server_model_info",
            "The model this server serves (always 1).",
            labels=["name", "version", "platform", "path"],
        )
        info.add_metric(list(self._model_labels), 1)
        yield info

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
