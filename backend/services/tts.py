"""Text to speech: turn a request into a job (web tier), and render a job (worker)."""
import math
import time

from flask import current_app

from backend import metrics
from backend.engines import registry
from backend.errors import ApiError
from backend.schemas import TtsIn
from backend.services import audio, cache, jobs, media, uploads, voices


def request_speech(user, fields):
    """Validate a TTS request, store its prompt, and submit it as a job."""
    config = current_app.config
    args = uploads.load(TtsIn(), fields)
    text = uploads.normalized_text(args["text"], config["TEXT_MAX_CHARS"], "text")
    if not text:
        raise ApiError("invalid_request", "text is empty; type what should be said.", "text")
    mode = args["mode"]
    instruct = (args["instruct"] or "").strip() or None
    if mode == "instruct" and not instruct:
        raise ApiError("invalid_request", "mode=instruct needs instruct, e.g. 用四川话说 or 悲伤地说.", "instruct")
    has_inline = fields.get("prompt_audio") not in (None, "")
    if args["voice_id"] and has_inline:
        raise ApiError("invalid_request", "Send either voice_id or prompt_audio, not both.", "voice_id")
    if args["voice_id"]:
        voice = voices.get_owned(user, args["voice_id"])
        prompt = voices.prompt_of(voice)
        prompt_text = args["prompt_text"] or voice.prompt_text
    elif has_inline:
        data = uploads.file_bytes(fields, "prompt_audio", config["AUDIO_MAX_BYTES"])
        prompt = voices.store_prompt(data, args["prompt_audio_format"], args["sample_rate"], "prompt_audio")
        prompt_text = args["prompt_text"]
    else:
        raise ApiError("invalid_request", "Send voice_id (a saved voice) or prompt_audio (a recording).", "prompt_audio")

    params = {
        "text": text, "mode": mode, "instruct": instruct if mode == "instruct" else None,
        "speed": round(args["speed"], 2), "format": args["format"],
        "prompt_sha256": prompt.sha256, "prompt_text": (prompt_text or "").strip() or None,
    }
    engine, version = current_app.extensions["engines"]["tts"]
    fingerprint = cache.request_key("tts", engine, version, params)
    cost = math.ceil(len(text) / config["COST_TTS_PER_CHARS"])
    return jobs.submit(user, "tts", {**params, "prompt_path": prompt.path}, fingerprint, engine, cost)


def render(job, progress):
    """Worker side: synthesize, encode and store the result file of a TTS job."""
    params = job.params
    engine = registry.load("tts", current_app.config)
    samples, rate = voices.load_prompt(params["prompt_path"])
    started = time.perf_counter()
    speech = engine.synthesize(
        params["text"], samples, rate, mode=params["mode"], prompt_text=params["prompt_text"],
        prompt_key=params["prompt_sha256"], instruct=params["instruct"], speed=params["speed"], progress=progress,
    )
    metrics.ENGINE_SECONDS.labels(engine.name).observe(time.perf_counter() - started)
    encoded = audio.encode(speech.audio, speech.sample_rate, params["format"])
    path = media.result_path("tts", job.cache_key, params["format"])
    media.write_atomic(path, encoded.data)
    return {
        "engine": engine.name, "result_path": path, "result_mime": encoded.mime,
        "result_bytes": len(encoded.data), "result_duration": round(encoded.duration, 3),
        "result_meta": {
            "language": speech.language, "instruct_applied": speech.instruct_applied,
            "instruct_ignored": speech.instruct_ignored, "notes": speech.notes,
        },
    }
