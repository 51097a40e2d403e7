"""The request cache: SHA-256 of the canonical request -> the job that computed it (in Redis)."""
import hashlib
import json

from backend import memo

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
    return memo.recall(_PREFIX + key)


def store(key, job_id):
    """Remember the finished job for this key."""
    memo.remember(_PREFIX + key, job_id)


def forget(key):
    """Drop a key whose job or file is gone."""
    memo.forget(_PREFIX + key)
