"""Reference recordings: decoded, checked and stored normalized (16 kHz mono WAV named by its SHA-256). An upload
sent again (the same file part, or the same base64 text) is recognised by the digest of what was sent, before
anything is decoded: in this process's memory, else in the Redis memo, and only while the stored file exists."""
import hashlib
import io
import json
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass

import numpy as np
import soundfile
from flask import current_app

from backend import memo
from backend.errors import ApiError
from backend.extensions import get_redis
from backend.services.media import audio, files
from backend.transactions import end_read

PROMPT_MEMO = "vm:prompt-of:"  # digest of what was sent -> the stored, normalized recording
_RECENT_MAX = 512
_recent = OrderedDict()  # this process's memo: the same keys, newest last
_recent_lock = threading.Lock()


@dataclass
class Prompt:
    """A stored reference recording: where it is, its digest and length."""

    path: str
    sha256: str
    duration: float


def recognized(sent, declared_format, sample_rate):
    """The stored recording for an upload exactly as it was sent (file bytes, or a base64 string) if it was
    stored before and is still there; None otherwise. Nothing is decoded."""
    if not isinstance(sent, (str, bytes)):
        return None  # not an upload at all: the decoder says what is wrong with it
    return _known_prompt(_memo_key(sent, declared_format, sample_rate))


def store_prompt(data, declared_format, sample_rate, field, sent=None):
    """Decode and check a recording (`data`, its bytes), keep it as 16 kHz mono WAV named by its SHA-256, and
    remember it under the digest of what was sent (`sent`: the base64 text it came as; by default the bytes).
    The same upload again is recognised before anything is decoded (no ffmpeg on a repeat)."""
    raw_key = _memo_key(data if sent is None else sent, declared_format, sample_rate)
    known = _known_prompt(raw_key)
    if known is not None:
        return known
    prompt = _decode_and_store(data, declared_format, sample_rate, field)
    memo.remember(raw_key, json.dumps(asdict(prompt)))
    _keep_recent(raw_key, prompt)
    return prompt


def _memo_key(sent, declared_format, sample_rate):
    digest = hashlib.sha256(sent.encode() if isinstance(sent, str) else sent).hexdigest()
    return f"{PROMPT_MEMO}{digest}:{declared_format}:{sample_rate}"


def _known_prompt(raw_key):
    """The stored recording remembered under this key, if its file is still there."""
    with _recent_lock:
        prompt = _recent.get(raw_key)
    if prompt is None:
        known = memo.recall(raw_key)
        prompt = Prompt(**json.loads(known)) if known is not None else None
    if prompt is None or not files.exists(prompt.path):
        return None
    _keep_recent(raw_key, prompt)
    return prompt


def _keep_recent(raw_key, prompt):
    with _recent_lock:
        _recent[raw_key] = prompt
        _recent.move_to_end(raw_key)
        if len(_recent) > _RECENT_MAX:
            _recent.popitem(last=False)


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
    with _recent_lock:
        for raw_key in [key for key, prompt in _recent.items() if prompt.path == path]:
            del _recent[raw_key]
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
