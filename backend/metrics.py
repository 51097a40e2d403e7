"""Prometheus metrics; multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (gunicorn, Celery)."""
import os
import time

from flask import Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter("voxmoji_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
HTTP_LATENCY = Histogram("voxmoji_http_request_seconds", "HTTP request latency", ["method", "endpoint"])
JOBS = Counter("voxmoji_jobs_total", "Job state transitions", ["kind", "status"])
WAITS_REFUSED = Counter("voxmoji_waits_refused_total", "Long-polls answered at once (no slot)", ["limit"])
ENGINE_SECONDS = Histogram(
    "voxmoji_engine_seconds", "Time spent inside an engine per job", ["engine"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60, 120),
)


def job_transition(kind, status):
    """Count a job entering a status."""
    JOBS.labels(kind, status).inc()


def init_app(app):
    """Time every request and serve /metrics."""

    @app.before_request
    def _start_timer():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _record(response):
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        if endpoint != "/metrics":
            HTTP_REQUESTS.labels(request.method, endpoint, response.status_code).inc()
            started = g.get("metrics_started")
            if started is not None:
                HTTP_LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    @app.doc(hide=True)
    def metrics():
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            from prometheus_client import REGISTRY as registry
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
