"""Text to speech: turn a request into a job (the worker side is renders/tts.py)."""
import math

from flask import current_app

from backend.engine_choice import fleet
from backend.errors import ApiError
from backend.schemas import TtsIn
from backend.services.backoffice import moderation, voices
from backend.services.intake import uploads
from backend.services.intake.submit import submit_checked
from backend.services.media import recordings


def request_speech(user, fields, operator_consent=False):
    """Validate a TTS request, store its prompt, and submit it as a job. An inline recording needs the user's
    `voice_consent: true` (or, on the seed-compatible /tts whose body cannot carry it, the operator's
    VOXMOJI_SEED_TTS_CLONING: `operator_consent`)."""
    config = current_app.config
    args = uploads.load(TtsIn, fields)
    text = uploads.typed_text(args["text"], config["TEXT_MAX_CHARS"], "text")
    if not text:
        raise ApiError("invalid_request", "text is empty; type what should be said.", "text")
    mode = args["mode"]
    instruct = (args["instruct"] or "").strip() or None
    if mode == "instruct" and not instruct:
        raise ApiError("invalid_request", "mode=instruct needs instruct, e.g. 用四川话说 or 悲伤地说.", "instruct")
    texts = {"text": text, "instruct": instruct if mode == "instruct" else None,
             "prompt_text": (args["prompt_text"] or "").strip() or None}
    flags = moderation.check(user, texts)  # before anything is decoded, stored or held
    has_inline = fields.get("prompt_audio") not in (None, "")
    if args["voice_id"] and has_inline:
        raise ApiError("invalid_request", "Send either voice_id or prompt_audio, not both.", "voice_id")
    if args["voice_id"]:
        voice = voices.usable(user, args["voice_id"])
        prompt = recordings.prompt_of(voice)
        prompt_text = args["prompt_text"] or voice.prompt_text
    elif has_inline:
        if not (args["voice_consent"] or operator_consent):
            raise ApiError("consent_required", "Cloning a recording needs the speaker's consent: send "
                           "voice_consent: true to declare that the speaker agreed (or save the voice with "
                           "POST /api/v1/voices).", "voice_consent")
        sent, fmt, rate = fields["prompt_audio"], args["prompt_audio_format"], args["sample_rate"]
        prompt = recordings.recognized(sent, fmt, rate)  # a repeat: not even base64-decoded
        if prompt is None:
            data = uploads.file_bytes(fields, "prompt_audio", config["AUDIO_MAX_BYTES"])
            prompt = recordings.store_prompt(data, fmt, rate, "prompt_audio", sent=sent)
        prompt_text = args["prompt_text"]
    else:
        raise ApiError("invalid_request", "Send voice_id (a saved voice) or prompt_audio (a recording).", "prompt_audio")

    params = {
        "text": text, "mode": mode, "instruct": instruct if mode == "instruct" else None,
        "speed": round(args["speed"], 2), "format": args["format"], "emotion": args["emotion"],
        "prompt_sha256": prompt.sha256, "prompt_text": (prompt_text or "").strip() or None,
        "voice_consent": True if has_inline else None,
        "audio_label": None if config["AUDIO_LABEL"] == "off" else config["AUDIO_LABEL"],
    }
    engine, version = fleet.choose("tts")
    cost = math.ceil(len(text) / config["COST_TTS_PER_CHARS"])
    return submit_checked(user, "tts", params, {"prompt_path": prompt.path}, engine, version, cost, flags, texts)
