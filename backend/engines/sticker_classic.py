"""`classic`: the embedded sticker engine. MediaPipe finds the face; OpenCV cuts, warps and stylises it.

Styles: `cutout` (die-cut head and shoulders), `comic` (flat cartoon die-cut), `panda`
(熊猫头 with the face photocopied in) and `template` (the face warped onto a meme
template's face). Face swap puts one photo's face onto another photo or a template.
Captions, the "AI生成" label and animation are applied afterwards, by engines/sticker_post.py.
"""

import cv2
import numpy as np
from scipy.spatial import Delaunay

from backend import builtin_templates
from backend.engines import sticker_templates
from backend.engines.face_analysis import FaceAnalyzer
from backend.engines.face_blend import add_grain, blend_face
from backend.engines.face_warp import INNER_LIP, apply_expression, warp
from backend.engines.sticker_output import NoFaceError, StickerOutput
from backend.face_mesh import CHIN, FACE_OVAL, FOREHEAD, Face
from backend.vocabulary import CLASSIC_STYLES, EXPRESSIONS

CLOSED_MOUTH = ("angry", "sad")  # the expressions that close the lips
WORK_SIZE = 480  # the die-cut styles are cut at this size, then outlined


class ClassicStickerEngine:
    """Face-driven stickers on the CPU: no downloaded weights (MediaPipe ships its models)."""

    name = "classic"

    def __init__(self, analyzer=None):
        self.analyzer = analyzer or FaceAnalyzer()

    @classmethod
    def from_config(cls, config):
        """Build the engine (and its MediaPipe graphs) once per worker process."""
        engine = cls()
        engine.warm_up()
        return engine

    def warm_up(self):
        """Run the graphs once so the first request does not pay their initialisation."""
        blank = np.full((64, 64, 3), 127, np.uint8)
        self.analyzer.faces(blank)
        self.analyzer.person_mask(blank)

    def check_inputs(self, style, expression, image, template):
        """Raise ValueError naming the bad value."""
        if style not in CLASSIC_STYLES:
            raise ValueError(f"style must be one of {CLASSIC_STYLES}, got {style!r}")
        if expression not in EXPRESSIONS:
            raise ValueError(f"expression must be one of {EXPRESSIONS}, got {expression!r}")
        if image is None and template is None:
            raise ValueError("give an image or a template")
        if image is not None and (image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8):
            raise ValueError(f"image must be uint8 RGB, got shape {getattr(image, 'shape', None)}")
        if style == "template" and template is None:
            raise ValueError("style 'template' needs a template")

    def find_face(self, image, face_index=None, which="photo"):
        """The largest face, or the `face_index`-th largest; NoFaceError if there is none."""
        faces = self.analyzer.faces(image)
        if not faces:
            raise NoFaceError(f"no face found in the {which}")
        index = face_index or 0
        if index >= len(faces):
            raise NoFaceError(f"face_index {index} asked, but the {which} has {len(faces)} face(s)")
        return faces[index]

    def generate(self, *, image=None, template=None, style="cutout", expression="none", face_index=None, text="",
                 seed=None):
        """One sticker (RGBA, not yet captioned). `text` and `seed` matter only to generative engines."""
        self.check_inputs(style, expression, image, template)
        if image is None:
            return self._template_only(template, expression)
        face = self.find_face(image, face_index)
        template = template or builtin_templates.get("panda")
        blend = "photocopy" if style == "panda" else template.blend
        if style == "template" and blend != "photocopy":
            # Warped landmark by landmark onto the template's (neutral) face, an expression made on the photo
            # would be undone (an opened mouth squeezed shut into a smear): place the face, then make the
            # expression on the template's face.
            target = template.face()
            # a mouth the expression closes is made from the photo's lips: the template's teeth would show below them
            composed = place_face(image, face, sticker_templates.backdrop(template), target, blend,
                                  keep_open_mouth=expression not in CLOSED_MOUTH)
            backdrop_rgb = np.ascontiguousarray(composed[..., :3])
            rgb, moved = apply_expression(backdrop_rgb.copy(), target, expression, tilt=False)
            # the template around the face (a poster's frame, a body) stays as it was drawn
            keep = np.maximum(face_mask(target, rgb.shape, shrink=-0.12), face_mask(moved, rgb.shape, shrink=-0.12))
            rgb = rgb * keep[..., None] + backdrop_rgb * (1 - keep[..., None])
            return StickerOutput(np.dstack([rgb.astype(np.uint8), composed[..., 3]]), expression,
                                 template.caption_box, moved)
        framing = face  # the photo's own face frames the sticker: a dropped jaw or a tilt must not move the crop
        image, face = apply_expression(image.copy(), face, expression)
        if style in ("cutout", "comic"):
            rgba, moved = self._die_cut(image, face, framing, cartoon=style == "comic")
            return StickerOutput(rgba, expression, None, moved)
        target = template.face()  # 熊猫头: aligned on eyes and mouth only, so the photo's expression survives
        composed = place_face(image, face, sticker_templates.backdrop(template), target, blend)
        return StickerOutput(composed, expression, template.caption_box, target)

    def swap(self, *, source, target=None, template=None, blend=1.0, mask_blur=None, enhance=False, face_index=None):
        """The source photo's face on the target photo (or template); returns RGB(A) at the target's size."""
        if not 0.0 <= blend <= 1.0:
            raise ValueError(f"blend must be within 0-1, got {blend!r}")
        face = self.find_face(source, face_index, "source photo")
        if template is not None:
            backdrop, target_face, mode = sticker_templates.backdrop(template), template.face(), template.blend
        else:
            backdrop = np.dstack([target, np.full(target.shape[:2], 255, np.uint8)])
            target_face, mode = self.find_face(target, which="target photo"), "photo"
        out = place_face(source, face, backdrop, target_face, mode, strength=blend, feather=mask_blur)
        if enhance:
            out = enhance_face(out, target_face)
        return out

    # -- styles --------------------------------------------------------------------

    def _template_only(self, template, expression):
        image = sticker_templates.image(template)
        face = template.face()
        if template.eye_slot is not None:  # photos can change expression; drawings cannot
            expression = "none"
        if expression != "none":
            rgb, face = apply_expression(np.ascontiguousarray(image[..., :3]), face, expression)
            image = np.dstack([rgb, image[..., 3]])
        return StickerOutput(image, expression, template.caption_box, face)

    def head_and_shoulders(self, image, face, big_head=False, framing=None):
        """The head-and-shoulders crop (scaled to WORK_SIZE), its person mask, and the face in crop pixels.

        `big_head`: the sticker framing, hair to neck, so that at 240 x 240 (a pack's size) the face is about
        half the height and its expression can be read; otherwise the shoulders are kept (sd-lora's input).
        `framing`: the face whose box places the crop (default `face`)."""
        x0, y0, x1, y1 = (framing or face).box
        width, height = x1 - x0, y1 - y0
        cx = (x0 + x1) / 2
        side, above, below = (1.0, 0.55, 0.22) if big_head else (1.35, 0.8, 0.9)
        left, right = int(max(0, cx - side * width)), int(min(image.shape[1], cx + side * width))
        top, bottom = int(max(0, y0 - above * height)), int(min(image.shape[0], y1 + below * height))
        crop = image[top:bottom, left:right]
        mask = self.analyzer.person_mask(crop)
        # keep the person whose face this is: a soft ellipse over head and shoulders
        yy, xx = np.mgrid[0:crop.shape[0], 0:crop.shape[1]].astype(np.float32)
        fx, fy = cx - left, (y0 + y1) / 2 - top
        head = ((xx - fx) / (1.0 * width)) ** 2 + ((yy - fy) / (1.05 * height)) ** 2 < 1.0
        if big_head:  # the neck and the top of the shoulders, rounded like a bust
            shoulders = ((xx - fx) / (side * width)) ** 2 + ((yy - crop.shape[0]) / (0.55 * height)) ** 2 < 1.0
        else:
            shoulders = (yy > fy + 0.35 * height) & (np.abs(xx - fx) < 1.35 * width)
        mask = mask * (head | shoulders)
        scale = WORK_SIZE / max(crop.shape[:2])
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR)
        return crop, mask, Face((face.landmarks - np.array([left, top])) * scale)

    def _die_cut(self, image, face, framing, cartoon):
        """Head and shoulders cut out with the person mask, stylised, with a white die-cut border."""
        crop, mask, moved = self.head_and_shoulders(image, face, big_head=True, framing=framing)
        return die_cut(cartoonize(crop, moved) if cartoon else stylize(crop), mask, moved)


