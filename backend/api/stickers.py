"""表情包 and face swap: create sticker jobs; list the meme templates."""
from apiflask import APIBlueprint
from flask import current_app

from backend import sticker_catalog
from backend.api.common import task_response
from backend.auth import token_auth
from backend.ratelimit import job_limit
from backend.schemas import StickerIn, SwapIn, TalkingIn, TaskOut, TemplateListOut, WaitQuery
from backend.services.intake import stickers, swap, talking, uploads
from backend.services.media import files, templates

bp = APIBlueprint("stickers", __name__, url_prefix="/api/v1", tag="Stickers")


@bp.post("/emoji")
@bp.auth_required(token_auth)
@job_limit
@bp.input(WaitQuery, location="query", arg_name="query")
@bp.input(StickerIn, location="json", validation=False, arg_name="_documented")
@bp.output(TaskOut, status_code=202)
def create_sticker(query, _documented):
    """A sticker from a photo (cutout, panda, template, comic) or a template, with a caption."""
    fields = uploads.body_fields(["image"], current_app.config["IMAGE_MAX_BYTES"])
    return task_response(stickers.request_sticker(token_auth.current_user, fields), query["wait"])


@bp.post("/swap")
@bp.auth_required(token_auth)
@job_limit
@bp.input(WaitQuery, location="query", arg_name="query")
@bp.input(SwapIn, location="json", validation=False, arg_name="_documented")
@bp.output(TaskOut, status_code=202)
def create_swap(query, _documented):
    """Put the face of source_image onto target_image or a template."""
    fields = uploads.body_fields(["source_image", "target_image"], current_app.config["IMAGE_MAX_BYTES"])
    return task_response(swap.request_swap(token_auth.current_user, fields), query["wait"])


@bp.post("/talking-stickers")
@bp.auth_required(token_auth)
@job_limit
@bp.input(WaitQuery, location="query", arg_name="query")
@bp.input(TalkingIn, location="json", validation=False, arg_name="_documented")
@bp.output(TaskOut, status_code=202)
def create_talking_sticker(query, _documented):
    """A face (photo or template) that says `text` in a saved voice: an MP4 with sound (`result.url`) and a
    silent GIF (`result.parts["sticker.gif"]`)."""
    fields = uploads.body_fields(["image"], current_app.config["IMAGE_MAX_BYTES"])
    return task_response(talking.request_talking_sticker(token_auth.current_user, fields), query["wait"])


@bp.get("/templates")
@bp.auth_required(token_auth)
@bp.output(TemplateListOut)
def list_templates():
    """The meme templates, with signed preview URLs."""
    out = []
    for template in templates.listing():
        path = sticker_catalog.preview_path(template.id)
        preview = files.sign_url(path)[0] if files.exists(path) else None
        out.append({**template.describe(), "preview_url": preview})
    return {"success": True, "templates": out}
