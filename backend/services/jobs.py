"""Jobs: create (or join, or answer from cache), run-state transitions, cancel, wait, present."""
import time
from contextlib import contextmanager
from datetime import datetime, timezone

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend import celery_app, engine_catalog, metrics
from backend.celery_app import RUN_JOB
from backend.engine_catalog import FAMILY_BY_KIND
from backend.errors import STATUS_BY_CODE, ApiError
from backend.extensions import db, get_redis
from backend.models import FINISHED, REVIEWING, UNFINISHED, Job, isoformat, utcnow
from backend.services import cache, ledger, media
from backend.services.slots import ProcessSlots
from backend.services.transactions import write_transaction
from backend.vocabulary import API_KIND_BY_KIND

_RESULT_FIELDS = ("result_path", "result_mime", "result_bytes", "result_duration",
                  "result_width", "result_height", "result_meta")
_DELETABLE = UNFINISHED + (REVIEWING, "succeeded")  # jobs whose result (made or to be made) can still go
_DONE_CHANNEL = "vm:job-done:"
_WAITERS = "vm:waiters:"


def submit(user, kind, params, fingerprint, engine, cost):
    """Create the user's job for a request (see docs/API.md, "Who pays"):

    - the same user repeating a request of theirs that succeeded gets that task again at no cost
      (`cached: true`; nothing is written); repeating one still in flight gets that same task;
    - anyone else pays the full cost, held now: a job with a finished twin is enqueued like any other and
      the worker hands it the existing result without computing; a job with a twin in flight follows it
      (one computation) and is charged when it succeeds, released when it fails or is canceled.
    So what a response says never depends on what other users asked for."""
    own = _own_result(fingerprint, user.id)
    if own is not None:
        own.repeat = True
        metrics.job_transition(kind, "cached")
        return own
    for _attempt in range(3):
        try:
            with write_transaction():
                mine = _unfinished_twin(fingerprint, user.id)
                if mine is not None:
                    return mine
                leader = _unfinished_twin(fingerprint)
                job = Job(user_id=user.id, kind=kind, engine=engine, params=params, cache_key=fingerprint,
                          cost=cost, charge="held" if cost > 0 else "none", parent_id=leader.id if leader else None)
                db.session.add(job)
                db.session.flush()  # a second leader for the same request fails here, before anything is held
                ledger.hold(user.id, job.id, cost)
        except IntegrityError:
            continue  # another request became the leader meanwhile: follow it
        if job.parent_id:
            metrics.job_transition(kind, "joined")
            resolve_followers(job.parent_id)  # the leader may have finished while we joined
            db.session.refresh(job)
        else:
            metrics.job_transition(kind, "queued")
            enqueue(job)
        return job
    raise ApiError("service_unavailable", "The request is busy; please retry in a moment.")


def _own_result(fingerprint, user_id):
    """The user's own succeeded job with this fingerprint whose result file still exists."""
    return _latest_served(sa.select(Job).where(Job.cache_key == fingerprint, Job.user_id == user_id))


def _any_result(fingerprint):
    """Anyone's succeeded job with this fingerprint whose result file still exists (Redis first)."""
    job_id = cache.lookup(fingerprint)
    job = db.session.get(Job, job_id) if job_id else None
    if _serves(job):
        return job
    if job_id:
        cache.forget(fingerprint)
    job = _latest_served(sa.select(Job).where(Job.cache_key == fingerprint))
    if job is not None:
        cache.store(fingerprint, job.id)
    return job


def _latest_served(query):
    job = db.session.scalars(query.where(Job.status == "succeeded", Job.result_path.is_not(None))
                             .order_by(Job.finished_at.desc()).limit(1)).first()
    return job if _serves(job) else None


def _serves(job):
    return (job is not None and job.status == "succeeded" and job.result_path is not None
            and media.exists(job.result_path))


def _unfinished_twin(fingerprint, user_id=None):
    """The job computing this fingerprint (the leader), or with user_id, that user's own unfinished job for it."""
    query = sa.select(Job).where(Job.cache_key == fingerprint, Job.status.in_(UNFINISHED))
    if user_id is None:
        query = query.where(Job.parent_id.is_(None))
    else:
        query = query.where(Job.user_id == user_id)
    return db.session.scalars(query.limit(1)).first()


def finished_result(fingerprint):
    """Worker side: the result fields of a finished twin, to hand to a job without computing it again."""
    twin = _any_result(fingerprint)
    if twin is None:
        return None
    return {"engine": twin.engine, **{name: getattr(twin, name) for name in _RESULT_FIELDS}}


