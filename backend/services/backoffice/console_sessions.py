"""Console sessions kept in Redis, so that they can be ended: the cookie carries a random session id, Redis maps
it (by its SHA-256, so a copy of Redis opens no session) to the operator and the session's end. Logout ends one;
blocking an operator or changing their password or TOTP secret ends all of theirs. Without Redis nobody is signed
in (fail closed)."""
import hashlib
import secrets
import time

from backend.extensions import get_redis

_PREFIX = "vm-console:"


def _key(session_id):
    return f"{_PREFIX}session:{hashlib.sha256(session_id.encode()).hexdigest()}"


def _index(operator_id):
    return f"{_PREFIX}operator:{int(operator_id)}:sessions"


def start(operator_id, lifetime):
    """A new session for the operator, ending after `lifetime` seconds; returns its id (for the cookie)."""
    session_id = secrets.token_urlsafe(32)
    key, index = _key(session_id), _index(operator_id)
    with get_redis().pipeline() as pipe:  # MULTI: the session and its place in the operator's index together
        pipe.set(key, f"{int(operator_id)}:{int(time.time()) + int(lifetime)}", ex=int(lifetime))
        pipe.sadd(index, key)
        pipe.expire(index, int(lifetime))  # every session lasts as long: the newest ends last
        pipe.execute()
    return session_id


def operator_of(session_id):
    """The operator id of a live session, or None (unknown, ended or expired)."""
    if not session_id or len(session_id) > 128:
        return None
    value = get_redis().get(_key(session_id))
    if value is None:
        return None
    operator_id, _, ends = value.decode().partition(":")
    return int(operator_id) if int(ends) > time.time() else None


def end(session_id):
    """End one session (logout)."""
    if session_id:
        get_redis().delete(_key(session_id))


def end_all(operator_id):
    """End every session of the operator (blocked, new password or TOTP secret); returns how many were live."""
    redis = get_redis()
    index = _index(operator_id)
    keys = redis.smembers(index)
    with redis.pipeline() as pipe:
        if keys:
            pipe.delete(*keys)
        pipe.delete(index)
        ended = pipe.execute()
    return ended[0] if keys else 0
