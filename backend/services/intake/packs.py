"""Sticker packs for WeChat's sticker platform: one job makes every sticker of the pack from one photo or
template and the submission zip (the worker side is renders/pack.py)."""
from flask import current_app

from backend import emotions
from backend.errors import ApiError
from backend.schemas import PackIn
from backend.services.backoffice import moderation
from backend.services.intake import uploads
from backend.services.intake.stickers import engine_for, face_source, sticker_cost
from backend.services.intake.submit import submit_checked
from backend.vocabulary import PACK_COUNTS, PACK_INTRO_MAX, PACK_MEANING_MAX, PACK_NAME_MAX

# each sticker of a pack moves as its emotion would
ANIMATION_BY_EXPRESSION = {"angry": "shake", "surprise": "zoom", "sad": "shake"}


def request_pack(user, fields):
    """Validate a pack request, store its photo, and submit it as one job."""
    config = current_app.config
    args = uploads.load(PackIn, fields)
    if len(args["stickers"]) not in PACK_COUNTS:
        raise ApiError("invalid_request", f"A pack has {', '.join(map(str, PACK_COUNTS))} stickers (WeChat's sticker "
                       f"platform accepts no other count); got {len(args['stickers'])}.", "stickers")
    name = uploads.typed_text(args["name"], PACK_NAME_MAX, "name") or "我的表情"
    intro = uploads.typed_text(args["intro"], PACK_INTRO_MAX, "intro")
    items = [_item(item, index, config) for index, item in enumerate(args["stickers"])]
    texts = {"name": name, "intro": intro, **{f"stickers[{i}].text": item["text"] for i, item in enumerate(items)}}
    flags = moderation.check(user, texts)
    photo, template, style = face_source(args, fields)
    params = {
        "style": style, "template_id": template.id if template else None, "name": name, "intro": intro,
        "stickers": items, "animated": args["animated"], "face_index": args["face_index"],
        "image_sha256": photo.sha256 if photo else None, "face_consent": True if photo else None,
        "seed": config["SD_SEED"] if style == "sd" else None, "ai_label": config["AI_LABEL"],
        "text": name,  # what the task shows as its text
    }
    engine, version = engine_for(style)
    return submit_checked(user, "pack", params, {"image_path": photo.path if photo else None}, engine, version,
                          sticker_cost(style, args["animated"]) * len(items), flags, texts)


def _item(item, index, config):
    """One sticker of the pack: its caption, and the emotion it shows (given, or named by the caption)."""
    text = uploads.typed_text(item["text"], config["CAPTION_MAX_CHARS"], f"stickers[{index}].text")
    emotion = emotions.chosen(item["emotion"], text)
    expression, decoration = emotions.face_of(emotion)
    return {"text": text, "emotion": emotion.id if emotion else None, "expression": expression,
            "decoration": decoration,
            "animation": ANIMATION_BY_EXPRESSION.get(expression, "bounce"),
            "meaning": _meaning(text, emotion)}


def _meaning(text, emotion):
    """含义词 (at most 4 characters): the caption when it is that short, else the emotion's name."""
    if text and len(text) <= PACK_MEANING_MAX:
        return text
    return emotion.name if emotion else (text[:PACK_MEANING_MAX] or "表情")
