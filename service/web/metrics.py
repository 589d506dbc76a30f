"""Prometheus metrics of one server (prometheus_client: the text format and its escaping done by its authors).

Counters are per app (their own registry), so two apps in one process (the tests) do not share counts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from service.store.findings import Finding


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "semblance_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "semblance_http_request_seconds", "Time to answer a request", ["route"], registry=self.registry
        )
        self.scans = Counter("semblance_scans", "Suspects scanned, by verdict", ["verdict"], registry=self.registry)
        self.works = Gauge("semblance_registered_works", "Works in the registry", registry=self.registry)
        self.open_jobs = Gauge("semblance_open_jobs", "Scan jobs queued or running", registry=self.registry)

    def count_finding(self, finding: Finding) -> None:
        """Count a new finding by its verdict (`error` for a suspect that could not be compared)."""
        self.scans.labels(finding.verdict or "error").inc()


def render_metrics(m: ServiceMetrics, works: int, open_jobs: int) -> tuple[bytes, str]:
    """The server's metrics in Prometheus text format, with the gauges set to the counts read now."""
    m.works.set(works)
    m.open_jobs.set(open_jobs)
    return generate_latest(m.registry), CONTENT_TYPE_LATEST
