"""表情包: turn a sticker request into a job (the worker side is renders/sticker.py)."""
from flask import current_app

from backend import emotions
from backend.engine_choice import fleet
from backend.errors import ApiError
from backend.schemas import StickerIn
from backend.services.backoffice import moderation
from backend.services.intake import uploads
from backend.services.intake.submit import submit_checked
from backend.services.media import images, templates
from backend.vocabulary import PHOTO_STYLES


def request_sticker(user, fields):
    """Validate a sticker request, store its photo, and submit it as a job."""
    config = current_app.config
    args = uploads.load(StickerIn, fields)
    text = uploads.typed_text(args["text"] or "", config["CAPTION_MAX_CHARS"], "text")
    flags = moderation.check(user, {"text": text})  # the caption, before the photo is decoded
    photo, template, style = face_source(args, fields)
    animated = args["animated"]
    fmt = args["format"] or ("gif" if animated else "png")
    if animated and fmt == "png":
        raise ApiError("invalid_request", "Animated stickers are gif or webp.", "format")
    expression, decoration = expression_and_decoration(args, text)
    params = {
        "style": style, "template_id": template.id if template else None, "text": text, "expression": expression,
        "decoration": decoration,
        "seed": config["SD_SEED"] if style == "sd" else None,
        "animated": animated, "animation": args["animation"] if animated else None, "format": fmt,
        "face_index": args["face_index"], "image_sha256": photo.sha256 if photo else None,
        "face_consent": True if photo else None,
        "ai_label": config["AI_LABEL"],
    }
    engine, version = engine_for(style)
    return submit_checked(user, "sticker", params, {"image_path": photo.path if photo else None}, engine, version,
                          sticker_cost(style, animated), flags, {"text": text})


def sticker_cost(style, animated):
    """What one sticker costs: more on Stable Diffusion, more when animated."""
    config = current_app.config
    cost = config["COST_SD_STICKER"] if style == "sd" else config["COST_STICKER"]
    return cost + (config["COST_ANIMATED_STICKER"] - config["COST_STICKER"] if animated else 0)


def face_source(args, fields):
    """(the stored photo or None, the template or None, the style) a face-making request asks for: a photo
    (with the person's consent) or a template, and a style that fits them (a photo style drops the template;
    without a photo the template's own style). Refused with the field to fix."""
    template = template_or_404(args["template_id"])
    style = args["style"] or ("template" if template else "cutout")
    if style == "panda":
        template = template or templates.get("panda")
    if style == "template" and template is None:
        raise ApiError("invalid_request", "style 'template' needs template_id (see GET /api/v1/templates).",
                       "template_id")
    if template and style not in template.styles and style not in PHOTO_STYLES:
        raise ApiError("invalid_request", f"template {template.id!r} serves styles {list(template.styles)}.", "style")
    has_image = fields.get("image") not in (None, "")
    if has_image:
        require_face_consent(args)
    if not has_image and template is None:
        raise ApiError("invalid_request", "Send image (a photo) or template_id.", "image")
    max_bytes = current_app.config["IMAGE_MAX_BYTES"]
    photo = images.receive(uploads.file_bytes(fields, "image", max_bytes), "image") if has_image else None
    if photo is None:
        style = "panda" if template.id == "panda" else "template"
    elif style in PHOTO_STYLES:
        template = None
    return photo, template, style


def expression_and_decoration(args, text):
    """The face and decoration a request asks for: its `emotion`, its `expression`, or the emotion its caption
    names (`expression: auto`)."""
    if args["emotion"] and args["expression"] != "auto":
        raise ApiError("invalid_request", "Send emotion or expression, not both.", "expression")
    if args["expression"] != "auto":
        return args["expression"], emotions.DECORATION_BY_EXPRESSION.get(args["expression"], "none")
    return emotions.face_of(emotions.chosen(args["emotion"], text))


def engine_for(style):
    """The engine a sticker of this style runs on: `sd` only on sd-lora, others as the fleet policy says."""
    try:
        return fleet.choose("sticker", require="sd-lora" if style == "sd" else None)
    except ApiError as error:
        if style == "sd":
            error.message = (f"style 'sd' needs the Stable Diffusion engine: {error.message} Other styles work now: "
                             "cutout, panda, template or comic.")
            error.field = "style"
        raise


def require_face_consent(args):
    """A photo of a person is only used when the user confirms that person agreed (422 consent_required)."""
    if not args["face_consent"]:
        raise ApiError("consent_required", "Confirm that the person in the photo agreed to this: send "
                       "face_consent: true.", "face_consent")


def template_or_404(template_id):
    """The template with this id, None for no id, or 404 not_found."""
    if not template_id:
        return None
    try:
        return templates.get(template_id)
    except KeyError:
        raise ApiError("not_found", f"No template {template_id!r}; see GET /api/v1/templates.", "template_id")
