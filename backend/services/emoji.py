"""表情包: turn a sticker request into a job (web tier), and render a sticker job (worker)."""
import time

from flask import current_app

from backend import metrics
from backend.engines import registry, sticker_templates
from backend.engines.expression_words import expression_for
from backend.errors import ApiError
from backend.schemas import EmojiIn
from backend.services import cache, images, jobs, uploads


PHOTO_STYLES = ("cutout", "comic", "sd")  # styles made from the photo alone (a template_id is ignored)


def request_sticker(user, fields):
    """Validate a sticker request, store its photo, and submit it as a job."""
    config = current_app.config
    args = uploads.load(EmojiIn(), fields)
    text = uploads.normalized_text(args["text"] or "", config["CAPTION_MAX_CHARS"], "text")
    template = template_or_404(args["template_id"])
    style = args["style"] or ("template" if template else "cutout")
    engine, version = current_app.extensions["engines"]["emoji"]
    if style == "sd" and engine != "sd-lora":
        raise ApiError("engine_unavailable", "style 'sd' needs the Stable Diffusion engine, which is not installed on "
                       "this server; use cutout, panda, template or comic.", "style")
    if style == "panda":
        template = template or sticker_templates.get("panda")
    if style == "template" and template is None:
        raise ApiError("invalid_request", "style 'template' needs template_id (see GET /api/v1/templates).",
                       "template_id")
    if template and style not in template.styles and style not in PHOTO_STYLES:
        raise ApiError("invalid_request", f"template {template.id!r} serves styles {list(template.styles)}.", "style")
    has_image = fields.get("image") not in (None, "")
    if not has_image and template is None:
        raise ApiError("invalid_request", "Send image (a photo) or template_id.", "image")
    photo = images.receive(uploads.file_bytes(fields, "image", config["IMAGE_MAX_BYTES"]), "image") if has_image else None
    if photo is None:
        style = "panda" if template.id == "panda" else "template"
    elif style in PHOTO_STYLES:
        template = None
    animated = args["animated"]
    fmt = args["format"] or ("gif" if animated else "png")
    if animated and fmt == "png":
        raise ApiError("invalid_request", "Animated stickers are gif or webp.", "format")
    expression = expression_for(text) if args["expression"] == "auto" else args["expression"]
    params = {
        "style": style, "template_id": template.id if template else None, "text": text, "expression": expression,
        "seed": config["SD_SEED"] if style == "sd" else None,
        "animated": animated, "animation": args["animation"] if animated else None, "format": fmt,
        "face_index": args["face_index"], "image_sha256": photo.sha256 if photo else None,
        "ai_label": config["AI_LABEL"],
    }
    fingerprint = cache.request_key("emoji", engine, version, params)
    cost = config["COST_SD_STICKER"] if style == "sd" else config["COST_STICKER"]
    cost += config["COST_ANIMATED_STICKER"] - config["COST_STICKER"] if animated else 0
    return jobs.submit(user, "emoji", {**params, "image_path": photo.path if photo else None}, fingerprint, engine, cost)


def template_or_404(template_id):
    """The template with this id, None for no id, or 404 not_found."""
    if not template_id:
        return None
    try:
        return sticker_templates.get(template_id)
    except KeyError:
        raise ApiError("not_found", f"No template {template_id!r}; see GET /api/v1/templates.", "template_id")


def render(job, progress):
    """Worker side: generate, decorate, caption, animate, encode and store a sticker."""
    # Worker-only modules (OpenCV, MediaPipe): imported here so the web tier never loads them.
    from backend.engines.emoji_classic import NoFaceError
    from backend.engines.sticker_decorations import decorate
    from backend.services import stickers

    params = job.params
    config = current_app.config
    engine = registry.load("emoji", config)
    photo = images.load(params["image_path"]) if params["image_path"] else None
    template = sticker_templates.get(params["template_id"]) if params["template_id"] else None
    started = time.perf_counter()
    try:
        out = engine.generate(image=photo, template=template, style=params["style"], expression=params["expression"],
                              face_index=params["face_index"], text=params["text"], seed=params.get("seed"))
    except NoFaceError as error:
        raise ApiError("no_face_detected", f"{str(error).capitalize()}; try a clear, front-facing photo.", "image")
    progress(0.6)
    decorate(out.image, out.face, out.expression)
    size = stickers.ANIMATED_SIZE if params["animated"] else stickers.STATIC_SIZE
    frame = stickers.finish_frame(out.image, params["text"], params["ai_label"], size, out.caption_box)
    if params["animated"]:
        frames = stickers.animate(frame, params["animation"])
        encoded = stickers.encode_animated(frames, params["format"], config["GIF_MAX_BYTES"])
    else:
        encoded = stickers.encode_static(frame, params["format"])
    metrics.ENGINE_SECONDS.labels(engine.name).observe(time.perf_counter() - started)
    return stickers.store_result(job, encoded, engine.name, {
        "style": params["style"], "expression": out.expression, "frames": encoded.frames,
        "template_id": params["template_id"], "ai_label": params["ai_label"]})
