"""表情包 and face swap: create sticker jobs; list the meme templates."""
from apiflask import APIBlueprint

from backend.api.common import job_endpoint
from backend.auth import token_auth
from backend.schemas import StickerIn, SwapIn, TalkingIn, TemplateListOut
from backend.services.intake import stickers, swap, talking
from backend.services.media import templates

bp = APIBlueprint("stickers", __name__, url_prefix="/api/v1", tag="Stickers")


@job_endpoint(bp, "/emoji", StickerIn, stickers.request_sticker, ["image"], "IMAGE_MAX_BYTES")
def create_sticker():
    """A sticker from a photo (cutout, panda, template, comic) or a template, with a caption."""


@job_endpoint(bp, "/swap", SwapIn, swap.request_swap, ["source_image", "target_image"], "IMAGE_MAX_BYTES")
def create_swap():
    """Put the face of source_image onto target_image or a template."""


@job_endpoint(bp, "/talking-stickers", TalkingIn, talking.request_talking_sticker, ["image"], "IMAGE_MAX_BYTES")
def create_talking_sticker():
    """A face (photo or template) that says `text` in a saved voice: an MP4 with sound (`result.url`) and a
    silent GIF (`result.parts["sticker.gif"]`)."""


@bp.get("/templates")
@bp.auth_required(token_auth)
@bp.output(TemplateListOut)
def list_templates():
    """The meme templates, with signed preview URLs."""
    return {"success": True, "templates": [{**template.describe(), "preview_url": templates.preview_url(template.id)}
                                           for template in templates.listing()]}
