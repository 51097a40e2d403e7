"""The meme template library's metadata: ids, names, styles, caption boxes, stored faces.

Plain data (and numpy), read by the web tier to validate requests and list templates; the images
themselves are drawn or loaded by the sticker engines (backend/engines/sticker_templates.py). Each
template's face is stored in advance: 468 landmarks in `template_faces.json`, detected once on the
photos by `flask --app backend stickers detect-template-faces`, or a canonical face placed in a drawn
template's face slot.
"""
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from backend.face_mesh import Face

SIZE = 512
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
    # Uploaded templates (services/media/templates.py): the face found at upload, the stored image, and (on the
    # worker that renders with it) the image's RGBA pixels.
    landmarks: np.ndarray = field(default=None, compare=False, repr=False)
    image_path: str = field(default=None)
    pixels: np.ndarray = field(default=None, compare=False, repr=False)

    def face(self):
        """The template's face (stored landmarks)."""
        if self.landmarks is not None:
            return Face(np.array(self.landmarks, dtype=np.float32))
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


def preview_path(template_id):
    """Where a template's preview lives under the media root."""
    return f"templates/{template_id}.png"
