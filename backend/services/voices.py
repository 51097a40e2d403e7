"""Reference recordings: decode, check, store normalized (content-addressed); saved voices per user."""
import hashlib
import io
import json
from dataclasses import asdict, dataclass

import numpy as np
import soundfile
import sqlalchemy as sa
from flask import current_app

from backend.errors import ApiError
from backend.extensions import db, get_redis
from backend.models import Voice, isoformat, utcnow
from backend import celery_app
from backend.celery_app import DEFAULT_QUEUE, FORGET_RECORDING
from backend.services import audio, cache, jobs, media, moderation
from backend.services.transactions import end_read, write_transaction

PROMPT_MEMO = "vm:prompt-of:"  # digest of uploaded bytes -> the stored, normalized recording


@dataclass
class Prompt:
    """A stored reference recording: where it is, its digest and length."""

    path: str
    sha256: str
    duration: float


def store_prompt(data, declared_format, sample_rate, field):
    """Decode and check a recording, keep it as 16 kHz mono WAV named by its SHA-256. The same bytes sent
    again are recognised by their digest before anything is decoded (no ffmpeg on a repeat)."""
    raw_key = f"{PROMPT_MEMO}{hashlib.sha256(data).hexdigest()}:{declared_format}:{sample_rate}"
    known = _known_prompt(raw_key)
    if known is not None:
        return known
    prompt = _decode_and_store(data, declared_format, sample_rate, field)
    cache.remember(raw_key, json.dumps(asdict(prompt)))
    return prompt


def _known_prompt(raw_key):
    """The stored recording for these raw bytes, if it was decoded before and is still there."""
    known = cache.recall(raw_key)
    if known is None:
        return None
    prompt = Prompt(**json.loads(known))
    return prompt if media.exists(prompt.path) else None


def _decode_and_store(data, declared_format, sample_rate, field):
    config = current_app.config
    end_read()  # ffmpeg may take seconds: no database snapshot is held meanwhile
    decoded = audio.decode(data, declared_format, sample_rate, max_seconds=config["AUDIO_MAX_SECONDS"],
                           timeout=config["FFMPEG_TIMEOUT"], field=field)
    audio.check_duration(decoded, config["AUDIO_MIN_SECONDS"], config["AUDIO_MAX_SECONDS"], field)
    if float(np.abs(decoded.samples).max()) < 1e-3:
        raise ApiError("invalid_audio", "The recording is silent; check the microphone and record again.", field)
    wav = audio.encode(decoded.samples, decoded.sample_rate, "wav").data
    digest = hashlib.sha256(wav).hexdigest()
    path = media.upload_path("prompts", digest, "wav")
    media.write_atomic(path, wav)
    return Prompt(path, digest, round(decoded.duration, 3))


def load_prompt(path):
    """The stored recording as float32 samples at 16 kHz."""
    samples, rate = soundfile.read(io.BytesIO(media.read(path)), dtype="float32")
    return samples, rate


def create(user, data, declared_format, sample_rate, prompt_text, name, consent_text):
    """Save a voice for the user (its name and transcript moderated first) with its consent record."""
    texts = {"name": (name or "").strip(), "prompt_text": (prompt_text or "").strip()}
    flags = moderation.check(user, texts)
    prompt = store_prompt(data, declared_format, sample_rate, "audio")
    voice = Voice(user_id=user.id, name=texts["name"][:64] or "我的声音", prompt_text=texts["prompt_text"] or None,
                  audio_sha256=prompt.sha256, duration=prompt.duration, consent_text=consent_text,
                  consent_at=utcnow())
    with write_transaction():
        db.session.add(voice)
    moderation.record_flags(flags, user, texts, voice_id=voice.id)
    return voice


def get_owned(user, voice_id):
    """The user's voice, or 404 not_found."""
    voice = db.session.get(Voice, voice_id) if voice_id else None
    if voice is None or voice.user_id != user.id:
        raise ApiError("not_found", f"No voice {voice_id!r}; create one with POST /api/v1/voices.", "voice_id")
    return voice


def prompt_of(voice):
    """The stored recording behind a voice."""
    return Prompt(media.upload_path("prompts", voice.audio_sha256, "wav"), voice.audio_sha256, voice.duration)


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
        db.session.delete(voice)
    jobs.delete_results(user, jobs.made_with_recording(digest))
    other_voices = db.session.scalar(sa.select(sa.func.count()).select_from(Voice).where(Voice.audio_sha256 == digest))
    if other_voices or jobs.count_unfinished(jobs.made_with_recording(digest)):
        return
    forget_upload(media.upload_path("prompts", digest, "wav"))
    _forget_on_workers(digest)


def forget_upload(path):
    """Delete an upload and the memo entries that recognise its raw bytes (so no cache entry outlives it)."""
    media.delete(path)
    if not path.startswith(f"{media.PRIVATE_DIR}/prompts/"):
        return  # the memo recognises recordings only
    try:
        redis = get_redis()
        for key in redis.scan_iter(match=PROMPT_MEMO + "*", count=500):
            value = redis.get(key)
            if value and json.loads(value).get("path") == path:
                redis.delete(key)
    except Exception:  # noqa: BLE001 - the memo checks the file exists before using it
        current_app.logger.warning("could not forget the memo of %s", path, exc_info=True)


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
