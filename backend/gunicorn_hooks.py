"""Gunicorn hooks (`-c python:backend.gunicorn_hooks`): Prometheus multiprocess bookkeeping."""
import os


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the shared metrics directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
