"""Media moderation: a WeChat user's uploads (photos, recordings) and every result made for them are submitted
to WeChat's mediaCheckAsync (v2); the verdict arrives later by message push (api/wechat_push.py).

A file is checked once, by its content-addressed path (`media_checks`), and its verdict applies to every job
or saved voice linked to it (`media_check_subjects`). Policy (VOXMOJI_MODERATION):

- `post`: a result is delivered at once; a `risky` verdict withdraws it: the job becomes `blocked`
  (error content_blocked), the file is deleted and its signed URLs answer 410.
- `pre`: a computed job waits in `reviewing`, its hold still held and its URL not handed out, until every
  file of it passed; then it succeeds (and is charged). A `risky` verdict blocks it and releases the hold.

Refunds: a withdrawn result that was charged is refunded (ledger `adjust` for the job), unless the file
WeChat refused is the user's own upload: then the user supplied the violating content and keeps the charge.
`review` verdicts, checks WeChat could not run, and checks with no verdict after VOXMOJI_MEDIA_CHECK_TIMEOUT
go to the review queue; under `pre` the job waits for the moderator's decision (`decide`).
"""
import hmac
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend import celery_app
from backend.celery_app import CHECK_MEDIA, DEFAULT_QUEUE
from backend.errors import ApiError
from backend.extensions import db
from backend.models import REVIEWING, Job, MediaCheck, MediaCheckSubject, ReviewItem, User, Voice, utcnow
from backend.services.backoffice import voices
from backend.services.backoffice.wechat import MSG_LABELS, WeChatClient
from backend.services.jobs import lifecycle, lookup
from backend.services.media import files
from backend.storage import PRIVATE_PREFIX
from backend.transactions import write_transaction

DECIDED = ("pass", "review", "risky")
_INPUT_PATHS = ("image_path", "source_path", "target_path", "prompt_path")
CHECK_URL_TTL = 3600  # WeChat downloads the file within its 30-minute verdict window


def enabled(user):
    """Media checks need WeChat credentials and a WeChat user (mediaCheckAsync asks for the openid)."""
    return bool(current_app.config["WECHAT_APPID"]) and bool(user is not None and user.openid)


AUDIO_EXTENSIONS = ("wav", "mp3", "ogg", "opus", "aac", "flac")
CHECKABLE = ("png", "jpg", "jpeg", "gif", "webp") + AUDIO_EXTENSIONS  # what mediaCheckAsync reads


def media_type(path):
    return "audio" if path.rsplit(".", 1)[-1] in AUDIO_EXTENSIONS else "image"


def checked_outputs(result):
    """The files of a result WeChat can check: the result itself when it is an image or audio, and its
    parts (a pack's stickers in its zip, a talking sticker's GIF beside its MP4)."""
    path = result.get("result_path")
    if not path:
        return []
    parts = [files.part_path(path, name) for name in lookup.parts_of(result.get("result_meta"))]
    return parts + ([path] if path.rsplit(".", 1)[-1] in CHECKABLE else [])


def deliver(job, result):
    """Worker side: the job's result is computed. Finish it as the policy says and submit its files."""
    user = db.session.get(User, job.user_id)
    if not enabled(user):
        return lifecycle.finish(job.id, "succeeded", **result)
    paths = [job.params.get(name) for name in _INPUT_PATHS] + checked_outputs(result)
    checks = link({path for path in paths if path}, job.id, user.openid)
    cleared = all(check.status == "pass" for check in checks)
    status = "succeeded" if current_app.config["MODERATION"] == "post" or cleared else REVIEWING
    finished = lifecycle.finish(job.id, status, **result)
    for check in checks:  # verdicts that arrived before this job was linked apply to it too
        if check.status in ("pass", "risky"):
            apply(check)
    submit_new(checks)
    return finished


def register_voice(voice, user):
    """A saved voice's recording is checked like an upload; a risky verdict deletes the voice (and blocks what
    was made with it)."""
    if enabled(user):
        submit_new(link({files.upload_path("prompts", voice.audio_sha256, "wav")}, voice.id, user.openid))