DIE_CUT_PAD = 24


def die_cut(rgb, mask, face):
    """Transparent outside the person mask, with the white die-cut border; the face moves with the padding."""
    from backend.engines.sticker_post import add_outline

    pad = DIE_CUT_PAD
    rgba = np.zeros((rgb.shape[0] + 2 * pad, rgb.shape[1] + 2 * pad, 4), np.uint8)
    rgba[pad:-pad, pad:-pad, :3] = rgb
    rgba[pad:-pad, pad:-pad, 3] = _clean_mask(mask)
    return add_outline(rgba, 9), Face(face.landmarks + pad)


def _clean_mask(mask):
    """A person mask without specks or holes, with a slightly soft edge (uint8 alpha)."""
    hard = (mask > 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(hard, connectivity=8)
    if count > 1:
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        hard = (labels == largest).astype(np.uint8)
    hard = cv2.morphologyEx(hard, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
    soft = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), 1.2)
    return (soft * 255).clip(0, 255).astype(np.uint8)


def stylize(rgb):
    """Light, edge-preserving smoothing and a little extra colour: photo, but sticker-clean."""
    smooth = cv2.bilateralFilter(rgb, 7, 40, 7)
    hsv = cv2.cvtColor(smooth, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] *= 1.18
    hsv[..., 2] = hsv[..., 2] * 1.04 + 4
    return cv2.cvtColor(hsv.clip(0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)


# ink outlines drawn from the face mesh in `comic`: the brows' upper edges and the eyes' rims (the mouth: INNER_LIP)
BROW_LINES = ((70, 63, 105, 66, 107), (300, 293, 334, 296, 336))
EYE_RIMS = ((33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7),
            (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249))
INK = np.array([34.0, 26.0, 30.0])


def cartoonize(rgb, face=None):
    """Cel shading: smoothed colour in three flat tones of light, with clean ink lines (long edges only,
    and the brows, eye rims and the mouth's opening drawn from `face`) and flat eyes (dark iris, white sclera),
    not a posterised photo with its texture in black."""
    smooth = rgb
    for _ in range(3):
        smooth = cv2.bilateralFilter(smooth, 9, 60, 9)
    lab = cv2.cvtColor(smooth, cv2.COLOR_RGB2LAB).astype(np.float32)
    # tones follow the light over a head, not the strands of hair (a finer blur cut hair into camouflage)
    light = cv2.GaussianBlur(lab[..., 0], (0, 0), 0.017 * max(rgb.shape[:2]))
    low, high = np.percentile(light, [3, 97])
    band = np.digitize((light - low) / max(high - low, 1.0), [0.3, 0.6]).astype(np.uint8)  # shadow, mid, lit
    band = cv2.medianBlur(band, 21)  # tone regions big enough to be shapes, not specks
    # shadows lifted: a dark band over half a face reads as a smear, not as shading
    tones = low + np.array([0.2, 0.58, 0.88], np.float32) * (high - low)
    colour = 128 + (cv2.GaussianBlur(lab[..., 1:], (0, 0), 4.0) - 128) * 1.1
    # flat tones, with the face's modelling (nose, cheeks, eye sockets) kept: without it a face is a white mask
    shade = 0.4 * tones[band] + 0.6 * lab[..., 0]
    flat = cv2.cvtColor(np.dstack([shade, colour]).clip(0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    grey = cv2.GaussianBlur(cv2.cvtColor(smooth, cv2.COLOR_RGB2GRAY), (0, 0), 2.0)
    ink = _without_specks(cv2.dilate(cv2.Canny(grey, 50, 120), np.ones((2, 2), np.uint8)), 60)
    if face is not None:
        width = max(2, round(0.014 * float(np.linalg.norm(face.landmarks[CHIN] - face.landmarks[FOREHEAD]))))
        # the mouth is drawn by its opening, thin: a heavy outer lip line made an O of surprise a shout
        for points, closed, thickness in ([(face.landmarks[list(b)], False, round(width * 1.8)) for b in BROW_LINES]
                                          + [(face.landmarks[list(r)], True, width) for r in EYE_RIMS]
                                          + [(face.landmarks[list(INNER_LIP)], True, max(1, round(width * 0.6)))]):
            cv2.polylines(ink, [np.round(points * 8).astype(np.int32)], closed, 255, thickness, cv2.LINE_AA, shift=3)
        flat = _cartoon_eyes(flat, rgb, face)
    cover = cv2.GaussianBlur(ink, (3, 3), 0).astype(np.float32)[..., None] / 255.0
    return (flat * (1 - cover) + INK * cover).clip(0, 255).astype(np.uint8)


SCLERA = np.array([246.0, 244.0, 238.0])


IRIS_SHARE = 45  # percent of the eye opening (its darkest pixels) drawn as iris and pupil


def _cartoon_eyes(flat, photo, face):
    """Eyes drawn flat, where the photo has them: its darker iris and pupil in ink, the white of the eye white
    (smoothed, the eyes went grey and the face lost what a viewer, and a face detector, looks at first)."""
    out = flat.astype(np.float32)
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32)
    for rim in EYE_RIMS:
        mask = np.zeros(grey.shape, np.uint8)
        cv2.fillPoly(mask, [np.round(face.landmarks[list(rim)]).astype(np.int32)], 255)
        inside = mask > 0
        if inside.sum() < 12:
            continue
        dark = grey < np.percentile(grey[inside], IRIS_SHARE)
        iris = cv2.morphologyEx((dark & inside).astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)) > 0
        soft = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32)[..., None] / 255.0
        paint = np.where(iris[..., None], INK * 1.4, SCLERA)
        out = out * (1 - soft) + paint * soft
    return out


