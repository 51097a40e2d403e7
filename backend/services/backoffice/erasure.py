"""A user's data leaving the service: erasure on request (`DELETE /api/v1/me`), expiry after the retention
period, and the export a user may download (`GET /api/v1/me/export`).

What is erased: saved voices (their recordings and what the engines derived from them on every worker),
every result and upload of the user's jobs (unless another user's job or voice is the same bytes), the
cache entries pointing at them, refresh tokens, and the texts kept in the review queue. What stays,
anonymised: the user row (its WeChat ids replaced, blocked) and the ledger (accounting must still balance).
"""
import io
import json
import zipfile
from datetime import timedelta, timezone

import sqlalchemy as sa
from flask import current_app

from backend import account_copies, celery_app
from backend.celery_app import DEFAULT_QUEUE, ERASE_USER
from backend.extensions import db
from backend.models import UNFINISHED, Job, LedgerEntry, RefreshToken, ReviewItem, User, Voice, isoformat, utcnow
from backend.services.backoffice import voices
from backend.services.jobs import ledger, lifecycle
from backend.services.media import files, recordings
from backend.transactions import write_transaction

UPLOAD_PARAMS = ("image_path", "source_path", "target_path", "prompt_path")
ERASED_PREFIX = "erased:"


def request_erasure(user):
    """At once: the account stops working (its WeChat ids are released, so logging in again makes a new
    account, without a second signup grant: a keyed hash of each id is kept) and its refresh tokens go; then a
    worker erases the data (tasks.erase_user)."""
    with write_transaction():
        ledger.remember_identities(user.openid, user.unionid)  # one signup grant per person, erased or not
        db.session.execute(sa.update(User).where(User.id == user.id).values(
            openid=ERASED_PREFIX + user.id, unionid=None, blocked=True))
        db.session.execute(sa.delete(RefreshToken).where(RefreshToken.user_id == user.id))
    account_copies.changed(user.id)
    try:
        celery_app.send(ERASE_USER, user.id, queue=DEFAULT_QUEUE)
    except Exception:  # noqa: BLE001 - the retention sweep finishes erasures whose message was lost
        current_app.logger.warning("could not enqueue the erasure of %s; the sweep will do it", user.id,
                                   exc_info=True)


def pending_erasures():
    """Users whose erasure was asked for but whose data is still there (a lost or failed erasure task)."""
    erased = User.openid.like(ERASED_PREFIX + "%")
    with_voice = sa.exists().where(Voice.user_id == User.id)
    with_result = sa.exists().where(Job.user_id == User.id, Job.status == "succeeded")
    return db.session.scalars(sa.select(User.id).where(erased, sa.or_(with_voice, with_result))).all()


def erase_user(user_id):
    """Erase everything of the user that is not accounting; safe to run again (returns what it removed)."""
    user = db.session.get(User, user_id)
    if user is None:
        return {"voices": 0, "results": 0, "uploads": 0}
    voice_ids = db.session.scalars(sa.select(Voice.id).where(Voice.user_id == user.id)).all()
    for voice_id in voice_ids:
        voices.delete(user, voice_id)
    results = lifecycle.delete_results(user, sa.true())
    uploads = _delete_uploads(db.session.scalars(sa.select(Job).where(Job.user_id == user.id)).all())
    with write_transaction():
        db.session.execute(sa.delete(RefreshToken).where(RefreshToken.user_id == user.id))
        db.session.execute(sa.update(ReviewItem).where(ReviewItem.user_id == user.id).values(text=None))
        db.session.execute(sa.update(Job).where(Job.user_id == user.id).values(params={}))
        db.session.execute(sa.update(User).where(User.id == user.id).values(
            openid=ERASED_PREFIX + user.id, unionid=None, blocked=True))
    account_copies.changed(user.id)
    return {"voices": len(voice_ids), "results": results, "uploads": uploads}