def link(paths, subject_id, openid):
    """The checks of these files (created when new), each linked to the subject."""
    checks = []
    for path in sorted(paths):
        for _attempt in range(3):
            try:
                with write_transaction():
                    check = db.session.scalars(sa.select(MediaCheck).where(MediaCheck.path == path)).first()
                    if check is None:
                        check = MediaCheck(path=path, media_type=media_type(path), openid=openid, status="new",
                                           attempts=0)
                        db.session.add(check)
                        db.session.flush()
                    if db.session.get(MediaCheckSubject, (check.id, subject_id)) is None:
                        db.session.add(MediaCheckSubject(check_id=check.id, subject_id=subject_id))
                checks.append(check)
                break
            except IntegrityError:
                continue  # another process created the same check meanwhile
    return checks


def submit_new(checks):
    for check in checks:
        if check.status == "new":
            try:
                celery_app.send(CHECK_MEDIA, check.id, queue=DEFAULT_QUEUE)
            except Exception:  # noqa: BLE001 - the sweep submits checks left `new`
                current_app.logger.warning("could not queue media check %s", check.id, exc_info=True)


def submit(check_id):
    """Send one file to mediaCheckAsync (a Celery task runs this; WeChat errors raise to be retried)."""
    check = db.session.get(MediaCheck, check_id)
    if check is None or check.status != "new":
        return None
    url = current_app.config["PUBLIC_BASE_URL"] + fetch_path(check)
    with write_transaction():
        db.session.execute(sa.update(MediaCheck).where(MediaCheck.id == check_id)
                           .values(attempts=MediaCheck.attempts + 1))
    trace_id = WeChatClient.from_config(current_app.config).media_check_async(check.openid, url, check.media_type)
    with write_transaction():
        db.session.execute(sa.update(MediaCheck).where(MediaCheck.id == check_id, MediaCheck.status == "new")
                           .values(status="pending", trace_id=trace_id, submitted_at=utcnow()))
    return trace_id


def give_up(check_id, reason):
    """WeChat could not check the file: a person decides instead."""
    with write_transaction():
        changed = db.session.execute(sa.update(MediaCheck).where(
            MediaCheck.id == check_id, MediaCheck.status.in_(("new", "pending")))
            .values(status="review", label=reason, decided_at=utcnow())).rowcount
    if changed:
        _queue_for_review(db.session.get(MediaCheck, check_id))


def fetch_path(check):
    """The signed, expiring path WeChat downloads the file from (api/wechat_push.py serves it)."""
    expires = int(time.time()) + CHECK_URL_TTL
    return f"/api/v1/wechat/media/{check.id}?expires={expires}&sig={files.signature(f'check:{check.id}', expires)}"


def receive_verdict(trace_id, suggest, label):
    """A `wxa_media_check` push: record the verdict once and apply it. False for an unknown trace_id."""
    check = db.session.scalars(sa.select(MediaCheck).where(MediaCheck.trace_id == trace_id)).first()
    if check is None:
        return False
    if suggest not in DECIDED:
        suggest = "review"
    label = MSG_LABELS.get(_int_or_none(label), str(label or ""))[:32]
    with write_transaction():
        changed = db.session.execute(sa.update(MediaCheck).where(
            MediaCheck.id == check.id, MediaCheck.status == "pending")
            .values(status=suggest, label=label, decided_at=utcnow())).rowcount
    if changed:
        db.session.refresh(check)
        if suggest == "review":
            _queue_for_review(check)
        apply(check)
    return True


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def apply(check):
    """Apply a decided check to its subjects: risky withdraws, pass lets reviewing jobs finish."""
    subjects = db.session.scalars(sa.select(MediaCheckSubject.subject_id)
                                  .where(MediaCheckSubject.check_id == check.id)).all()
    job_ids = [s for s in subjects if s.startswith("t_")]
    if check.status == "risky":
        _withdraw(check, job_ids, [s for s in subjects if s.startswith("v_")])
    elif check.status == "pass":
        for job_id in job_ids:
            if _all_passed(job_id):
                lifecycle.conclude_review(job_id)


