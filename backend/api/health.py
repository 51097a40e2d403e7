"""Liveness and readiness."""
import json

import sqlalchemy as sa
from apiflask import APIBlueprint
from flask import request

from backend.celery_app import WORKER_KEY
from backend.extensions import db, get_redis
from backend.services import api_keys

bp = APIBlueprint("health", __name__, tag="Operations")


@bp.get("/healthz")
def healthz():
    """The web process is alive."""
    return {"success": True, "status": "ok"}


LOCAL_ADDRESSES = ("127.0.0.1", "::1")


def _may_see_details():
    """Operators only: a request from this machine, or one with an admin API key."""
    if request.remote_addr in LOCAL_ADDRESSES:
        return True
    header = request.headers.get("Authorization", "")
    return header.startswith("Bearer ") and api_keys.verify(header[len("Bearer "):].strip()) is not None


@bp.get("/readyz")
def readyz():
    """Ready or not (public). From this machine or with an admin API key, also the details: Redis, the
    database, the live workers (hosts, pids, queues) and the engine serving each kind, with the reasons
    others were not chosen."""
    checks = {"redis": False, "database": False, "workers": []}
    engines = {}
    try:
        redis = get_redis()
        redis.ping()
        checks["redis"] = True
        for key in redis.scan_iter(match=WORKER_KEY + "*", count=100):
            raw = redis.get(key)
            if raw:
                worker = json.loads(raw)
                checks["workers"].append(worker)
                for kind, engine in worker.get("engines", {}).items():
                    engines.setdefault(kind, engine)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        checks["redis_error"] = str(error)[:200]
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = True
    except Exception as error:  # noqa: BLE001
        checks["database_error"] = str(error)[:200]
    ready = checks["redis"] and checks["database"] and bool(checks["workers"])
    if not _may_see_details():
        return {"success": ready, "ready": ready}, 200 if ready else 503
    body = {"success": ready, "ready": ready, **checks, "engines": engines}
    return body, 200 if ready else 503
