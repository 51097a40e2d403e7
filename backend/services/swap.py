"""Face swap: one photo's face onto another photo or a template (web tier request, worker render)."""
import time

from flask import current_app
from PIL import Image

from backend import metrics
from backend.engines import registry, sticker_templates
from backend.errors import ApiError
from backend.schemas import SwapIn
from backend.services import cache, images, jobs, uploads
from backend.services.emoji import template_or_404


def request_swap(user, fields):
    """Validate a swap request, store both photos, and submit it as a job."""
    config = current_app.config
    args = uploads.load(SwapIn(), fields)
    template = template_or_404(args["template_id"])
    has_target = fields.get("target_image") not in (None, "")
    if has_target and template:
        raise ApiError("invalid_request", "Send either target_image or template_id, not both.", "template_id")
    if not has_target and template is None:
        raise ApiError("invalid_request", "Send target_image (a photo) or template_id.", "target_image")
    limit = config["IMAGE_MAX_BYTES"]
    source = images.receive(uploads.file_bytes(fields, "source_image", limit), "source_image")
    target = images.receive(uploads.file_bytes(fields, "target_image", limit), "target_image") if has_target else None
    params = {
        "source_sha256": source.sha256, "target_sha256": target.sha256 if target else None,
        "template_id": template.id if template else None, "blend": round(args["blend"], 3),
        "mask_blur": args["mask_blur"], "enhance_output": args["enhance_output"], "format": args["format"],
        "face_index": args["face_index"], "ai_label": config["AI_LABEL"],
    }
    engine, version = current_app.extensions["engines"]["emoji"]
    fingerprint = cache.request_key("swap", engine, version, params)
    paths = {"source_path": source.path, "target_path": target.path if target else None}
    return jobs.submit(user, "swap", {**params, **paths}, fingerprint, engine, config["COST_SWAP"])


def render(job, progress):
    """Worker side: swap the face, label, encode and store."""
    # Worker-only modules (OpenCV, MediaPipe): imported here so the web tier never loads them.
    from backend.engines.emoji_classic import NoFaceError
    from backend.services import stickers

    params = job.params
    engine = registry.load("emoji", current_app.config)
    source = images.load(params["source_path"])
    target = images.load(params["target_path"]) if params["target_path"] else None
    template = sticker_templates.get(params["template_id"]) if params["template_id"] else None
    started = time.perf_counter()
    try:
        out = engine.swap(source=source, target=target, template=template, blend=params["blend"],
                          mask_blur=params["mask_blur"], enhance=params["enhance_output"],
                          face_index=params["face_index"])
    except NoFaceError as error:
        field = "target_image" if "target" in str(error) else "source_image"
        raise ApiError("no_face_detected", f"{str(error).capitalize()}; try a clear, front-facing photo.", field)
    progress(0.8)
    image = Image.fromarray(out, "RGBA")
    if params["ai_label"]:
        stickers.draw_ai_label(image)
    encoded = stickers.encode_static(image, params["format"])
    metrics.ENGINE_SECONDS.labels(engine.name).observe(time.perf_counter() - started)
    return stickers.store_result(job, encoded, engine.name,
                                 {"template_id": params["template_id"], "ai_label": params["ai_label"]})
