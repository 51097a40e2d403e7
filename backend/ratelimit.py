"""Rate limits (Flask-Limiter, counters in Redis): logins per IP, job creation per user and per IP."""
from urllib.parse import urlparse

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def storage_uri(redis_url):
    """The limits library spells a unix-socket Redis `redis+unix://`."""
    return "redis+unix" + redis_url[len("unix"):] if urlparse(redis_url).scheme == "unix" else redis_url


def init_app(app):
    """Bind the limiter to the app's Redis."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", storage_uri(app.config["REDIS_URL"]))
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "vm-rl")
    # O(1) per request whatever the limit (a moving window keeps one Redis entry per hit in the window, which
    # made the limiter most of the cost of a cache hit), and still no burst at a window's edge.
    app.config.setdefault("RATELIMIT_STRATEGY", "sliding-window-counter")
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)  # Redis down: serve without limits, not 500
    limiter.init_app(app)


def _user_key():
    from backend.auth import token_auth

    user = token_auth.current_user
    return f"user:{user.id}" if user else get_remote_address()


def login_limit(view):
    """Logins per client IP (VOXMOJI_RATELIMIT_LOGIN)."""
    return limiter.limit(lambda: current_app.config["LIMIT_LOGIN"], key_func=get_remote_address,
                         scope="login")(view)


def export_limit(view):
    """Data exports per user: a few an hour."""
    return limiter.limit(lambda: current_app.config["LIMIT_EXPORTS"], key_func=_user_key, scope="export")(view)


def report_limit(view):
    """Reports per user (VOXMOJI_RATELIMIT_REPORTS)."""
    return limiter.limit(lambda: current_app.config["LIMIT_REPORTS"], key_func=_user_key, scope="report")(view)


def job_limit(view):
    """Job creation per user (VOXMOJI_RATELIMIT_JOBS) and per client IP (VOXMOJI_RATELIMIT_JOBS_PER_IP);
    checked before the request is read, so a refused request creates and holds nothing."""
    per_ip = limiter.limit(lambda: current_app.config["LIMIT_JOBS_PER_IP"], key_func=get_remote_address,
                           scope="jobs-ip")
    per_user = limiter.limit(lambda: current_app.config["LIMIT_JOBS"], key_func=_user_key, scope="jobs-user")
    return per_ip(per_user(view))
