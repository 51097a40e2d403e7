"""Jobs: create (or join, or answer from cache), run-state transitions, cancel, wait, present."""
import time
from datetime import datetime, timezone

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend import metrics
from backend.celery_app import QUEUE_BY_KIND
from backend.errors import STATUS_BY_CODE, ApiError
from backend.extensions import db, get_redis
from backend.models import FINISHED, UNFINISHED, Job, isoformat, utcnow
from backend.services import cache, ledger, media
from backend.services.transactions import write_transaction

_RESULT_FIELDS = ("result_path", "result_mime", "result_bytes", "result_duration",
                  "result_width", "result_height", "result_meta")
_DONE_CHANNEL = "vm:job-done:"


def submit(user, kind, params, fingerprint, engine, cost, _attempt=0):
    """Answer from the cache, join an identical job in flight, or hold the cost and enqueue a new job."""
    finished = _cached_job(fingerprint)
    if finished is not None:
        job = Job(user_id=user.id, kind=kind, engine=finished.engine, params=params, cache_key=fingerprint,
                  cached=True, cost=0, status="succeeded", progress=100, finished_at=utcnow(),
                  **{name: getattr(finished, name) for name in _RESULT_FIELDS})
        with write_transaction():
            db.session.add(job)
        metrics.job_transition(kind, "cached")
        return job

    try:
        with write_transaction():
            # Checked again inside the write lock: the identical job may have finished since the cache lookup.
            finished_meanwhile = _finished_job(fingerprint) is not None
            if not finished_meanwhile:
                leader = Job(user_id=user.id, kind=kind, engine=engine, params=params, cache_key=fingerprint,
                             cost=cost, charge="held" if cost > 0 else "none")
                db.session.add(leader)
                db.session.flush()  # an identical job in flight fails here, before anything is held
                ledger.hold(user.id, leader.id, cost)
        if finished_meanwhile:
            return submit(user, kind, params, fingerprint, engine, cost, _attempt + 1)
    except IntegrityError:
        joined = _join(user, kind, params, fingerprint)
        if joined is None and _attempt < 3:  # the job in flight finished meanwhile: look again
            return submit(user, kind, params, fingerprint, engine, cost, _attempt + 1)
        if joined is None:
            raise ApiError("service_unavailable", "The request is busy; please retry in a moment.")
        return joined
    metrics.job_transition(kind, "queued")
    enqueue(leader)
    return leader


def _cached_job(fingerprint):
    """A succeeded job with this fingerprint whose file still exists (Redis first, then SQL)."""
    job_id = cache.lookup(fingerprint)
    job = db.session.get(Job, job_id) if job_id else None
    if job is not None and job.status == "succeeded" and media.absolute(job.result_path).exists():
        return job
    if job_id:
        cache.forget(fingerprint)
    job = _finished_job(fingerprint)
    if job is not None:
        cache.store(fingerprint, job.id)
    return job


def _finished_job(fingerprint):
    """From the database: a succeeded job with this fingerprint whose result file exists, or None."""
    job = db.session.scalars(
        sa.select(Job).where(Job.cache_key == fingerprint, Job.status == "succeeded", Job.parent_id.is_(None))
        .order_by(Job.finished_at.desc()).limit(1)
    ).first()
    return job if job is not None and job.result_path and media.absolute(job.result_path).exists() else None


def _join(user, kind, params, fingerprint):
    """Follow the identical job in flight (the owner gets that job itself)."""
    leader = db.session.scalars(
        sa.select(Job).where(Job.cache_key == fingerprint, Job.status.in_(UNFINISHED), Job.parent_id.is_(None))
    ).first()
    if leader is None:
        return None
    if leader.user_id == user.id:
        return leader
    follower = Job(user_id=user.id, kind=kind, engine=leader.engine, params=params, cache_key=fingerprint,
                   cached=True, cost=0, parent_id=leader.id)
    with write_transaction():
        db.session.add(follower)
    metrics.job_transition(kind, "joined")
    resolve_followers(leader.id)  # in case the leader finished while we were joining
    db.session.refresh(follower)
    return follower


