"""The request cache: SHA-256 of the canonical request -> the job that computed it (in Redis)."""
import hashlib
import json

from flask import current_app

from backend.extensions import get_redis

_PREFIX = "vm:cache:"


def request_key(kind, engine, engine_version, params):
    """Fingerprint of everything that determines the output (uploads enter as their digests)."""
    canonical = json.dumps(
        {"kind": kind, "engine": engine, "engine_version": engine_version, "params": params},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def lookup(key):
    """The id of a finished job with this key, or None (a Redis outage is a miss)."""
    try:
        value = get_redis().get(_PREFIX + key)
    except Exception:  # noqa: BLE001 - the cache is an optimisation; the database decides
        current_app.logger.warning("cache lookup failed", exc_info=True)
        return None
    return value.decode() if value else None


def store(key, job_id):
    """Remember the finished job for this key."""
    try:
        get_redis().set(_PREFIX + key, job_id, ex=current_app.config["CACHE_TTL"])
    except Exception:  # noqa: BLE001
        current_app.logger.warning("cache store failed", exc_info=True)


def forget(key):
    """Drop a key whose job or file is gone."""
    try:
        get_redis().delete(_PREFIX + key)
    except Exception:  # noqa: BLE001
        current_app.logger.warning("cache forget failed", exc_info=True)
