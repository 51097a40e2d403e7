"""Render a face-swap job: the sticker engine's swap, then the AI label, encoded and stored."""
import time

from flask import current_app
from PIL import Image

from backend import metrics
from backend.engine_choice import served
from backend.engines import sticker_post
from backend.engines.sticker_output import NoFaceError
from backend.errors import ApiError
from backend.renders.labels import hidden_label
from backend.renders.sticker import store_result
from backend.services.media import images, templates


def render(job, progress):
    """Swap the face, label, encode and store."""
    params = job.params
    engine = served.load("sticker", job.engine, current_app.config)
    source = images.load(params["source_path"])
    target = images.load(params["target_path"]) if params["target_path"] else None
    template = templates.load_pixels(templates.get(params["template_id"])) if params["template_id"] else None
    started = time.perf_counter()
    try:
        out = engine.swap(source=source, target=target, template=template, blend=params["blend"],
                          mask_blur=params["mask_blur"], enhance=params["enhance_output"],
                          face_index=params["face_index"])
    except NoFaceError as error:
        field = "target_image" if "target" in str(error) else "source_image"
        raise ApiError("no_face_detected", f"{str(error).capitalize()}; try a clear, front-facing photo.", field)
    progress(0.8)
    image = sticker_post.label([Image.fromarray(out, "RGBA")], params["ai_label"])[0]
    encoded = sticker_post.encode_static(image, params["format"], hidden_label=hidden_label(job.id))
    metrics.ENGINE_SECONDS.labels(engine.name).observe(time.perf_counter() - started)
    return store_result(job, encoded, engine.name, {"template_id": params["template_id"], "ai_label": params["ai_label"]})
