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
    return recall(_PREFIX + key)


def store(key, job_id):
    """Remember the finished job for this key."""
    remember(_PREFIX + key, job_id)


def forget(key):
    """Drop a key whose job or file is gone."""
    try:
        get_redis().delete(_PREFIX + key)
    except Exception:  # noqa: BLE001
        current_app.logger.warning("cache forget failed", exc_info=True)


def recall(redis_key):
    """A remembered string, or None; a Redis outage is a miss (the cache is an optimisation, never the truth)."""
    try:
        value = get_redis().get(redis_key)
    except Exception:  # noqa: BLE001
        current_app.logger.warning("cache lookup failed", exc_info=True)
        return None
    return value.decode() if value else None


def remember(redis_key, value):
    """Remember a string for CACHE_TTL seconds (best effort)."""
    try:
        get_redis().set(redis_key, value, ex=current_app.config["CACHE_TTL"])
    except Exception:  # noqa: BLE001
        current_app.logger.warning("cache store failed", exc_info=True)
