"""Waiting for a job to finish, bounded per process and per user, woken over Redis when it does."""
import time
import uuid
from contextlib import contextmanager

from flask import current_app

from backend import metrics
from backend.extensions import db, get_redis
from backend.slots import ProcessSlots

_DONE_CHANNEL = "vm:job-done:"
_WAITERS = "vm:holds:"


def wait(job, seconds):
    """Block until the job finishes or `seconds` pass; returns the fresh job.

    Waiting is bounded so that long-polls never occupy the threads that serve everyone else: each web
    process lets at most WAIT_SLOTS_PER_PROCESS requests wait at once, and each user at most
    WAITS_PER_USER across the tier. Beyond that the job is answered at once, as it is (clients poll again).
    No database transaction is held while waiting."""
    seconds = max(0.0, min(float(seconds), current_app.config["WAIT_MAX_SECONDS"]))
    if job.finished or seconds <= 0:
        return job
    with wait_slot(job.user_id, seconds) as granted:
        if not granted:
            return job
        return _wait_until_finished(job, time.monotonic() + seconds)


def _wait_until_finished(job, deadline):
    pubsub = None
    try:
        pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(_DONE_CHANNEL + job.id)
    except Exception:  # noqa: BLE001 - without Redis we poll the database
        pubsub = None
    try:
        while True:
            db.session.commit()  # a fresh read, so we see the worker's commit
            db.session.refresh(job)
            finished = job.finished
            db.session.commit()  # and no read transaction stays open while we wait (SQLite WAL checkpoints)
            remaining = deadline - time.monotonic()
            if finished or remaining <= 0:
                return job
            step = min(remaining, 1.0)
            if pubsub is not None:
                try:
                    pubsub.get_message(timeout=step)
                except Exception:  # noqa: BLE001
                    pubsub = None
            else:
                time.sleep(min(step, 0.25))
    finally:
        if pubsub is not None:
            pubsub.close()


_WAIT_SLOTS = ProcessSlots("WAIT_SLOTS_PER_PROCESS")


@contextmanager
def wait_slot(user_id, seconds):
    """Yield True if this request may hold a thread for up to `seconds` (a long-poll, a stream): a free slot in
    this process and under the user's cap across the tier."""
    with _WAIT_SLOTS.hold() as slot:
        if not slot:
            metrics.WAITS_REFUSED.labels("process").inc()
            yield False
            return
        with _user_holds(user_id, seconds) as held:
            if held > current_app.config["WAITS_PER_USER"]:
                metrics.WAITS_REFUSED.labels("user").inc()
                yield False
            else:
                yield True


# The user's holds, a sorted set scored by when each ends at the latest (Redis time): stale ones (a process
# that died holding) drop out then, and a long hold keeps counting for as long as it can last. (A counter
# with one expiry forgot every hold of a user once it expired under a long stream, and went negative.)
_HOLD_SCRIPT = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(last)) + 1)
return redis.call('ZCARD', KEYS[1])
"""


@contextmanager
def _user_holds(user_id, seconds):
    """Count this hold among the user's across the tier (Redis); yields how many the user holds, this one
    included (0 when Redis is down: then only the per-process cap applies)."""
    key, hold = _WAITERS + user_id, uuid.uuid4().hex
    try:
        redis = get_redis()
        held = redis.register_script(_HOLD_SCRIPT)(keys=[key], args=[hold, float(seconds) + 1])
    except Exception:  # noqa: BLE001
        yield 0
        return
    try:
        yield held
    finally:
        try:
            redis.zrem(key, hold)
        except Exception:  # noqa: BLE001 - the hold drops out when it ends at the latest
            pass


def announce(job_id):
    """Wake whoever waits on this job (best effort: waiters also check periodically)."""
    try:
        get_redis().publish(_DONE_CHANNEL + job_id, "done")
    except Exception:  # noqa: BLE001 - waiters fall back to their periodic check
        current_app.logger.warning("could not announce %s", job_id, exc_info=True)
