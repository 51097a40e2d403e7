"""Render a TTS job: the voice engine speaks (handing out each piece to the job's speech stream as it is made),
the result is encoded and stored under its fingerprint."""
import time

import numpy as np
from flask import current_app

from backend import metrics
from backend.engine_choice import served
from backend.engines.speaker_encoder import similarity
from backend.engines.tts_output import join_outputs, split_sentences
from backend.renders import audible_label
from backend.renders.labels import hidden_label, label_audio
from backend.renders.speech_writer import SpeechWriter
from backend.services.media import audio, files, recordings
from backend.services.media.speech_stream import STREAMED_FORMATS

SENTENCE_GAP_SECONDS = 0.15


def render(job, progress):
    """Synthesize, encode and store the result file of a TTS job."""
    params = job.params
    engine = served.load("tts", job.engine, current_app.config)
    samples, rate = recordings.load_prompt(params["prompt_path"])
    writer = SpeechWriter(job.cache_key, params["format"], hidden_label(job.id)) \
        if params["format"] in STREAMED_FORMATS else None
    started = time.perf_counter()
    position = params.get("audio_label") or "off"
    try:
        speech = speak(engine, params, samples, rate, progress, _cue_first(writer.audio, position) if writer else None)
    except Exception:
        if writer:
            writer.fail()
        raise
    if writer:
        if position == "end":
            writer.audio(audible_label.tail(speech.sample_rate), speech.sample_rate)
        writer.end()
    metrics.ENGINE_SECONDS.labels(engine.name).observe(time.perf_counter() - started)
    # How much of the user's voice the result carries (speaker-embedding cosine, 0-1), shown to the user.
    resemblance = round(similarity(samples, rate, speech.audio, speech.sample_rate), 3)
    encoded = audio.encode(audible_label.attach(speech.audio, speech.sample_rate, position), speech.sample_rate,
                           params["format"])
    data = label_audio(encoded.data, params["format"], hidden_label(job.id))
    path = files.result_path("tts", job.cache_key, params["format"])
    files.write_atomic(path, data)
    return {
        "engine": engine.name, "result_path": path, "result_mime": encoded.mime,
        "result_bytes": len(data), "result_duration": round(encoded.duration, 3),
        "result_meta": {
            "language": speech.language, "instruct_applied": speech.instruct_applied,
            "instruct_ignored": speech.instruct_ignored, "notes": speech.notes, "similarity": resemblance,
        },
    }


def _cue_first(on_audio, position):
    """A stream's piece handler that plays the audible label before the first piece (position `start`)."""
    if position != "start":
        return on_audio
    begun = []

    def handed(piece, rate):
        if not begun:
            begun.append(True)
            on_audio(audible_label.lead(rate), rate)
        on_audio(piece, rate)
    return handed


def speak(engine, params, samples, rate, progress, on_audio=None):
    """The whole speech, each piece handed to on_audio(samples, rate) as soon as it exists. An engine that
    streams (CosyVoice3) gets the whole text; the others say it sentence by sentence."""
    options = {"mode": params["mode"], "prompt_text": params["prompt_text"], "prompt_key": params["prompt_sha256"],
               "instruct": params["instruct"], "speed": params["speed"], "emotion": params.get("emotion")}
    if getattr(engine, "streams", False):
        return engine.synthesize(params["text"], samples, rate, progress=progress, on_audio=on_audio, **options)
    sentences = split_sentences(params["text"])
    pieces = []
    for index, sentence in enumerate(sentences):
        def handed(piece, sample_rate, first=index == 0):  # each sentence as it is spoken, after its pause
            gap = np.zeros(0 if first else int(SENTENCE_GAP_SECONDS * sample_rate), np.float32)
            on_audio(np.concatenate([gap, piece]), sample_rate)

        pieces.append(engine.synthesize(sentence, samples, rate, **options, on_audio=handed if on_audio else None,
                                        progress=lambda fraction, i=index: progress((i + fraction) / len(sentences))))
    return join_outputs(pieces, SENTENCE_GAP_SECONDS)
