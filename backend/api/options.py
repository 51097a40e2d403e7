"""Every list of choices and every limit a client needs, defined once on the server: the mini-program and the
H5 page build their pickers, length limits, status labels and cost labels from this answer."""
from apiflask import APIBlueprint
from flask import current_app

from backend.engine_choice import fleet
from backend.models import FINISHED
from backend.schemas import OptionsOut, TalkingIn
from backend.vocabulary import (
    ANIMATIONS,
    API_JOB_KINDS,
    CLASSIC_STYLES,
    IMAGE_FORMATS,
    KIND_LABELS,
    PACK_COUNTS,
    PACK_DEFAULT_EMOTIONS,
    PACK_INTRO_MAX,
    PACK_NAME_MAX,
    REPORT_REASON_MAX,
    SPEECH_FORMATS,
    STATUS_LABELS,
    STYLE_LABELS,
    STYLES,
    TTS_MODE_LABELS,
    TTS_MODES,
)

bp = APIBlueprint("options", __name__, url_prefix="/api/v1", tag="Options")


@bp.get("/options")
@bp.output(OptionsOut)
def list_options():
    """Styles, modes, kinds, statuses, formats, limits and costs, with the labels clients show."""
    config = current_app.config
    with_sd = "sd-lora" in fleet.live_engines("sticker")
    return {
        "success": True,
        "styles": [{"id": style, "label": STYLE_LABELS[style]} for style in STYLES
                   if style in CLASSIC_STYLES or with_sd],
        "tts_modes": [{"id": mode, "label": TTS_MODE_LABELS[mode]} for mode in TTS_MODES],
        "kinds": [{"id": kind, "label": KIND_LABELS[kind]} for kind in API_JOB_KINDS],
        "statuses": [{"id": status, "label": label, "finished": status in FINISHED}
                     for status, label in STATUS_LABELS.items()],
        "speech_formats": list(SPEECH_FORMATS), "image_formats": list(IMAGE_FORMATS), "animations": list(ANIMATIONS),
        "pack_counts": list(PACK_COUNTS), "pack_default_emotions": list(PACK_DEFAULT_EMOTIONS),
        "limits": {"tts_text": config["TEXT_MAX_CHARS"], "caption": config["CAPTION_MAX_CHARS"],
                   "talking_text": TalkingIn.TEXT_MAX, "pack_name": PACK_NAME_MAX, "pack_intro": PACK_INTRO_MAX,
                   "report_reason": REPORT_REASON_MAX, "link_seconds": config["MEDIA_URL_TTL"]},
        "costs": {"sticker": config["COST_STICKER"], "animated_sticker": config["COST_ANIMATED_STICKER"],
                  "sd_sticker": config["COST_SD_STICKER"], "swap": config["COST_SWAP"],
                  "tts_chars_per_token": config["COST_TTS_PER_CHARS"],
                  "talking_extra": config["COST_ANIMATED_STICKER"]},
    }