def _without_specks(ink, min_area):
    """The ink mask without connected pieces smaller than `min_area` pixels."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[labels].astype(np.uint8) * 255


# -- putting a face onto another image ----------------------------------------------------

def face_mask(face, shape, shrink=0.06, feather=None):
    """A soft mask of the face oval (slightly inside it), float 0-1."""
    mask = np.zeros(shape[:2], np.uint8)
    oval = face.landmarks[list(FACE_OVAL)]
    centre = oval.mean(axis=0)
    inner = centre + (oval - centre) * (1 - shrink)
    cv2.fillConvexPoly(mask, np.round(inner).astype(np.int32), 255)
    sigma = feather if feather is not None else max(1.5, face.eye_distance * 0.12)
    if sigma > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    return mask.astype(np.float32) / 255.0


def photocopy(rgb, region):
    """The 熊猫头 look: grey, very high contrast, skin pushed to white, features kept dark.

    Levels come from the pixels inside `region` (the face), not from the whole canvas.
    """
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    grey = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(grey).astype(np.float32)
    inside = grey[region > 0.5]
    low, high = np.percentile(inside if inside.size > 50 else grey, [2, 70])
    normalized = np.clip((grey - low) / max(high - low, 1.0), 0, 1)
    contrast = 1 / (1 + np.exp(-11 * (normalized - 0.5)))
    out = (contrast * 255).clip(0, 255).astype(np.uint8)
    out = cv2.GaussianBlur(out, (3, 3), 0)
    return np.dstack([out] * 3)


def sepia(rgb):
    """An old-photo tone."""
    matrix = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float32)
    return (rgb.astype(np.float32) @ matrix.T * 0.92).clip(0, 255).astype(np.uint8)


def place_face(image, face, backdrop, target_face, mode, strength=1.0, feather=None, keep_open_mouth=True):
    """Put `face` (on `image`) onto `target_face` (on the RGBA `backdrop`). `keep_open_mouth`: where the template
    shows its teeth and the photo's mouth is closed, keep the template's open mouth."""
    height, width = backdrop.shape[:2]
    backdrop_rgb = np.ascontiguousarray(backdrop[..., :3])
    if mode == "photocopy":
        # 熊猫头: aligned on the eyes and mouth (a similarity transform), photocopied, darkened in.
        source = np.stack([face.left_eye, face.right_eye, face.mouth])
        target = np.stack([target_face.left_eye, target_face.right_eye, target_face.mouth])
        matrix, _ = cv2.estimateAffinePartial2D(source, target)
        aligned = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255))
        mask = _panda_mask(target_face, (height, width))
        grey = photocopy(aligned, mask).astype(np.float32)
        darkened = np.minimum(backdrop_rgb.astype(np.float32), grey)
        rgb = backdrop_rgb * (1 - mask[..., None]) + darkened * mask[..., None]
    else:
        triangles = Delaunay(target_face.landmarks).simplices
        warped, covered = warp(image, face.landmarks, target_face.landmarks, (height, width), triangles)
        mask = face_mask(target_face, (height, width), feather=feather) * covered
        if mode == "sepia":  # a portrait printed on the poster: its own oval, in the poster's ink and grain
            warped = sepia(warped)
            mask = face_mask(target_face, (height, width), shrink=-0.02, feather=feather) * covered
            rgb = backdrop_rgb * (1 - mask[..., None] * strength) + warped * mask[..., None] * strength
            rgb = add_grain(rgb, backdrop_rgb, warped, mask > 0.5, mask[..., None] * strength)
        else:
            if (keep_open_mouth and target_face.mouth_opening > OPEN_MOUTH
                    and face.mouth_opening < target_face.mouth_opening / 2):
                # the template shows its teeth, the photo does not: keep the template's own open mouth, or the
                # closed lips are stretched over it into a smear
                mask = mask * (1 - _inner_mouth(target_face, (height, width)))
            rgb = blend_face(warped, backdrop_rgb, mask, strength)
    return np.dstack([rgb.clip(0, 255).astype(np.uint8), backdrop[..., 3]])


OPEN_MOUTH = 0.03  # a template's mouth opened more than this (face heights) shows teeth worth keeping


def _inner_mouth(face, shape):
    """A soft mask of the inside of the mouth (between the inner lips), float 0-1."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(face.landmarks[list(INNER_LIP)]).astype(np.int32)], 255)
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    return cv2.GaussianBlur(mask, (0, 0), 1.2).astype(np.float32) / 255.0


