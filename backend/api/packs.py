"""Sticker packs in the format of WeChat's sticker open platform: make one, download its submission zip."""
from apiflask import APIBlueprint, FileSchema
from flask import Response

from backend.api.common import job_endpoint
from backend.auth import token_auth
from backend.errors import ApiError
from backend.schemas import PackIn
from backend.services.intake import packs
from backend.services.jobs import lookup
from backend.services.media import files

bp = APIBlueprint("packs", __name__, url_prefix="/api/v1", tag="Stickers")


@job_endpoint(bp, "/packs", PackIn, packs.request_pack, ["image"], "IMAGE_MAX_BYTES")
def create_pack():
    """8, 16 or 24 stickers from one photo or template, one per caption/emotion, as one task (progress per
    sticker); its result is the WeChat submission zip, `result.parts` the stickers for previews."""


@bp.get("/packs/<task_id>/export")
@bp.auth_required(token_auth)
@bp.output(FileSchema(type="string", format="binary"), content_type="application/zip",
           description="main/NN.gif|png, thumbs/NN.png, cover.png, icon.png, banner.png, manifest.json")
def export_pack(task_id):
    """The pack's submission zip for WeChat's sticker open platform (the owner's finished pack)."""
    job = lookup.get_owned(token_auth.current_user, task_id[:64])
    if job.kind != "pack":
        raise ApiError("not_found", f"Task {task_id!r} is not a sticker pack.", "task_id")
    if job.status in ("deleted", "blocked"):
        raise ApiError(job.error_code or "gone", job.error_message or "The pack was deleted.", "task_id")
    if job.status != "succeeded":
        raise ApiError("invalid_request", f"The pack is {job.status}, not ready; poll GET /api/v1/tasks/{job.id}.",
                       "task_id")
    return Response(files.read(job.result_path), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="voxmoji-pack-{job.id}.zip"', "Cache-Control": "no-store"})
