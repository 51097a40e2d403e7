"""Reading a user's jobs: one by id (owner only), a page of them, a result's companion files."""
import sqlalchemy as sa

from backend.errors import ApiError
from backend.extensions import db
from backend.models import Job


def parts_of(result_meta):
    """The names of a result's companion files (result_meta["parts"]), stored at media.part_path."""
    return list((result_meta or {}).get("parts") or ())


def get_owned(user, job_id):
    """The user's job, or 404 (another user's job is indistinguishable from a missing one)."""
    job = db.session.get(Job, job_id)
    if job is None or job.user_id != user.id:
        raise ApiError("not_found", f"No task {job_id!r} for this user.", "task_id")
    return job


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
