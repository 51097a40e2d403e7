"""Render a TTS job: the voice engine speaks, the result is encoded and stored under its fingerprint."""
import time

from flask import current_app

from backend import metrics
from backend.engines import registry
from backend.engines.speaker_encoder import similarity
from backend.renders.labels import hidden_label, label_audio
from backend.services import audio, media, voices


def render(job, progress):
    """Synthesize, encode and store the result file of a TTS job."""
    params = job.params
    engine = registry.load("tts", job.engine, current_app.config)
    samples, rate = voices.load_prompt(params["prompt_path"])
    started = time.perf_counter()
    speech = engine.synthesize(
        params["text"], samples, rate, mode=params["mode"], prompt_text=params["prompt_text"],
        prompt_key=params["prompt_sha256"], instruct=params["instruct"], speed=params["speed"], progress=progress,
        emotion=params.get("emotion"),
    )
    metrics.ENGINE_SECONDS.labels(engine.name).observe(time.perf_counter() - started)
    # How much of the user's voice the result carries (speaker-embedding cosine, 0-1), shown to the user.
    resemblance = round(similarity(samples, rate, speech.audio, speech.sample_rate), 3)
    encoded = audio.encode(speech.audio, speech.sample_rate, params["format"])
    data = label_audio(encoded.data, params["format"], hidden_label(job.id))
    path = media.result_path("tts", job.cache_key, params["format"])
    media.write_atomic(path, data)
    return {
        "engine": engine.name, "result_path": path, "result_mime": encoded.mime,
        "result_bytes": len(data), "result_duration": round(encoded.duration, 3),
        "result_meta": {
            "language": speech.language, "instruct_applied": speech.instruct_applied,
            "instruct_ignored": speech.instruct_ignored, "notes": speech.notes, "similarity": resemblance,
        },
    }
