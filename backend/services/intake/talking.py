"""Talking stickers: a face that says the text in the user's saved voice (the worker side is
renders/talking.py). One job on the voice's engine: the speech, then the mouth moved with it."""
import math

from flask import current_app

from backend import emotions
from backend.engine_choice import fleet
from backend.errors import ApiError
from backend.schemas import TalkingIn
from backend.services.backoffice import moderation, voices
from backend.services.intake import uploads
from backend.services.intake.stickers import face_source
from backend.services.intake.submit import submit_checked
from backend.services.media import recordings

CAPTION_MAX = 12  # a longer text is only heard, not written on the sticker


def request_talking_sticker(user, fields):
    config = current_app.config
    args = uploads.load(TalkingIn, fields)
    text = uploads.typed_text(args["text"], TalkingIn.TEXT_MAX, "text")
    if not text:
        raise ApiError("invalid_request", "text is empty; type what the sticker should say.", "text")
    flags = moderation.check(user, {"text": text})
    voice = voices.usable(user, args["voice_id"])
    photo, template, style = face_source(args, fields)
    emotion = emotions.chosen(args["emotion"], text)
    expression, decoration = emotions.face_of(emotion)
    prompt = recordings.prompt_of(voice)
    params = {
        "text": text, "caption": text if len(text) <= CAPTION_MAX else "", "mode": "zero_shot", "instruct": None,
        "speed": 1.0, "emotion": emotion.id if emotion else None, "prompt_sha256": prompt.sha256,
        "prompt_text": voice.prompt_text, "expression": expression, "decoration": decoration, "style": style,
        "template_id": template.id if template else None, "face_index": args["face_index"],
        "image_sha256": photo.sha256 if photo else None, "face_consent": True if photo else None,
        "ai_label": config["AI_LABEL"],
    }
    engine, version = fleet.choose("tts")
    cost = math.ceil(len(text) / config["COST_TTS_PER_CHARS"]) + config["COST_ANIMATED_STICKER"]
    return submit_checked(user, "talking", params, {"prompt_path": prompt.path,
                                                    "image_path": photo.path if photo else None},
                          engine, version, cost, flags, {"text": text})
