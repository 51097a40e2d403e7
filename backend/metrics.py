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

from backend.engine_choice.fleet import read_workers

HTTP_REQUESTS = Counter("voxmoji_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
HTTP_LATENCY = Histogram("voxmoji_http_request_seconds", "HTTP request latency", ["method", "endpoint"])
JOBS = Counter("voxmoji_jobs_total", "Job state transitions", ["kind", "status"])
WAITS_REFUSED = Counter("voxmoji_waits_refused_total", "Long-polls answered at once (no slot)", ["limit"])
JOB_SECONDS = Histogram(
    "voxmoji_job_seconds", "From submission to the final status, per job kind and engine", ["kind", "engine", "status"],
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
)
ENGINE_SECONDS = Histogram(
    "voxmoji_engine_seconds", "Time spent inside an engine per job", ["engine"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60, 120),
)


def job_transition(kind, status):
    """Count a job entering a status."""
    JOBS.labels(kind, status).inc()


class FleetCollector:
    """Read at scrape time from Redis: jobs waiting per engine queue, and live workers per engine (their
    heartbeats). What an autoscaler (KEDA / HPA on Prometheus) scales GPU workers on."""

    def __init__(self, redis, queues):
        self.redis, self.queues = redis, queues

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        depth = GaugeMetricFamily("voxmoji_queue_depth", "Jobs waiting in a Celery queue", labels=["queue"])
        live = GaugeMetricFamily("voxmoji_live_workers", "Live workers serving an engine", labels=["family", "engine"])
        try:
            for queue in self.queues:
                depth.add_metric([queue], self.redis.llen(queue))
            counts = {}
            for worker in read_workers(self.redis):
                for family, engine in worker.get("engines", {}).items():
                    counts[(family, engine["name"])] = counts.get((family, engine["name"]), 0) + 1
            for (kind, engine), count in sorted(counts.items()):
                live.add_metric([kind, engine], count)
        except Exception:  # noqa: BLE001 - a scrape without Redis shows no fleet, not an error
            pass
        yield depth
        yield live


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
        from backend.celery_app import DEFAULT_QUEUE
        from backend.engine_choice.lineup import QUEUES

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            from prometheus_client import REGISTRY as registry
        fleet = CollectorRegistry()  # read from Redis at each scrape, by whichever process answers it
        fleet.register(FleetCollector(app.extensions["redis"], QUEUES + (DEFAULT_QUEUE,)))
        return Response(generate_latest(registry) + generate_latest(fleet), mimetype=CONTENT_TYPE_LATEST)

