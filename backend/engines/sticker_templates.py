"""The meme template library: images we may redistribute (drawn here, or public domain in packages).

Each template has its face stored in advance (468 landmarks in `template_faces.json`,
detected once on the photos by `flask --app backend stickers detect-template-faces`, or
a canonical face placed in a drawn template's face slot), a caption box and the styles
it serves. Images are drawn or loaded on demand and kept per process.
"""
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from backend.engines.face_analysis import Face

SIZE = 512
PREVIEW_SIZE = 256
FACES_FILE = Path(__file__).resolve().parent / "template_faces.json"


@dataclass(frozen=True)
class Template:
    """A meme template: how to get its image, where its face is, where the caption goes."""

    id: str
    name: str
    tags: tuple
    styles: tuple
    blend: str  # "photo" (colour-matched face), "photocopy" (熊猫头) or "sepia"
    caption_box: tuple  # (x0, y0, x1, y1) as fractions of the square image
    source: str  # where the image comes from, and its licence
    eye_slot: tuple = field(default=None)  # drawn templates: ((lx, ly), (rx, ry)) of the canonical face

    def image(self):
        """The RGBA template image, SIZE x SIZE, with its own face."""
        return _image(self.id).copy()

    def backdrop(self):
        """The image a user's face is put on (drawn templates leave their face slot empty)."""
        return _image(self.id + "-blank" if self.eye_slot else self.id).copy()

    def face(self):
        """The template's face (stored landmarks)."""
        return Face(_face_landmarks(self.id).copy())

    def describe(self):
        """Metadata for GET /api/v1/templates (without the preview URL)."""
        anchors = self.face().anchors / SIZE
        return {
            "template_id": self.id, "name": self.name, "tags": list(self.tags), "styles": list(self.styles),
            "caption_box": list(self.caption_box), "size": [SIZE, SIZE], "source": self.source,
            "face_anchors": {name: [round(float(v), 4) for v in point]
                             for name, point in zip(("left_eye", "right_eye", "nose", "mouth"), anchors)},
        }


TEMPLATES = {
    t.id: t for t in (
        Template("panda", "熊猫头", ("熊猫头", "经典", "沙雕"), ("panda", "template"), "photocopy",
                 (0.05, 0.82, 0.95, 0.99), "drawn by VoxMoji (procedural)", ((214, 230), (298, 230))),
        Template("astronaut", "宇航员", ("宇航员", "太空", "帅气"), ("template",), "photo",
                 (0.04, 0.78, 0.96, 0.97), "NASA portrait of Eileen Collins, public domain (scikit-image data)"),
        Template("hopper", "海军准将", ("将军", "严肃", "程序员"), ("template",), "photo",
                 (0.04, 0.78, 0.96, 0.97), "US Navy portrait of Grace Hopper, public domain (matplotlib sample data)"),
        Template("wanted", "通缉令", ("通缉", "搞笑", "复古"), ("template",), "sepia",
                 (0.10, 0.79, 0.90, 0.95), "drawn by VoxMoji (procedural)", ((214, 262), (298, 262))),
    )
}


def get(template_id):
    """A template by id, or KeyError."""
    return TEMPLATES[template_id]


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


# -- faces stored in advance ---------------------------------------------------------------

@lru_cache(maxsize=None)
def _stored_faces():
    return json.loads(FACES_FILE.read_text())


@lru_cache(maxsize=None)
def _face_landmarks(template_id):
    stored = _stored_faces()
    if template_id in stored["photos"]:
        points = np.array(stored["photos"][template_id], dtype=np.float32)
    else:
        points = place_canonical_face(np.array(stored["canonical"], dtype=np.float32), get(template_id).eye_slot)
    points.flags.writeable = False
    return points


def place_canonical_face(canonical, eye_slot):
    """The canonical face (eyes at (0,0) and (1,0)) scaled and moved so its eyes sit on `eye_slot`."""
    (lx, ly), (rx, ry) = eye_slot
    distance = np.hypot(rx - lx, ry - ly)
    angle = np.arctan2(ry - ly, rx - lx)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (canonical @ rotation.T * distance + np.array([lx, ly])).astype(np.float32)


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
            faces = analyzer.faces(np.ascontiguousarray(template.image()[..., :3]))
            photos[template.id] = np.round(faces[0].landmarks, 2).tolist()
    canonical = canonical_from(Face(np.array(photos["hopper"], dtype=np.float32)))
    return {"photos": photos, "canonical": np.round(canonical, 5).tolist()}


def preview_path(template_id):
    """Where a template's preview lives under the media root."""
    return f"templates/{template_id}.png"


def render_previews(write):
    """Render every template's preview PNG and hand it to `write(relative_path, bytes)`."""
    import io

    for template in TEMPLATES.values():
        image = Image.fromarray(template.image(), "RGBA").resize((PREVIEW_SIZE, PREVIEW_SIZE), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        write(preview_path(template.id), buffer.getvalue())
