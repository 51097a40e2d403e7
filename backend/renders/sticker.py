"""Render a sticker job: the sticker engine, then decorations, caption, label, animation."""
import time

from flask import current_app

from backend import metrics
from backend.emotions import DECORATION_BY_EXPRESSION
from backend.engine_choice import served
from backend.engines import sticker_post
from backend.engines.sticker_decorations import decorate
from backend.engines.sticker_output import NoFaceError
from backend.errors import ApiError
from backend.renders.labels import hidden_label
from backend.services.media import files, images, templates
from backend.vocabulary import IMAGE_FORMATS


def render(job, progress):
    """Generate, decorate, caption, animate, encode and store a sticker."""
    params = job.params
    config = current_app.config
    engine = served.load("sticker", job.engine, config)
    photo, template = sources(params)
    started = time.perf_counter()
    size = sticker_post.ANIMATED_SIZE if params["animated"] else sticker_post.STATIC_SIZE
    out, frames = make_frames(engine, photo, template, params, params["text"], params["expression"],
                              params.get("decoration"), size, params["animation"] if params["animated"] else None)
    frames = sticker_post.label(frames, params["ai_label"])
    hidden = hidden_label(job.id)
    if params["animated"]:
        encoded = sticker_post.encode_animated(frames, params["format"], config["GIF_MAX_BYTES"], hidden_label=hidden)
    else:
        encoded = sticker_post.encode_static(frames[0], params["format"], hidden_label=hidden)
    metrics.ENGINE_SECONDS.labels(engine.name).observe(time.perf_counter() - started)
    return store_result(job, encoded, engine.name, {
        "style": params["style"], "expression": out.expression, "decoration": params.get("decoration"),
        "frames": encoded.frames, "template_id": params["template_id"], "ai_label": params["ai_label"]})


def sources(params):
    """(photo pixels or None, template pixels or None) of a sticker-making job."""
    photo = images.load(params["image_path"]) if params["image_path"] else None
    template = templates.load_pixels(templates.get(params["template_id"])) if params["template_id"] else None
    return photo, template


def generate(engine, photo, template, params, text, expression):
    """The sticker engine's face for a job (its style, face index and seed); no face found is the user's
    422 no_face_detected."""
    try:
        return engine.generate(image=photo, template=template, style=params["style"], expression=expression,
                               face_index=params["face_index"], text=text, seed=params.get("seed"))
    except NoFaceError as error:
        raise ApiError("no_face_detected", f"{str(error).capitalize()}; try a clear, front-facing photo.", "image")


def make_frames(engine, photo, template, params, text, expression, decoration, size, animation):
    """(the engine's output, the finished frames): the face with its expression and decoration, captioned in a
    size x size square, animated when `animation` names one; not yet labelled (sticker_post.label, once, on
    the image at the size it is shown: a scaled copy of a labelled frame would carry a second, garbled label)."""
    out = generate(engine, photo, template, params, text, expression)
    decorate(out.image, out.face, decoration or DECORATION_BY_EXPRESSION.get(out.expression, "none"))
    frame = sticker_post.finish_frame(out.image, text, size, out.caption_box)
    return out, sticker_post.animate(frame, animation) if animation else [frame]


def store_result(job, encoded, engine_name, meta):
    """Write an encoded image result under its fingerprint name; the job's result fields."""
    extension = {mime: fmt for fmt, mime in IMAGE_FORMATS.items()}[encoded.mime]
    path = files.result_path(job.kind, job.cache_key, extension)
    files.write_atomic(path, encoded.data)
    return {
        "engine": engine_name, "result_path": path, "result_mime": encoded.mime, "result_bytes": len(encoded.data),
        "result_width": encoded.width, "result_height": encoded.height, "result_meta": meta,
    }
