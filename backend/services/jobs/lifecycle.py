"""A job's life after submission: enqueue, running, progress, a final status settled once with its hold,
followers sharing their leader's outcome, cancel, and results taken out by moderation or deletion."""
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend import account_copies, celery_app, metrics
from backend.celery_app import RUN_JOB
from backend.engine_choice import lineup
from backend.engine_choice.lineup import FAMILY_BY_KIND
from backend.extensions import db
from backend.models import FINISHED, REVIEWING, UNFINISHED, Job, utcnow
from backend.services.jobs import cache, ledger
from backend.services.jobs.lookup import parts_of
from backend.services.jobs.waiting import announce
from backend.services.media import files
from backend.transactions import write_transaction

RESULT_FIELDS = ("result_path", "result_mime", "result_bytes", "result_duration",
                 "result_width", "result_height", "result_meta")
_DELETABLE = UNFINISHED + (REVIEWING, "succeeded")  # jobs whose result (made or to be made) can still go


def enqueue(job):
    """Send the job to the queue of the engine it was routed to; if the broker is down the sweeper retries."""
    try:
        celery_app.send(RUN_JOB, job.id, queue=lineup.get(FAMILY_BY_KIND[job.kind], job.engine).queue)
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
        announce(job_id)
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
    blocked = _take_out(condition, ("succeeded", REVIEWING), files.delete,
                        dict(status="blocked", error_code="content_blocked", error_message=message),
                        refund_note="refund: result withdrawn by moderation" if refund else None)
    for job_id in blocked:
        metrics.job_transition(db.session.get(Job, job_id).kind, "blocked")
    return blocked


def _take_out(condition, statuses, remove_file, values, refund_note=None):
    """Move the jobs matching `condition` that are in `statuses` to a final state (`values`), each at most
    once: its hold released (and its charge refunded with `refund_note`), its cache entry dropped, its result
    file handed to `remove_file`, its followers resolved again. Returns the ids moved."""
    targets = db.session.execute(sa.select(Job.id, Job.user_id, Job.cache_key, Job.result_path, Job.result_meta).where(
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
    for job_id, user_id, cache_key, result_path, result_meta in taken:
        cache.forget(cache_key)
        cache.forget_own(user_id, cache_key)
        account_copies.changed(user_id)  # no process answers a repeat with it any more
        if result_path:
            remove_file(result_path, parts_of(result_meta))
        resolve_followers(job_id)
        announce(job_id)
    return [job.id for job in taken]


def _finished(job):
    status = job.status
    metrics.job_transition(job.kind, status)
    metrics.JOB_SECONDS.labels(job.kind, job.engine, status).observe(
        (job.finished_at - job.created_at).total_seconds())
    if status == "succeeded":
        cache.store(job.cache_key, job.id)
        cache.store_own(job)
    resolve_followers(job.id)
    announce(job.id)


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
                  **{name: getattr(leader, name) for name in RESULT_FIELDS})
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
        if leader.status == "succeeded":
            db.session.refresh(follower)
            cache.store_own(follower)
        announce(follower.id)


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
        announce(job.id)
    db.session.refresh(job)
    return job


def made_with_recording(digest):
    """SQL condition: jobs of any kind made from the reference recording with this SHA-256 (speech, talking
    stickers: every job that names a recording names it in `prompt_sha256`)."""
    return Job.params["prompt_sha256"].as_string() == digest


def count_unfinished(condition):
    """How many unfinished jobs (anyone's) match a SQL condition."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(condition, Job.status.in_(UNFINISHED)))


def delete_results(user, condition, message="Deleted, with the voice it was made with."):
    """The user's jobs matching `condition` stop being served: status `deleted` (holds of unfinished ones
    released), result files removed unless another user's result is the same file, cache entries dropped.
    Jobs that followed one of them compute on their own."""
    return len(_take_out(sa.and_(Job.user_id == user.id, condition), _DELETABLE, _remove_unless_served,
                         dict(status="deleted", error_code="gone", error_message=message,
                              **{name: None for name in RESULT_FIELDS})))


def _remove_unless_served(result_path, parts=()):
    """Delete a result file (and its parts) no succeeded job refers to any more (a result file exists only
    while served)."""
    served = db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(
        Job.result_path == result_path, Job.status == "succeeded"))
    if not served:
        files.delete(result_path, parts)