def expire(now=None):
    """Retention: results and uploads of jobs that finished more than VOXMOJI_RETENTION_HOURS ago are deleted
    (the tasks show `deleted`, code `gone`); a saved voice's recording stays until its voice is deleted."""
    cutoff = (now or utcnow()) - timedelta(hours=current_app.config["RETENTION_HOURS"])
    old = Job.finished_at < cutoff
    expired = db.session.scalars(sa.select(Job).where(old, Job.status.not_in(UNFINISHED))).all()
    results = 0
    for user_id in {job.user_id for job in expired}:
        user = db.session.get(User, user_id)
        results += lifecycle.delete_results(user, sa.and_(old, Job.status == "succeeded"),
                                       message="Deleted after the retention period; make it again if you need it.")
    uploads = _delete_uploads(expired) + _delete_orphan_uploads(cutoff)
    return {"results": results, "uploads": uploads}


def _delete_orphan_uploads(cutoff):
    """Uploads older than the cutoff that no job and no saved voice refers to (a request refused after its
    photo or recording was stored, e.g. for want of tokens)."""
    referenced = {files.upload_path("prompts", digest, "wav") for digest in db.session.scalars(
        sa.select(Voice.audio_sha256)).all()}
    for params in db.session.scalars(sa.select(Job.params).where(sa.or_(
            Job.status.in_(UNFINISHED), Job.finished_at >= cutoff))).all():
        referenced |= {(params or {}).get(name) for name in UPLOAD_PARAMS}
    oldest = cutoff.replace(tzinfo=timezone.utc).timestamp()
    removed = 0
    for path, modified in list(files.listing(files.PRIVATE_DIR + "/")):
        if modified < oldest and path not in referenced:
            recordings.forget_upload(path)
            removed += 1
    return removed


def _delete_uploads(finished_jobs):
    """Delete the uploads of these jobs that no saved voice and no other (unexpired, other user's or
    unfinished) job still refers to; also forget the recognised-upload memo entries that point at them."""
    paths = {job.params.get(name) for job in finished_jobs for name in UPLOAD_PARAMS if job.params} - {None}
    if not paths:
        return 0
    job_ids = {job.id for job in finished_jobs}
    kept_prompts = {files.upload_path("prompts", digest, "wav")
                    for digest in db.session.scalars(sa.select(Voice.audio_sha256)).all()}
    removed = 0
    for path in paths - kept_prompts:
        users = db.session.scalars(sa.select(Job.id).where(sa.or_(*[
            Job.params[name].as_string() == path for name in UPLOAD_PARAMS]))).all()
        if set(users) - job_ids:
            continue  # another job that is not being cleaned up still needs it
        recordings.forget_upload(path)
        removed += 1
    return removed


def export(user):
    """The user's data as a zip: profile, voices (with their consent records), jobs and ledger, as JSON."""
    user_voices = db.session.scalars(sa.select(Voice).where(Voice.user_id == user.id)).all()
    user_jobs = db.session.scalars(sa.select(Job).where(Job.user_id == user.id).order_by(Job.created_at)).all()
    entries = db.session.scalars(sa.select(LedgerEntry).where(LedgerEntry.user_id == user.id)
                                 .order_by(LedgerEntry.id)).all()
    balance, held = ledger.balances(user.id)
    documents = {
        "profile.json": {"id": user.id, "openid": user.openid, "balance": balance, "held": held,
                         "created_at": isoformat(user.created_at)},
        "voices.json": [{**voices.present(voice), "audio_sha256": voice.audio_sha256} for voice in user_voices],
        "jobs.json": [{"task_id": job.id, "kind": job.kind, "status": job.status, "engine": job.engine,
                       "cost": job.cost, "charge": job.charge, "created_at": isoformat(job.created_at),
                       "finished_at": isoformat(job.finished_at),
                       "request": {k: v for k, v in (job.params or {}).items() if k not in UPLOAD_PARAMS}}
                      for job in user_jobs],
        "ledger.json": [{"delta": entry.delta, "kind": entry.kind, "balance_after": entry.balance_after,
                         "held_delta": entry.held_delta, "held_after": entry.held_after, "job_id": entry.job_id,
                         "created_at": isoformat(entry.created_at)} for entry in entries],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, document in documents.items():
            archive.writestr(name, json.dumps(document, ensure_ascii=False, indent=2))
    return buffer.getvalue()
