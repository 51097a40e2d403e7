"""Submitting a request as a job: the user's own repeat, a twin in flight to follow, or a new job with its
hold (docs/API.md, "Who pays"); and, for the worker, the result of a finished twin."""
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from backend import account_copies, metrics
from backend.errors import ApiError
from backend.extensions import db
from backend.models import UNFINISHED, Job
from backend.row_copies import attach
from backend.services.jobs import cache, ledger, lifecycle
from backend.services.media import files
from backend.transactions import write_transaction


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
            lifecycle.resolve_followers(job.parent_id)  # the leader may have finished while we joined
            db.session.refresh(job)
        else:
            metrics.job_transition(kind, "queued")
            lifecycle.enqueue(job)
        return job
    raise ApiError("service_unavailable", "The request is busy; please retry in a moment.")


def _own_result(fingerprint, user_id):
    """The user's own succeeded job with this fingerprint whose result file is still there. Asked in turn: this
    process's copy (kept while the account's stamp holds: withdrawing or deleting a result bumps it); the job Redis
    names (its entry goes with the result, and the job's row confirms it); the database."""
    job = _still_there(account_copies.recall(user_id, Job, fingerprint))
    if job is not None:
        return job  # already this process's copy
    job = _still_there(_own_in_redis(fingerprint, user_id))
    if job is None:
        job = _latest_served(sa.select(Job).where(Job.cache_key == fingerprint, Job.user_id == user_id))
        if job is not None:
            cache.store_own(job)
    if job is not None:
        account_copies.remember(user_id, job, fingerprint)
    return job


def _still_there(job):
    """The job, unless there is none or its result file was lost outside the service."""
    return job if job is not None and files.exists(job.result_path) else None


def _own_in_redis(fingerprint, user_id):
    """The user's own job Redis names for this fingerprint, if its row confirms it is still that result."""
    copy = cache.lookup_own(user_id, fingerprint)
    if copy is None:
        return None
    row = db.session.execute(sa.select(Job.status, Job.result_path).where(Job.id == copy["id"])).first()
    if row is not None and tuple(row) == ("succeeded", copy["result_path"]):  # the truth
        return attach(Job, copy)
    cache.forget_own(user_id, fingerprint)
    return None


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
            and files.exists(job.result_path))


def _unfinished_twin(fingerprint, user_id=None):
    """The job computing this fingerprint (the leader), or with user_id, that user's own unfinished job for it."""
    query = sa.select(Job).where(Job.cache_key == fingerprint, Job.status.in_(UNFINISHED))
    if user_id is None:
        query = query.where(Job.parent_id.is_(None))
    else:
        query = query.where(Job.user_id == user_id)
    return db.session.scalars(query.limit(1)).first()


def finished_result(fingerprint):
    """Worker side: `(result fields, seconds it took to compute)` of a finished twin, to hand to a job without
    computing it again (no sooner than that many seconds after the job started); None without one."""
    twin = _any_result(fingerprint)
    if twin is None:
        return None
    took = (twin.finished_at - twin.started_at).total_seconds() if twin.started_at and twin.finished_at else 0.0
    return {"engine": twin.engine, **{name: getattr(twin, name) for name in lifecycle.RESULT_FIELDS}}, max(took, 0.0)
