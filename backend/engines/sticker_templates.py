"""The built-in meme templates' images: drawn here, or public-domain photos from packages, kept per process.

Their metadata (ids, styles, stored faces) is backend/builtin_templates.py; everything else a template goes
through (upload, face detection, previews, enabling, listing) is services/media/templates.py.
"""
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from backend.builtin_templates import SIZE, TEMPLATES
from backend.face_mesh import Face


def image(template):
    """The RGBA template image, SIZE x SIZE, with its own face."""
    if template.pixels is not None:  # uploaded in the console
        return template.pixels.copy()
    return _image(template.id).copy()


def backdrop(template):
    """The image a user's face is put on (drawn templates leave their face slot empty)."""
    if template.pixels is not None:
        return template.pixels.copy()
    return _image(template.id + "-blank" if template.eye_slot else template.id).copy()


# -- images ----------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _image(template_id):
    drawers = {"panda": _draw_panda, "wanted": _draw_wanted, "astronaut": _astronaut, "hopper": _hopper,
               "panda-blank": lambda: _draw_panda(with_face=False), "wanted-blank": lambda: _draw_wanted(with_face=False)}
    image = drawers[template_id]()
    image.flags.writeable = False
    return image


def _astronaut():
    from skimage import data

    return _rgba(data.astronaut())


def _hopper():
    import matplotlib.cbook

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as photo:
        rgb = np.asarray(photo.convert("RGB"))
    return _rgba(rgb[:SIZE, :SIZE])


def _rgba(rgb):
    import cv2

    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    return cv2.resize(rgba, (SIZE, SIZE), interpolation=cv2.INTER_AREA) if rgb.shape[:2] != (SIZE, SIZE) else rgba


def _draw_panda(with_face=True):
    """熊猫头: black ears, a round white head, slanted eye patches; a smirking face unless one is pasted."""
    import cv2

    k = 4  # draw at 4x, then downsample: smooth edges
    canvas = np.zeros((SIZE * k, SIZE * k, 4), np.uint8)
    black, white = (20, 20, 20, 255), (250, 250, 250, 255)

    def ellipse(centre, axes, angle, colour):
        cv2.ellipse(canvas, (centre[0] * k, centre[1] * k), (axes[0] * k, axes[1] * k), angle, 0, 360, colour, -1,
                    cv2.LINE_AA)

    for cx in (120, 392):
        ellipse((cx, 112), (70, 70), 0, black)
    ellipse((256, 246), (214, 186), 0, black)
    ellipse((256, 246), (206, 178), 0, white)
    ellipse((140, 275), (46, 31), -35, black)  # patches droop outward, like a real panda's
    ellipse((372, 275), (46, 31), 35, black)
    if with_face:
        ellipse((160, 260), (9, 11), 0, white)
        ellipse((352, 260), (9, 11), 0, white)
        ellipse((256, 284), (16, 10), 0, black)
        cv2.ellipse(canvas, (256 * k, 318 * k), (34 * k, 16 * k), 0, 10, 170, black, 5 * k, cv2.LINE_AA)
    return cv2.resize(canvas, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def _draw_wanted(with_face=True):
    """通缉令: an old poster with a framed portrait slot and room for the caption."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    vignette = 1 - 0.35 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2) * 2
    base = np.array([226, 204, 160], dtype=np.float32) * vignette[..., None]
    base += rng.normal(0, 6, base.shape[:2])[..., None]
    image = Image.fromarray(np.dstack([base.clip(0, 255).astype(np.uint8), np.full((SIZE, SIZE), 255, np.uint8)]),
                            "RGBA")
    draw = ImageDraw.Draw(image)
    from backend.engines.sticker_post import font

    brown = (78, 48, 24, 255)
    draw.rectangle((10, 10, SIZE - 11, SIZE - 11), outline=brown, width=5)
    title = "通 缉 令"
    face = font(74)
    draw.text(((SIZE - draw.textlength(title, font=face)) / 2, 22), title, font=face, fill=brown)
    draw.rectangle((126, 122, 386, 392), fill=(200, 178, 136, 255), outline=brown, width=6)
    if with_face:  # a silhouette with a question mark, until someone's face is pasted in
        draw.ellipse((176, 170, 336, 352), fill=(170, 146, 104, 255))
        draw.text((SIZE / 2 - 26, 222), "?", font=font(72), fill=(120, 92, 60, 255))
    return np.asarray(image)


def canonical_from(face):
    """Normalize a frontal face so that its eye centres are at (0, 0) and (1, 0)."""
    left, right = face.left_eye, face.right_eye
    axis = right - left
    angle = -np.arctan2(axis[1], axis[0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return ((face.landmarks - left) @ rotation.T) / np.linalg.norm(axis)


def detect_template_faces(analyzer):
    """Detect the photo templates' faces and the canonical face; the content of template_faces.json."""
    photos = {}
    for template in TEMPLATES.values():
        if template.eye_slot is None:
            faces = analyzer.faces(np.ascontiguousarray(image(template)[..., :3]))
            photos[template.id] = np.round(faces[0].landmarks, 2).tolist()
    canonical = canonical_from(Face(np.array(photos["hopper"], dtype=np.float32)))
    return {"photos": photos, "canonical": np.round(canonical, 5).tolist()}
