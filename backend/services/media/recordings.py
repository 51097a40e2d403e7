"""Reference recordings: decoded, checked and stored normalized (16 kHz mono WAV named by its SHA-256); the same
raw bytes are recognised by their digest before anything is decoded again."""
import hashlib
import io
import json
from dataclasses import asdict, dataclass

import numpy as np
import soundfile
from flask import current_app

from backend import memo
from backend.errors import ApiError
from backend.extensions import get_redis
from backend.services.media import audio, files
from backend.transactions import end_read

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
    memo.remember(raw_key, json.dumps(asdict(prompt)))
    return prompt


def _known_prompt(raw_key):
    """The stored recording for these raw bytes, if it was decoded before and is still there."""
    known = memo.recall(raw_key)
    if known is None:
        return None
    prompt = Prompt(**json.loads(known))
    return prompt if files.exists(prompt.path) else None


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
    path = files.upload_path("prompts", digest, "wav")
    files.write_atomic(path, wav)
    return Prompt(path, digest, round(decoded.duration, 3))


def load_prompt(path):
    """The stored recording as float32 samples at 16 kHz."""
    samples, rate = soundfile.read(io.BytesIO(files.read(path)), dtype="float32")
    return samples, rate


def prompt_of(voice):
    """The stored recording behind a voice."""
    return Prompt(files.upload_path("prompts", voice.audio_sha256, "wav"), voice.audio_sha256, voice.duration)


def forget_upload(path):
    """Delete an upload and the memo entries that recognise its raw bytes (so no cache entry outlives it)."""
    files.delete(path)
    if not path.startswith(f"{files.PRIVATE_DIR}/prompts/"):
        return  # the memo recognises recordings only
    try:
        redis = get_redis()
        for key in redis.scan_iter(match=PROMPT_MEMO + "*", count=500):
            value = redis.get(key)
            if value and json.loads(value).get("path") == path:
                redis.delete(key)
    except Exception:  # noqa: BLE001 - the memo checks the file exists before using it
        current_app.logger.warning("could not forget the memo of %s", path, exc_info=True)
