"""Liveness and readiness."""
import json

import sqlalchemy as sa
from apiflask import APIBlueprint

from backend.extensions import db, get_redis

bp = APIBlueprint("health", __name__, tag="Operations")
WORKER_KEY = "vm:worker:"


@bp.get("/healthz")
def healthz():
    """The web process is alive."""
    return {"success": True, "status": "ok"}


@bp.get("/readyz")
def readyz():
    """Redis, the database and at least one live worker; the engine serving each kind."""
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
    body = {"success": ready, "ready": ready, **checks, "engines": engines}
    return body, 200 if ready else 503