def enqueue(job):
    """Send the job to its kind's Celery queue; if the broker is down the sweeper retries."""
    from backend.tasks import run_job

    try:
        run_job.apply_async((job.id,), queue=QUEUE_BY_KIND[job.kind])
    except Exception:  # noqa: BLE001 - the jobs table is the source of truth
        current_app.logger.warning("enqueue of %s failed; the sweeper will retry", job.id, exc_info=True)
        return False
    with write_transaction():
        db.session.execute(sa.update(Job).where(Job.id == job.id).values(enqueued_at=utcnow()))
    return True


def mark_running(job_id, worker):
    """queued -> running; False if the job is finished (or canceled) already."""
    with write_transaction():
        changed = db.session.execute(
            sa.update(Job).where(Job.id == job_id, Job.status.in_(UNFINISHED))
            .values(status="running", started_at=utcnow(), worker=worker, attempts=Job.attempts + 1, progress=5)
        ).rowcount
    return bool(changed)


def set_progress(job_id, percent):
    """Record progress of a running job (0-100)."""
    with write_transaction():
        db.session.execute(
            sa.update(Job).where(Job.id == job_id, Job.status == "running").values(progress=int(percent))
        )


def finish(job_id, status, *, error_code=None, error_message=None, error_field=None, **result):
    """Move an unfinished job to a final status once, capturing or releasing its hold in the same
    transaction; its followers share the outcome."""
    values = dict(status=status, finished_at=utcnow(), error_code=error_code, error_message=error_message,
                  error_field=error_field, **result)
    if status == "succeeded":
        values["progress"] = 100
    with write_transaction():
        changed = db.session.execute(
            sa.update(Job).where(Job.id == job_id, Job.status.in_(UNFINISHED)).values(**values)
        ).rowcount
        if changed:
            ledger.settle(job_id, "capture" if status == "succeeded" else "release")
    if not changed:
        return False
    job = db.session.get(Job, job_id)
    metrics.job_transition(job.kind, status)
    if status == "succeeded":
        cache.store(job.cache_key, job.id)
    resolve_followers(job_id)
    _announce(job_id)
    return True


def resolve_followers(leader_id):
    """Give followers of a finished leader its result, or a new leader if it was canceled."""
    leader = db.session.get(Job, leader_id)
    if leader is None or leader.status not in FINISHED:
        return
    followers = db.session.scalars(
        sa.select(Job).where(Job.parent_id == leader_id, Job.status.in_(UNFINISHED))
    ).all()
    if not followers:
        return
    if leader.status == "canceled":
        _promote(followers)
        return
    values = dict(status=leader.status, finished_at=utcnow(), error_code=leader.error_code,
                  error_message=leader.error_message, error_field=leader.error_field, engine=leader.engine,
                  **{name: getattr(leader, name) for name in _RESULT_FIELDS})
    if leader.status == "succeeded":
        values["progress"] = 100
    ids = [f.id for f in followers]
    with write_transaction():
        db.session.execute(sa.update(Job).where(Job.id.in_(ids), Job.status.in_(UNFINISHED)).values(**values))
    for follower_id in ids:
        _announce(follower_id)


def _promote(followers):
    # The owner of the job everyone joined canceled it; the others still want the result.
    new_leader, rest = followers[0], followers[1:]
    with write_transaction():
        db.session.execute(sa.update(Job).where(Job.id == new_leader.id).values(parent_id=None, cached=False))
        if rest:
            db.session.execute(sa.update(Job).where(Job.id.in_([f.id for f in rest])).values(parent_id=new_leader.id))
    enqueue(new_leader)


