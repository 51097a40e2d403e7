"""Complaints (举报): a user reports a result they were shown, by its task (their own) or by its media URL
(one this service signed, e.g. a sticker forwarded in chat, expired or not). Reports land in the review queue.
The answer names the reporter's own task only: identical requests share one result file, so naming the task a
link belongs to would tell the reporter who else made the same thing."""
import hmac
from urllib.parse import parse_qs, urlparse

import sqlalchemy as sa

from backend.errors import ApiError
from backend.extensions import db
from backend.models import Job, ReviewItem
from backend.services.backoffice import moderation
from backend.services.jobs import lookup
from backend.services.media import files
from backend.transactions import write_transaction


def report(user, job_id, media_url, category, reason):
    """File a report (or return the user's open report of the same result): `(item, created)`."""
    if bool(job_id) == bool(media_url):
        raise ApiError("invalid_request", "Send job_id (your task) or media_url (a result's link), one of them.",
                       "job_id")
    job = lookup.get_owned(user, job_id) if job_id else _job_of_url(user, media_url)
    reason = (reason or "").strip()
    moderation.check(user, {"reason": reason})
    existing = db.session.scalars(sa.select(ReviewItem).where(
        ReviewItem.kind == "report", ReviewItem.user_id == user.id, ReviewItem.job_id == job.id,
        ReviewItem.status == "open")).first()
    if existing is not None:
        return existing, False
    item = ReviewItem(kind="report", source="user", label=category, field=None, text=reason or None,
                      user_id=user.id, job_id=job.id)
    with write_transaction():
        db.session.add(item)
    return item, True


def _job_of_url(user, url):
    """The job whose result a media URL this service signed points at (an expired signature still names it): the
    reporter's own if they made that result too, else the first one made."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    path = parsed.path
    if not path.startswith("/media/") or "md5" not in query or "expires" not in query:
        raise ApiError("invalid_request", "media_url is not a result link of this service.", "media_url")
    if not hmac.compare_digest(files.signature(path, query["expires"][0]), query["md5"][0]):
        raise ApiError("invalid_request", "media_url is not a result link of this service.", "media_url")
    job = db.session.scalars(sa.select(Job).where(Job.result_path == path[len("/media/"):])
                             .order_by((Job.user_id == user.id).desc(), Job.created_at).limit(1)).first()
    if job is None:
        raise ApiError("not_found", "That result no longer exists.", "media_url")
    return job


def present(item):
    """The report as its reporter sees it: `job_id` is null when the result reported is not the reporter's own."""
    own = db.session.scalar(sa.select(Job.user_id).where(Job.id == item.job_id)) == item.user_id
    return {"report_id": item.id, "job_id": item.job_id if own else None, "category": item.label,
            "status": item.status}