def enqueue(job):
    """Send the job to the queue of the engine it was routed to; if the broker is down the sweeper retries."""
    try:
        celery_app.send(RUN_JOB, job.id, queue=engine_catalog.get(FAMILY_BY_KIND[job.kind], job.engine).queue)
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
    transaction; its followers share the outcome. `reviewing` stores the result but settles nothing: the job
    finishes when media moderation passes it (`conclude_review`)."""
    values = dict(status=status, finished_at=utcnow(), error_code=error_code, error_message=error_message,
                  error_field=error_field, **result)
    if status in ("succeeded", REVIEWING):
        values["progress"] = 100
    with write_transaction():
        changed = db.session.execute(
            sa.update(Job).where(Job.id == job_id, Job.status.in_(UNFINISHED)).values(**values)
        ).rowcount
        if changed and status != REVIEWING:
            ledger.settle(job_id, "capture" if status == "succeeded" else "release")
    if not changed:
        if status in ("succeeded", REVIEWING) and result.get("result_path"):
            _remove_unless_served(result["result_path"])  # e.g. the job was deleted while it ran
        return False
    job = db.session.get(Job, job_id)
    if status == REVIEWING:
        metrics.job_transition(job.kind, status)
        _announce(job_id)
        return True
    _finished(job)
    return True


def conclude_review(job_id):
    """A reviewed job's media passed: reviewing -> succeeded, its hold captured, its followers served."""
    with write_transaction():
        changed = db.session.execute(sa.update(Job).where(Job.id == job_id, Job.status == REVIEWING)
                                     .values(status="succeeded", finished_at=utcnow())).rowcount
        if changed:
            ledger.settle(job_id, "capture")
    if changed:
        _finished(db.session.get(Job, job_id))
    return bool(changed)


def block(condition, message, refund):
    """Withdraw results moderation refused: matching jobs that succeeded or await review become `blocked`
    (error content_blocked; the result path is kept so its URL answers 410), holds are released, captured
    charges refunded when `refund`, result files deleted and cache entries dropped. Returns the job ids."""
    blocked = _take_out(condition, ("succeeded", REVIEWING), media.delete,
                        dict(status="blocked", error_code="content_blocked", error_message=message),
                        refund_note="refund: result withdrawn by moderation" if refund else None)
    for job_id in blocked:
        metrics.job_transition(db.session.get(Job, job_id).kind, "blocked")
    return blocked


def _take_out(condition, statuses, remove_file, values, refund_note=None):
    """Move the jobs matching `condition` that are in `statuses` to a final state (`values`), each at most
    once: its hold released (and its charge refunded with `refund_note`), its cache entry dropped, its result
    file handed to `remove_file`, its followers resolved again. Returns the ids moved."""
    targets = db.session.execute(sa.select(Job.id, Job.cache_key, Job.result_path, Job.result_meta).where(
        condition, Job.status.in_(statuses))).all()
    taken = []
    with write_transaction():
        for job in targets:
            if db.session.execute(sa.update(Job).where(Job.id == job.id, Job.status.in_(statuses))
                                  .values(finished_at=utcnow(), error_field=None, **values)).rowcount:
                ledger.settle(job.id, "release")  # a no-op for a job already captured
                if refund_note:
                    ledger.refund(job.id, refund_note)
                taken.append(job)
    for job_id, cache_key, result_path, result_meta in taken:
        cache.forget(cache_key)
        if result_path:
            remove_file(result_path, parts_of(result_meta))
        resolve_followers(job_id)
        _announce(job_id)
    return [job.id for job in taken]


def _finished(job):
    status = job.status
    metrics.job_transition(job.kind, status)
    metrics.JOB_SECONDS.labels(job.kind, job.engine, status).observe(
        (job.finished_at - job.created_at).total_seconds())
    if status == "succeeded":
        cache.store(job.cache_key, job.id)
    resolve_followers(job.id)
    _announce(job.id)


def resolve_followers(leader_id):
    """Give followers of a finished leader its outcome, each settling its own hold (captured on success,
    released on failure); if the leader was canceled, the first follower computes instead."""
    leader = db.session.get(Job, leader_id)
    if leader is None or leader.status not in FINISHED:
        return
    followers = db.session.scalars(
        sa.select(Job).where(Job.parent_id == leader_id, Job.status.in_(UNFINISHED)).order_by(Job.created_at)
    ).all()
    if not followers:
        return
    if leader.status in ("canceled", "deleted"):
        _promote(followers)
        return
    values = dict(status=leader.status, finished_at=utcnow(), error_code=leader.error_code,
                  error_message=leader.error_message, error_field=leader.error_field, engine=leader.engine,
                  **{name: getattr(leader, name) for name in _RESULT_FIELDS})
    if leader.status == "succeeded":
        values["progress"] = 100
    settled = []
    with write_transaction():
        for follower in followers:
            if db.session.execute(sa.update(Job).where(Job.id == follower.id, Job.status.in_(UNFINISHED))
                                  .values(**values)).rowcount:
                ledger.settle(follower.id, "capture" if leader.status == "succeeded" else "release")
                settled.append(follower)
    for follower in settled:
        metrics.job_transition(follower.kind, leader.status)
        _announce(follower.id)


