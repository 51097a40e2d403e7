"""The review queue's decisions: approve or reject what moderation flagged, WeChat left to a person, or users
reported. A rejection withdraws the content (its tasks `blocked`, files deleted, URLs 410; no refund: the user
made it) and can block the user; every decision is in the audit log."""
import sqlalchemy as sa

from backend.extensions import db
from backend.models import Job, MediaCheck, MediaCheckSubject, ReviewItem, User, Voice
from backend.services.backoffice import accounts, audit, media_moderation, voices
from backend.services.jobs import lifecycle
from backend.services.media import files
from backend.transactions import write_transaction

REASON_MAX = 200


def open_items(kind=None, limit=50):
    """Open items, oldest first (a moderator works through them in order)."""
    query = sa.select(ReviewItem).where(ReviewItem.status == "open")
    if kind in ("flag", "report", "consent"):
        query = query.where(ReviewItem.kind == kind)
    return db.session.scalars(query.order_by(ReviewItem.id).limit(limit)).all()


def counts():
    rows = db.session.execute(sa.select(ReviewItem.status, sa.func.count()).group_by(ReviewItem.status)).all()
    return dict(rows)


def approve(item_id, actor):
    """The content is fine: the item (and the subject's other open items) closes; a task waiting for a
    person's verdict (pre policy) is delivered."""
    item, subject = _decide(item_id, "approved")
    for check_id in _checks_waiting(subject):
        media_moderation.decide(check_id, "pass")
    if item.kind == "consent":  # the moderator heard the speaker read the sentence: the voice can speak
        voices.confirm_consent(item.voice_id)
    audit.record(actor, "review_approve", None, item_id=item_id, job_id=item.job_id, voice_id=item.voice_id,
                 user_id=item.user_id)
    return item


def reject(item_id, actor, reason, block_user=False):
    """The content is not allowed: withdraw it (and block its author if asked)."""
    reason = (reason or "").strip()[:REASON_MAX] or "违反内容规范"
    item, subject = _decide(item_id, "rejected")
    for check_id in _checks_waiting(subject):
        with write_transaction():
            db.session.execute(sa.update(MediaCheck).where(MediaCheck.id == check_id).values(status="risky",
                                                                                              label="moderator"))
    withdrawn = []
    if item.job_id:
        path = db.session.scalar(sa.select(Job.result_path).where(Job.id == item.job_id))
        condition = sa.or_(Job.id == item.job_id, Job.result_path == path) if path else Job.id == item.job_id
        withdrawn = lifecycle.block(condition, f"Withdrawn by a moderator: {reason}", refund=False)
    if item.voice_id:
        voice = db.session.get(Voice, item.voice_id)
        if voice is not None:
            voices.delete(db.session.get(User, voice.user_id), voice.id)
    author = author_of(item)
    if block_user and author:
        accounts.set_blocked(author, True, actor, f"review item {item_id}: {reason}")
    audit.record(actor, "review_reject", reason, item_id=item_id, job_id=item.job_id, voice_id=item.voice_id,
                 user_id=author, withdrawn=withdrawn, blocked_user=bool(block_user and author))
    return item


def consent_recording(item_id):
    """The stored recording of a consent item's voice (a media path), or None."""
    item = db.session.get(ReviewItem, item_id)
    if item is None or item.kind != "consent" or not item.voice_id:
        return None
    digest = db.session.scalar(sa.select(Voice.audio_sha256).where(Voice.id == item.voice_id))
    return files.upload_path("prompts", digest, "wav") if digest else None


def author_of(item):
    """Who made the content under review: the task's or voice's owner (for a report, item.user_id is the
    reporter), else the item's user."""
    if item.job_id:
        owner = db.session.scalar(sa.select(Job.user_id).where(Job.id == item.job_id))
        if owner:
            return owner
    if item.voice_id:
        owner = db.session.scalar(sa.select(Voice.user_id).where(Voice.id == item.voice_id))
        if owner:
            return owner
    return None if item.kind == "report" else item.user_id


def _decide(item_id, status):
    item = db.session.get(ReviewItem, item_id)
    if item is None:
        raise KeyError(item_id)
    subject = item.job_id or item.voice_id
    if item.job_id:
        same = ReviewItem.job_id == item.job_id
    elif item.voice_id:  # a voice's consent is decided only on its own item (approving its name is not hearing it)
        same = sa.and_(ReviewItem.voice_id == item.voice_id, (ReviewItem.kind == "consent") == (item.kind == "consent"))
    else:
        same = ReviewItem.id == item.id
    with write_transaction():
        db.session.execute(sa.update(ReviewItem).where(sa.or_(ReviewItem.id == item.id, same),
                                                       ReviewItem.status == "open").values(status=status))
    db.session.refresh(item)
    return item, subject


def _checks_waiting(subject):
    """Media checks of the subject that wait for a person (WeChat said review, or gave no verdict)."""
    if not subject:
        return []
    return db.session.scalars(sa.select(MediaCheck.id).join(
        MediaCheckSubject, MediaCheckSubject.check_id == MediaCheck.id).where(
        MediaCheckSubject.subject_id == subject, MediaCheck.status.in_(("review", "pending", "new")))).all()
