"""Saved voices: a user's reference recording kept with its consent record, listed, deleted with what was made from it."""
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend import account_copies, celery_app
from backend.celery_app import DEFAULT_QUEUE, FORGET_RECORDING
from backend.errors import ApiError
from backend.extensions import db
from backend.models import ReviewItem, Voice, isoformat, utcnow
from backend.services.backoffice import moderation
from backend.services.jobs import lifecycle
from backend.services.media import files, recordings
from backend.transactions import write_transaction


def checked_texts(user, name, prompt_text):
    """A new voice's name and transcript, moderated (refused 4xx before anything is stored): `(texts, flags)`."""
    texts = {"name": (name or "").strip(), "prompt_text": (prompt_text or "").strip()}
    return texts, moderation.check(user, texts)


def create(user, prompt, texts, flags, consent, verdict):
    """Save a voice for the user from a stored recording (`prompt`), with its consent record: the sentence and
    token id (`consent`: one voice per token, 422 consent_required for a second) and how the recording was
    checked (`verdict`). A voice `reviewing` goes to the review queue, where a moderator hears it."""
    voice = Voice(user_id=user.id, name=texts["name"][:64] or "我的声音", prompt_text=texts["prompt_text"] or None,
                  audio_sha256=prompt.sha256, duration=prompt.duration, consent_text=consent.sentence,
                  consent_at=utcnow(), consent_token_id=consent.token_id, consent_status=verdict.status,
                  consent_check=verdict.method, consent_transcript=verdict.transcript,
                  consent_error_rate=verdict.error_rate)
    try:
        with write_transaction():
            db.session.add(voice)
            db.session.flush()
            if verdict.status == "reviewing":
                db.session.add(ReviewItem(kind="consent", source="consent", label="consent", field="audio",
                                          text=consent.sentence, user_id=user.id, voice_id=voice.id))
    except IntegrityError:  # the same token in a request that raced this one
        raise _token_spent() from None
    moderation.record_flags(flags, user, texts, voice_id=voice.id)
    return voice


def refuse_spent_token(token_id):
    """422 consent_required when a voice was saved with this consent token already (one voice per token)."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(Voice).where(Voice.consent_token_id == token_id)):
        raise _token_spent()


def _token_spent():
    return ApiError("consent_required", "This consent token saved a voice already; get a new sentence from "
                    "GET /api/v1/voices/consent and record it.", "consent_token")


def discard_recording(prompt):
    """A stored recording no voice or job uses (a refused consent recording): delete it."""
    used = db.session.scalar(sa.select(sa.func.count()).select_from(Voice).where(
        Voice.audio_sha256 == prompt.sha256))
    if not used and not lifecycle.count_unfinished(lifecycle.made_with_recording(prompt.sha256)):
        recordings.forget_upload(prompt.path)


def confirm_consent(voice_id):
    """A moderator heard the recording say its sentence: the voice is usable (verified by a moderator)."""
    with write_transaction():
        changed = db.session.execute(sa.update(Voice).where(Voice.id == voice_id, Voice.consent_status ==
                                                            "reviewing").values(consent_status="verified",
                                                                                consent_check="moderator")).rowcount
    if changed:
        account_copies.changed(db.session.scalar(sa.select(Voice.user_id).where(Voice.id == voice_id)))


def usable(user, voice_id):
    """The user's voice to speak with: 404 not_found, or 409 consent_pending while a moderator has not yet heard
    its consent recording."""
    voice = get_owned(user, voice_id)
    if voice.consent_status == "reviewing":
        raise ApiError("consent_pending", "This voice's consent recording waits for a moderator; you can use the "
                       "voice once it is approved (usually within a day).", "voice_id")
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
            "usable": voice.consent_status != "reviewing",
            "consent": {"text": voice.consent_text, "at": isoformat(voice.consent_at),
                        "audio_sha256": voice.audio_sha256, "status": voice.consent_status,
                        "checked_by": voice.consent_check} if voice.consent_text else None}