def cancel(job):
    """Cancel a job that has not started (its tokens are released); a started or finished job is returned
    unchanged."""
    with write_transaction():
        changed = db.session.execute(
            sa.update(Job).where(Job.id == job.id, Job.status == "queued")
            .values(status="canceled", finished_at=utcnow(), error_code="canceled",
                    error_message="Canceled by the user.")
        ).rowcount
        if changed:
            ledger.settle(job.id, "release")
    if changed:
        metrics.job_transition(job.kind, "canceled")
        resolve_followers(job.id)
        _announce(job.id)
    db.session.refresh(job)
    return job


def get_owned(user, job_id):
    """The user's job, or 404 (another user's job is indistinguishable from a missing one)."""
    job = db.session.get(Job, job_id)
    if job is None or job.user_id != user.id:
        raise ApiError("not_found", f"No task {job_id!r} for this user.", "task_id")
    return job


def wait(job, seconds):
    """Block until the job finishes or `seconds` pass; returns the fresh job."""
    deadline = time.monotonic() + max(0.0, min(float(seconds), current_app.config["WAIT_MAX_SECONDS"]))
    if job.finished or seconds <= 0:
        return job
    pubsub = None
    try:
        pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(_DONE_CHANNEL + job.id)
    except Exception:  # noqa: BLE001 - without Redis we poll the database
        pubsub = None
    try:
        while True:
            db.session.commit()  # end the read transaction so we see the worker's commit
            db.session.refresh(job)
            remaining = deadline - time.monotonic()
            if job.finished or remaining <= 0:
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


def _announce(job_id):
    try:
        get_redis().publish(_DONE_CHANNEL + job_id, "done")
    except Exception:  # noqa: BLE001 - waiters fall back to their periodic check
        current_app.logger.warning("could not announce %s", job_id, exc_info=True)


def list_for(user, kind=None, limit=20, before=None):
    """The user's jobs, newest first, with a cursor (the last id) for the next page."""
    query = sa.select(Job).where(Job.user_id == user.id)
    if kind:
        query = query.where(Job.kind == kind)
    if before:
        anchor = db.session.get(Job, before)
        if anchor is None or anchor.user_id != user.id:
            raise ApiError("invalid_request", "Unknown cursor in 'before'.", "before")
        query = query.where(sa.or_(Job.created_at < anchor.created_at,
                                   sa.and_(Job.created_at == anchor.created_at, Job.id < anchor.id)))
    jobs = db.session.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)).all()
    next_cursor = jobs[limit - 1].id if len(jobs) > limit else None
    return jobs[:limit], next_cursor


def present(job):
    """The task object of API.md, with a freshly signed result URL."""
    task = {
        "task_id": job.id, "kind": job.kind, "status": job.status, "progress": job.progress,
        "engine": job.engine, "cached": job.cached, "cost": job.cost,
        "created_at": isoformat(job.created_at), "finished_at": isoformat(job.finished_at),
        "result": None, "error": None,
    }
    if job.status == "succeeded" and job.result_path:
        url, expires = media.sign_url(job.result_path)
        result = {
            "url": url, "expires_at": isoformat(_from_timestamp(expires)), "mime": job.result_mime,
            "bytes": job.result_bytes, "duration": job.result_duration,
            "width": job.result_width, "height": job.result_height,
        }
        result.update(job.result_meta or {})
        task["result"] = result
        if job.kind == "tts":
            task["audio_url"] = url
            task["duration"] = job.result_duration
        else:
            task["image_url"] = url
    elif job.status in ("failed", "canceled"):
        task["error"] = {"code": job.error_code or "engine_failed", "message": job.error_message or "",
                         "field": job.error_field}
    return task


def raise_if_rejected(job):
    """A job that failed because of its input answers like bad input would: the 4xx error."""
    if job.status == "failed" and job.error_code and STATUS_BY_CODE.get(job.error_code, 500) < 500:
        raise ApiError(job.error_code, job.error_message or "The input was rejected.", job.error_field)


def _from_timestamp(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc)