def _all_passed(job_id):
    statuses = db.session.scalars(sa.select(MediaCheck.status).join(
        MediaCheckSubject, MediaCheckSubject.check_id == MediaCheck.id).where(
        MediaCheckSubject.subject_id == job_id)).all()
    return all(status == "pass" for status in statuses)


def _withdraw(check, job_ids, voice_ids):
    label = check.label or "risky"
    upload = check.path.startswith(PRIVATE_PREFIX)
    message = (f"Withdrawn by content moderation ({label}): "
               + ("the uploaded file is not allowed." if upload else "the result is not allowed."))
    results = db.session.scalars(sa.select(Job.result_path).where(
        Job.id.in_(job_ids), Job.result_path.is_not(None))).all() if job_ids else []
    paths = {*results} | ({check.path} if not upload else set())
    condition = sa.or_(Job.id.in_(job_ids), Job.result_path.in_(paths)) if paths else Job.id.in_(job_ids)
    blocked = lifecycle.block(condition, message, refund=not upload)
    if upload:
        files.delete(check.path)
    for voice_id in voice_ids:
        voice = db.session.get(Voice, voice_id)
        if voice is not None:
            voices.delete(db.session.get(User, voice.user_id), voice_id)
    current_app.logger.warning("media check %s (%s) risky: blocked %s, deleted voices %s", check.id, check.path,
                               blocked, voice_ids)
    return blocked


def _queue_for_review(check):
    """Put a check a person must decide in the review queue, once per subject."""
    subjects = db.session.scalars(sa.select(MediaCheckSubject.subject_id)
                                  .where(MediaCheckSubject.check_id == check.id)).all()
    with write_transaction():
        for subject in subjects:
            owner = db.session.scalar(sa.select(Job.user_id).where(Job.id == subject)) if subject.startswith("t_") \
                else db.session.scalar(sa.select(Voice.user_id).where(Voice.id == subject))
            if owner is None:
                continue
            db.session.add(ReviewItem(kind="flag", source="wechat-media", label=(check.label or "review")[:32],
                                      field="media", text=check.path, user_id=owner,
                                      job_id=subject if subject.startswith("t_") else None,
                                      voice_id=subject if subject.startswith("v_") else None))


def decide(check_id, verdict):
    """A moderator's decision on a check WeChat left open (`pass` or `risky`)."""
    if verdict not in ("pass", "risky"):
        raise ValueError("verdict must be pass or risky")
    with write_transaction():
        db.session.execute(sa.update(MediaCheck).where(MediaCheck.id == check_id)
                           .values(status=verdict, decided_at=utcnow()))
    check = db.session.get(MediaCheck, check_id)
    db.session.refresh(check)
    apply(check)


def sweep():
    """Beat: submit checks whose task message was lost; hand checks with no verdict in time to a person."""
    config = current_app.config
    stale = utcnow() - timedelta(seconds=config["MEDIA_CHECK_TIMEOUT"])
    lost = db.session.scalars(sa.select(MediaCheck).where(
        MediaCheck.status == "new", MediaCheck.created_at < utcnow() - timedelta(seconds=60))).all()
    submit_new(lost)
    overdue = db.session.scalars(sa.select(MediaCheck.id).where(
        MediaCheck.status == "pending", MediaCheck.submitted_at < stale)).all()
    for check_id in overdue:
        give_up(check_id, "no_verdict")
    return {"resubmitted": len(lost), "overdue": len(overdue)}


def withdrawn(relative):
    """True when a media path is a result moderation withdrew (its URLs answer 410)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(
        Job.result_path == relative, Job.status == "blocked")) > 0


def check_for_fetch(check_id, expires, sig):
    """The check whose file a signed fetch URL names, or 404."""
    check = db.session.get(MediaCheck, check_id)
    try:
        expires_at = int(expires)
    except (TypeError, ValueError):
        expires_at = 0
    if (check is None or expires_at < time.time()
            or not hmac.compare_digest(files.signature(f"check:{check_id}", expires_at), sig or "")):
        raise ApiError("not_found", "No such file.")
    return check
