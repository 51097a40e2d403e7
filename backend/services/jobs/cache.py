"""The request cache in Redis: SHA-256 of the canonical request -> the job that computed it, and per user, the
user's own succeeded job for it (what a repeat is answered with). Entries are dropped whenever their job's result
is withdrawn or deleted, so a present entry names a result that is served."""
import hashlib
import json

from backend import memo
from backend.row_copies import as_json, copy_of

_PREFIX = "vm:cache:"
_OWN = "vm:own:"


def request_key(kind, engine, engine_version, params):
    """Fingerprint of everything that determines the output (uploads enter as their digests)."""
    canonical = json.dumps(
        {"kind": kind, "engine": engine, "engine_version": engine_version, "params": params},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def lookup(key):
    """The id of a finished job with this key, or None (a Redis outage is a miss)."""
    return memo.recall(_PREFIX + key)


def store(key, job_id):
    """Remember the finished job for this key."""
    memo.remember(_PREFIX + key, job_id)


def forget(key):
    """Drop a key whose job or file is gone."""
    memo.forget(_PREFIX + key)


def lookup_own(user_id, key):
    """The columns of the user's own succeeded job with this key (as store_own copied them), or None."""
    found = memo.recall(f"{_OWN}{user_id}:{key}")
    return json.loads(found) if found else None


def store_own(job):
    """Remember a succeeded job as its user's own answer to its request: a copy of its row, which does not
    change while it is served (it is forgotten when its result is withdrawn or deleted)."""
    memo.remember(f"{_OWN}{job.user_id}:{job.cache_key}", json.dumps(copy_of(job), ensure_ascii=False, default=as_json))


def forget_own(user_id, key):
    """Drop the user's entry for this key (its job's result is gone)."""
    memo.forget(f"{_OWN}{user_id}:{key}")