def _promote(followers):
    # The job everyone followed will not compute (its owner canceled it); the first follower, which holds
    # its own cost, computes instead and the others follow it.
    new_leader, rest = followers[0], followers[1:]
    try:
        with write_transaction():
            db.session.execute(sa.update(Job).where(Job.id == new_leader.id).values(parent_id=None))
            if rest:
                db.session.execute(sa.update(Job).where(Job.id.in_([f.id for f in rest]))
                                   .values(parent_id=new_leader.id))
    except IntegrityError:  # a new leader for this request appeared meanwhile; the sweeper re-resolves
        return
    enqueue(new_leader)


def cancel(job):
    """Cancel a job that is not computing: a queued job, or one following another's computation. Its hold is
    released; jobs that followed it are not canceled (one of them computes instead). A running or finished
    job is returned unchanged."""
    with write_transaction():
        changed = db.session.execute(
            sa.update(Job).where(Job.id == job.id, sa.or_(Job.status == "queued", sa.and_(
                Job.parent_id.is_not(None), Job.status.in_(UNFINISHED))))
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


def made_with_recording(digest):
    """SQL condition: TTS jobs whose reference recording has this SHA-256."""
    return sa.and_(Job.kind == "tts", Job.params["prompt_sha256"].as_string() == digest)


def count_unfinished(condition):
    """How many unfinished jobs (anyone's) match a SQL condition."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(condition, Job.status.in_(UNFINISHED)))


def delete_results(user, condition, message="Deleted, with the voice it was made with."):
    """The user's jobs matching `condition` stop being served: status `deleted` (holds of unfinished ones
    released), result files removed unless another user's result is the same file, cache entries dropped.
    Jobs that followed one of them compute on their own."""
    return len(_take_out(sa.and_(Job.user_id == user.id, condition), _DELETABLE, _remove_unless_served,
                         dict(status="deleted", error_code="gone", error_message=message,
                              **{name: None for name in _RESULT_FIELDS})))


def _remove_unless_served(result_path, parts=()):
    """Delete a result file (and its parts) no succeeded job refers to any more (a result file exists only
    while served)."""
    served = db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(
        Job.result_path == result_path, Job.status == "succeeded"))
    if not served:
        media.delete(result_path, parts)


def parts_of(result_meta):
    """The names of a result's companion files (result_meta["parts"]), stored at media.part_path."""
    return list((result_meta or {}).get("parts") or ())


def get_owned(user, job_id):
    """The user's job, or 404 (another user's job is indistinguishable from a missing one)."""
    job = db.session.get(Job, job_id)
    if job is None or job.user_id != user.id:
        raise ApiError("not_found", f"No task {job_id!r} for this user.", "task_id")
    return job


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
    status, progress = job.status, job.progress
    if job.parent_id and not job.finished:  # a follower shows the progress of the computation it follows
        leader = db.session.get(Job, job.parent_id)
        if leader is not None and not leader.finished:
            status, progress = leader.status, leader.progress
    task = {
        "task_id": job.id, "kind": API_KIND_BY_KIND.get(job.kind, job.kind), "status": status, "progress": progress,
        "engine": job.engine, "cached": job.cached or job.repeat,
        "cost": job.cost if job.charge in ("held", "captured") and not job.repeat else 0,
        "refunded": job.cost if job.charge in ("released", "refunded") else 0,
        "created_at": isoformat(job.created_at), "finished_at": isoformat(job.finished_at),
        "text": (job.params or {}).get("text") or None, "result": None, "error": None,
    }
    if job.status == "succeeded" and job.result_path:
        url, expires = media.sign_url(job.result_path)
        result = {
            "url": url, "expires_at": isoformat(_from_timestamp(expires)), "mime": job.result_mime,
            "bytes": job.result_bytes, "duration": job.result_duration,
            "width": job.result_width, "height": job.result_height,
        }
        result.update(job.result_meta or {})
        if "parts" in result:  # companion files, each with its own signed URL
            result["parts"] = {name: media.sign_url(media.part_path(job.result_path, name))[0]
                               for name in result["parts"]}
        task["result"] = result
        if job.kind == "tts":
            task["audio_url"] = url
            task["duration"] = job.result_duration
        elif job.kind == "talking":
            task["video_url"] = url
            task["image_url"] = result["parts"]["sticker.gif"]
            task["duration"] = job.result_duration
        elif job.kind == "pack":
            task["zip_url"] = url
        else:
            task["image_url"] = url
    elif job.status in ("failed", "canceled", "deleted", "blocked"):
        task["error"] = {"code": job.error_code or "engine_failed", "message": job.error_message or "",
                         "field": job.error_field}
    return task


def raise_if_rejected(job):
    """A job that failed because of its input answers like bad input would: the 4xx error."""
    if job.status == "failed" and job.error_code and STATUS_BY_CODE.get(job.error_code, 500) < 500:
        raise ApiError(job.error_code, job.error_message or "The input was rejected.", job.error_field)


def raise_if_failed(job, default_message):
    """A finished job that did not succeed, for endpoints that answer with the result itself: its own error."""
    if job.finished and job.status != "succeeded":
        raise ApiError(job.error_code or "engine_failed", job.error_message or default_message, job.error_field)


def _from_timestamp(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc)
