"""A best-effort memo in Redis: strings remembered for CACHE_TTL seconds. An outage is a miss; the memo is an
optimisation, never the truth."""
from flask import current_app

from backend.extensions import get_redis


def recall(redis_key):
    """A remembered string, or None (also when Redis is down)."""
    try:
        value = get_redis().get(redis_key)
    except Exception:  # noqa: BLE001
        current_app.logger.warning("memo lookup failed", exc_info=True)
        return None
    return value.decode() if value else None


def remember(redis_key, value):
    """Remember a string for CACHE_TTL seconds (best effort)."""
    try:
        get_redis().set(redis_key, value, ex=current_app.config["CACHE_TTL"])
    except Exception:  # noqa: BLE001
        current_app.logger.warning("memo store failed", exc_info=True)


def forget(redis_key):
    """Drop a remembered string (best effort)."""
    try:
        get_redis().delete(redis_key)
    except Exception:  # noqa: BLE001
        current_app.logger.warning("memo forget failed", exc_info=True)
