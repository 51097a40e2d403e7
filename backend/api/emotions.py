"""The one emotion vocabulary that stickers and voices share."""
from apiflask import APIBlueprint

from backend import emotions
from backend.schemas import EmotionListOut

bp = APIBlueprint("emotions", __name__, url_prefix="/api/v1", tag="Emotions")


@bp.get("/emotions")
@bp.output(EmotionListOut)
def list_emotions():
    """Each emotion with its synonyms, the sticker expression and decoration, and how the voice says it."""
    return {"success": True, "emotions": [emotion.describe() for emotion in emotions.EMOTIONS]}
