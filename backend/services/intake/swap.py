"""Face swap: one photo's face onto another photo or a template (the worker side is renders/swap.py)."""

from flask import current_app

from backend.engine_choice import fleet
from backend.errors import ApiError
from backend.schemas import SwapIn
from backend.services.intake import uploads
from backend.services.intake.stickers import require_face_consent, template_or_404
from backend.services.jobs import cache, submission
from backend.services.media import images


def request_swap(user, fields):
    """Validate a swap request, store both photos, and submit it as a job."""
    config = current_app.config
    args = uploads.load(SwapIn, fields)
    require_face_consent(args)
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
        "face_index": args["face_index"], "ai_label": config["AI_LABEL"], "face_consent": True,
    }
    engine, version = fleet.choose("swap")
    fingerprint = cache.request_key("swap", engine, version, params)
    paths = {"source_path": source.path, "target_path": target.path if target else None}
    return submission.submit(user, "swap", {**params, **paths}, fingerprint, engine, config["COST_SWAP"])
