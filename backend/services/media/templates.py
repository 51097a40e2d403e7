"""Meme templates, one module for all they go through: the built-in library (backend/builtin_templates.py) plus
those operators upload in the console; listing and signed previews (API and console), upload, face detection,
enabling, and loading their pixels for a render.

An uploaded photo is stored as a private upload, and a sticker worker (the only tier with a face detector)
squares it to the library's 512 x 512, finds its face (`detect_face`, run by `voxmoji.detect_template_face` on
the classic sticker queue with that engine's face finder), stores the landmarks and renders the previews. Once
its face is found an operator enables it, and from the next request on the API serves it like a built-in one.
"""
import dataclasses
import io

import numpy as np
import sqlalchemy as sa
from flask import current_app
from PIL import Image, ImageDraw

from backend import builtin_templates, celery_app
from backend.celery_app import DETECT_TEMPLATE_FACE
from backend.engine_choice.lineup import get as engine_spec
from backend.extensions import db
from backend.models import StickerTemplate
from backend.services.media import files, images
from backend.transactions import write_transaction

NAME_MAX, TAG_MAX, TAGS_MAX = 32, 8, 5
UPLOADED_CAPTION_BOX = (0.04, 0.78, 0.96, 0.97)
PREVIEW_SIZE = 256


def get(template_id):
    """A built-in or enabled uploaded template by id, or KeyError."""
    try:
        return builtin_templates.get(template_id)
    except KeyError:
        row = db.session.get(StickerTemplate, template_id) if len(template_id) <= 32 else None
        if row is None or not row.enabled or row.status != "ready":
            raise
        return as_template(row)


def listing():
    """Every template the API serves: built-in first, then enabled uploads, oldest first."""
    rows = db.session.scalars(sa.select(StickerTemplate).where(
        StickerTemplate.enabled.is_(True), StickerTemplate.status == "ready").order_by(StickerTemplate.created_at))
    return [*builtin_templates.TEMPLATES.values(), *(as_template(row) for row in rows)]


def as_template(row):
    return builtin_templates.Template(
        row.id, row.name, tuple(row.tags or ()), ("template",), "photo", UPLOADED_CAPTION_BOX,
        f"uploaded by operator {row.created_by}", landmarks=np.array(row.landmarks, dtype=np.float32),
        image_path=row.image_path)


def upload(name, tags, data, operator):
    """Store an uploaded template photo and ask a sticker worker to find its face; returns the row."""
    name = (name or "").strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise ValueError(f"名称需为 1-{NAME_MAX} 个字")
    tags = [tag.strip() for tag in (tags or "").replace("，", ",").split(",") if tag.strip()]
    if len(tags) > TAGS_MAX or any(len(tag) > TAG_MAX for tag in tags):
        raise ValueError(f"标签最多 {TAGS_MAX} 个，每个不超过 {TAG_MAX} 个字")
    photo = images.receive(data, "image")  # the API's own checks: size, type, pixels
    with write_transaction():
        row = StickerTemplate(name=name, tags=tags, image_path=photo.path, status="detecting", enabled=False,
                              created_by=operator)
        db.session.add(row)
    celery_app.send(DETECT_TEMPLATE_FACE, row.id, queue=engine_spec("sticker", "classic").queue)
    return row


def detect_face(template_id, find_faces):
    """Worker side: square an uploaded template, find its face with `find_faces` (RGB array -> faces, largest
    first: the sticker engine's), store the squared image, its preview, the preview with the face drawn on it
    (for the console) and the face's landmarks (none found: status no_face). Returns how many faces it found."""
    row = db.session.get(StickerTemplate, template_id)
    if row is None:
        return None
    rgba = _square(images.load(row.image_path))
    faces = find_faces(np.ascontiguousarray(rgba[..., :3]))
    landmarks = np.round(faces[0].landmarks, 2).tolist() if faces else None
    image_path = f"templates/{template_id}-image.png"
    files.write_atomic(image_path, _png(Image.fromarray(rgba, "RGBA")))
    files.write_atomic(builtin_templates.preview_path(template_id), preview_png(rgba))
    files.write_atomic(_face_preview_path(template_id), _face_preview_png(rgba, faces[0] if faces else None))
    with write_transaction():
        db.session.execute(sa.update(StickerTemplate).where(StickerTemplate.id == template_id).values(
            image_path=image_path, landmarks=landmarks, status="ready" if landmarks is not None else "no_face"))
    return len(faces)


def render_builtin_previews(image_of):
    """Worker side: store every built-in template's preview; `image_of(template)` is its RGBA picture (the
    sticker engines draw them)."""
    for template in builtin_templates.TEMPLATES.values():
        files.write_atomic(builtin_templates.preview_path(template.id), preview_png(image_of(template)))
    return len(builtin_templates.TEMPLATES)


def preview_url(template_id):
    """The signed URL of a template's preview, or None before a worker has rendered it."""
    return _signed(builtin_templates.preview_path(template_id))


def face_preview_url(template_id):
    """The signed URL of the console's check of an uploaded template's face, or None before detection."""
    return _signed(_face_preview_path(template_id))


def preview_png(rgba):
    """A template preview, PREVIEW_SIZE square, as PNG bytes."""
    return _png(Image.fromarray(rgba, "RGBA").resize((PREVIEW_SIZE, PREVIEW_SIZE), Image.Resampling.LANCZOS))


def _signed(path):
    return files.sign_url(path)[0] if files.exists(path) else None


def _face_preview_path(template_id):
    return f"templates/{template_id}-face.png"


def _square(rgb):
    """An uploaded template photo as the library's RGBA SIZE x SIZE square (centre crop)."""
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    crop = Image.fromarray(np.ascontiguousarray(rgb[top:top + side, left:left + side]), "RGB")
    size = builtin_templates.SIZE
    return np.asarray(crop.resize((size, size), Image.Resampling.LANCZOS).convert("RGBA"))


def _face_preview_png(rgba, face):
    """The template with the face box and its anchors (eyes, nose, mouth) drawn on it, PREVIEW_SIZE square."""
    image = Image.fromarray(rgba, "RGBA").convert("RGB")
    draw = ImageDraw.Draw(image)
    if face is not None:
        width = max(2, builtin_templates.SIZE // 128)
        draw.rectangle(face.box, outline=(79, 192, 141), width=width)
        for x, y in face.anchors:
            draw.ellipse((x - 2 * width, y - 2 * width, x + 2 * width, y + 2 * width), fill=(231, 76, 60))
    return _png(image.resize((PREVIEW_SIZE, PREVIEW_SIZE), Image.Resampling.LANCZOS))


def _png(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def load_pixels(template):
    """Worker side: an uploaded template with its RGBA pixels loaded (built-in ones are returned as they are)."""
    if template is None or template.image_path is None:
        return template
    rgb = images.load(template.image_path)
    return dataclasses.replace(template, pixels=np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))


def set_enabled(template_id, enabled):
    """Enable (only a template whose face was found) or disable an uploaded template."""
    row = db.session.get(StickerTemplate, template_id)
    if row is None:
        raise KeyError(template_id)
    if enabled and row.status != "ready":
        raise ValueError("只有检测到人脸的模板才能启用")
    with write_transaction():
        row.enabled = bool(enabled)
    current_app.logger.info("template %s enabled=%s", template_id, enabled)
    return row


def uploaded():
    return db.session.scalars(sa.select(StickerTemplate).order_by(StickerTemplate.created_at.desc())).all()