def _panda_mask(target_face, shape):
    """Eyes, brows, nose and mouth: an ellipse from the brows to below the mouth, feathered."""
    mask = np.zeros(shape, np.uint8)
    eyes = (target_face.left_eye + target_face.right_eye) / 2
    mouth = target_face.mouth
    centre = (eyes + mouth) / 2 + (mouth - eyes) * 0.05
    axes = (int(target_face.eye_distance * 0.95), int(np.linalg.norm(mouth - eyes) * 1.05))
    cv2.ellipse(mask, (int(centre[0]), int(centre[1])), axes, 0, 0, 360, 255, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), target_face.eye_distance * 0.12)
    return mask.astype(np.float32) / 255.0


def enhance_face(rgba, face):
    """A light denoise and sharpen over the face (FaceFusion's `enhance_output`, without a model)."""
    rgb = np.ascontiguousarray(rgba[..., :3])
    smooth = cv2.bilateralFilter(rgb, 5, 25, 5)
    blurred = cv2.GaussianBlur(smooth, (0, 0), 1.2)
    sharp = cv2.addWeighted(smooth, 1.6, blurred, -0.6, 0)
    mask = face_mask(face, rgb.shape, shrink=-0.05)[..., None]
    out = rgb * (1 - mask) + sharp * mask
    return np.dstack([out.clip(0, 255).astype(np.uint8), rgba[..., 3]])
