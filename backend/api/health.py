"""Liveness and readiness."""

import sqlalchemy as sa
from apiflask import APIBlueprint
from flask import request

from backend.engine_choice import fleet, lineup
from backend.errors import ApiError
from backend.extensions import db, get_redis
from backend.services.backoffice import api_keys

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
    database, the live workers (host, queues, the engine of each family with its device and concurrency,
    and why the other engines could not run on that host), and per family the engine new requests go to
    under the configured policy."""
    checks = {"redis": False, "database": False, "workers": []}
    try:
        redis = get_redis()
        redis.ping()
        checks["redis"] = True
        checks["workers"] = sorted(fleet.read_workers(redis), key=lambda worker: worker["hostname"])
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
    body = {"success": ready, "ready": ready, **checks, "routing": _routing(checks["workers"])}
    return body, 200 if ready else 503


def _routing(workers):
    """Per family: the policy, the engines live workers serve, and the engine a new request goes to now
    (or why none can take it)."""
    routing = {}
    for family in lineup.FAMILIES:
        entry = {"policy": fleet.policy(family), "live": sorted(fleet.live_engines(family, workers))}
        try:
            entry["chosen"] = fleet.choose(family, workers=workers)[0]
        except ApiError as error:
            entry.update(chosen=None, why_not=error.message)
        routing[family] = entry
    return routing
