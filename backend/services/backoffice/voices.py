"""Saved voices: a user's reference recording kept with its consent record, listed, deleted with what was made from it."""
import sqlalchemy as sa
from flask import current_app

from backend import account_copies, celery_app
from backend.celery_app import DEFAULT_QUEUE, FORGET_RECORDING
from backend.errors import ApiError
from backend.extensions import db
from backend.models import Voice, isoformat, utcnow
from backend.services.backoffice import moderation
from backend.services.jobs import lifecycle
from backend.services.media import files, recordings
from backend.transactions import write_transaction


def create(user, data, declared_format, sample_rate, prompt_text, name, consent_text):
    """Save a voice for the user (its name and transcript moderated first) with its consent record."""
    texts = {"name": (name or "").strip(), "prompt_text": (prompt_text or "").strip()}
    flags = moderation.check(user, texts)
    prompt = recordings.store_prompt(data, declared_format, sample_rate, "audio")
    voice = Voice(user_id=user.id, name=texts["name"][:64] or "我的声音", prompt_text=texts["prompt_text"] or None,
                  audio_sha256=prompt.sha256, duration=prompt.duration, consent_text=consent_text,
                  consent_at=utcnow())
    with write_transaction():
        db.session.add(voice)
    moderation.record_flags(flags, user, texts, voice_id=voice.id)
    return voice


def get_owned(user, voice_id):
    """The user's voice, or 404 not_found."""
    voice = account_copies.recall(user.id, Voice, voice_id) if voice_id else None
    if voice is None:
        voice = db.session.get(Voice, voice_id) if voice_id else None
        if voice is not None and voice.user_id == user.id:
            account_copies.remember(user.id, voice, voice_id)
    if voice is None or voice.user_id != user.id:
        raise ApiError("not_found", f"No voice {voice_id!r}; create one with POST /api/v1/voices.", "voice_id")
    return voice


def list_for(user):
    """The user's voices, newest first."""
    return db.session.scalars(
        sa.select(Voice).where(Voice.user_id == user.id).order_by(Voice.created_at.desc())
    ).all()


def delete(user, voice_id):
    """Delete a saved voice and everything made from its recording for this user: the jobs made with it stop
    being served (status `deleted`, unfinished ones released), their result files and cache entries go unless
    another user's result is the same file, and the recording and what engines derived from it (profiles,
    speaker registrations on every worker) go unless another voice or job still needs the same bytes."""
    voice = get_owned(user, voice_id)
    digest = voice.audio_sha256
    with write_transaction():
        db.session.execute(sa.delete(Voice).where(Voice.id == voice.id))
    account_copies.changed(user.id)
    lifecycle.delete_results(user, lifecycle.made_with_recording(digest))
    other_voices = db.session.scalar(sa.select(sa.func.count()).select_from(Voice).where(Voice.audio_sha256 == digest))
    if other_voices or lifecycle.count_unfinished(lifecycle.made_with_recording(digest)):
        return
    recordings.forget_upload(files.upload_path("prompts", digest, "wav"))
    _forget_on_workers(digest)


def _forget_on_workers(digest):
    try:
        celery_app.send(FORGET_RECORDING, digest, queue=DEFAULT_QUEUE)
    except Exception:  # noqa: BLE001 - logged; the caches hold only derived statistics of deleted bytes
        current_app.logger.error("could not ask the workers to forget recording %s", digest, exc_info=True)


def present(voice):
    """The voice object of the API."""
    return {"voice_id": voice.id, "name": voice.name, "duration": voice.duration,
            "prompt_text": voice.prompt_text, "created_at": isoformat(voice.created_at),
            "consent": {"text": voice.consent_text, "at": isoformat(voice.consent_at),
                        "audio_sha256": voice.audio_sha256} if voice.consent_text else None}
