"""Waiting for a job to finish, bounded per process and per user, woken over Redis when it does."""
import time
from contextlib import contextmanager

from flask import current_app

from backend import metrics
from backend.extensions import db, get_redis
from backend.slots import ProcessSlots

_DONE_CHANNEL = "vm:job-done:"
_WAITERS = "vm:waiters:"


def wait(job, seconds):
    """Block until the job finishes or `seconds` pass; returns the fresh job.

    Waiting is bounded so that long-polls never occupy the threads that serve everyone else: each web
    process lets at most WAIT_SLOTS_PER_PROCESS requests wait at once, and each user at most
    WAITS_PER_USER across the tier. Beyond that the job is answered at once, as it is (clients poll again).
    No database transaction is held while waiting."""
    seconds = max(0.0, min(float(seconds), current_app.config["WAIT_MAX_SECONDS"]))
    if job.finished or seconds <= 0:
        return job
    with wait_slot(job.user_id) as granted:
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
def wait_slot(user_id):
    """Yield True if this request may wait: a free slot in this process and under the user's cap."""
    with _WAIT_SLOTS.hold() as slot:
        if not slot:
            metrics.WAITS_REFUSED.labels("process").inc()
            yield False
            return
        with _user_waiting(user_id) as waiting:
            if waiting > current_app.config["WAITS_PER_USER"]:
                metrics.WAITS_REFUSED.labels("user").inc()
                yield False
            else:
                yield True


@contextmanager
def _user_waiting(user_id):
    """Count this wait among the user's across the tier (Redis); yields how many are waiting, this one
    included (0 when Redis is down: then only the per-process cap applies)."""
    config = current_app.config
    key = _WAITERS + user_id
    try:
        redis = get_redis()
        waiting = redis.incr(key)
        redis.expire(key, max(config["WAIT_MAX_SECONDS"], config["SEED_TTS_WAIT"]) + 10)  # outlives any wait
    except Exception:  # noqa: BLE001
        yield 0
        return
    try:
        yield waiting
    finally:
        try:
            redis.decr(key)
        except Exception:  # noqa: BLE001 - the key expires on its own
            pass


def announce(job_id):
    """Wake whoever waits on this job (best effort: waiters also check periodically)."""
    try:
        get_redis().publish(_DONE_CHANNEL + job_id, "done")
    except Exception:  # noqa: BLE001 - waiters fall back to their periodic check
        current_app.logger.warning("could not announce %s", job_id, exc_info=True)
