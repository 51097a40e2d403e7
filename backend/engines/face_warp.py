"""Piecewise-affine (Delaunay) warps, and landmark-driven facial expressions built on them."""
import cv2
import numpy as np
from scipy.spatial import Delaunay

from backend.face_mesh import CHIN, FOREHEAD, LIP_BOTTOM, LIP_TOP, MOUTH_LEFT, MOUTH_RIGHT, Face
from backend.vocabulary import EXPRESSIONS

UPPER_LIP = (185, 40, 39, 37, 0, 267, 269, 270, 409, 191, 80, 81, 82, 13, 312, 311, 310, 415)
LOWER_LIP = (146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324)
OUTER_LIPS = (185, 40, 39, 37, 0, 267, 269, 270, 409, 146, 91, 181, 84, 17, 314, 405, 321, 375)
INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
LEFT_BROW = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)  # image-left brow, outer to inner
RIGHT_BROW = (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)
BROW_INNER = (107, 66, 55, 65, 336, 296, 285, 295)
UPPER_LIDS = (159, 158, 160, 161, 157, 386, 385, 387, 388, 384)
LOWER_LIDS = (145, 144, 153, 154, 163, 374, 373, 380, 381, 390)
CHEEKS = (205, 425, 50, 280, 207, 427)
LOWER_LIP_MIDDLE = (17, 84, 314, 14, 87, 317)  # the lower lip's middle third, outer and inner edge


class FaceFrame:
    """Face-local coordinates: origin at the mouth centre, x along the eye line, unit = face height."""

    def __init__(self, face: Face):
        self.origin = face.mouth
        axis = face.right_eye - face.left_eye
        self.x = axis / np.linalg.norm(axis)
        self.y = np.array([-self.x[1], self.x[0]])  # pointing down the face
        self.height = float(np.linalg.norm(face.landmarks[CHIN] - face.landmarks[FOREHEAD]))

    def to_local(self, points):
        offset = points - self.origin
        return np.stack([offset @ self.x, offset @ self.y], axis=-1) / self.height

    def to_image_delta(self, local_delta):
        return (local_delta[..., :1] * self.x + local_delta[..., 1:] * self.y) * self.height


def expression_targets(face: Face, expression, jaw=0.0, tilt=True):
    """Where each landmark moves for `expression` (a smooth field, so neighbours move together), the jaw then
    dropped by `jaw` face heights more (a talking mouth)."""
    points = face.landmarks.astype(np.float64)
    if expression == "none" and not jaw:
        return points.copy()
    frame = FaceFrame(face)
    local = frame.to_local(points)
    delta = np.zeros_like(local)
    corners = local[[MOUTH_LEFT, MOUTH_RIGHT]]

    def pull(handle, move, sigma):
        weight = np.exp(-np.sum((local - handle) ** 2, axis=1) / (2 * sigma**2))
        delta[:] += weight[:, None] * np.asarray(move)

    def jaw_drop(amount, width=0.32, lip_width=None):
        """Drop the jaw; the lower lip falls off sideways over `lip_width` (narrow: a round O, not a box)."""
        below = local[:, 1] > 0.0
        below[list(UPPER_LIP)] = False
        below[list(LOWER_LIP)] = True
        sideways = np.exp(-(local[:, 0] / width) ** 2)
        if lip_width:
            sideways[list(LOWER_LIP)] = np.exp(-(local[list(LOWER_LIP), 0] / lip_width) ** 2)
        delta[below, 1] += amount * sideways[below]
        delta[list(UPPER_LIP), 1] -= amount * 0.12

    def close_mouth(keep):
        """Bring the lower lip up to the upper one (a smile that shows teeth cannot turn sad while open)."""
        opening = local[LIP_BOTTOM, 1] - local[LIP_TOP, 1]
        if opening <= 0.012:
            return
        half_width = abs(corners[1, 0] - corners[0, 0]) / 2
        sideways = np.clip(1 - (local[:, 0] / max(half_width, 1e-6)) ** 2, 0, 1)  # 1 at the centre, 0 at corners
        lower = list(LOWER_LIP)
        delta[lower, 1] -= opening * (1 - keep) * sideways[lower]

    def spread(index, moves, sigma):
        """Move the landmarks `index` by `moves` and their neighbourhood with them, fading over `sigma`: moving
        only the named points would fold the triangles between them and the points that stay."""
        weight = np.exp(-np.sum((local[None, :, :] - local[index][:, None, :]) ** 2, axis=2) / (2 * sigma**2))
        total = weight.sum(axis=0)
        field = (weight[..., None] * np.asarray(moves)[:, None, :]).sum(axis=0) / np.maximum(total, 1e-9)[:, None]
        delta[:] += field * weight.max(axis=0)[:, None]

    def brows(lift_inner, lift_outer, knit=0.0):
        """Raise (positive) or lower each brow, its inner end by `lift_inner`, and pull the inner ends `knit`
        towards the nose."""
        index, moves = [], []
        for brow, side in ((LEFT_BROW, 1), (RIGHT_BROW, -1)):
            for i in brow:
                inner = i in BROW_INNER
                index.append(i)
                moves.append((knit * side if inner else 0.0, -(lift_inner if inner else lift_outer)))
        spread(index, moves, 0.045)  # wide enough that the forehead above follows without a crease

    # Mouth corners are moved to an absolute lift (corners above the lip centre, in face heights), not by a
    # fixed step: "sad" on a smiling photo must end turned down, "smile" on a glum one turned up.
    lift_now = -float(np.mean(corners[:, 1] - (local[LIP_TOP, 1] + local[LIP_BOTTOM, 1]) / 2))

    def corners_to(lift, sideways, sigma):
        step = lift_now - lift  # positive: move down (local y points down the face)
        for side, corner in zip((-1, 1), corners):
            pull(corner, (sideways * side, step), sigma)

    def eyes(upper, lower):
        """Open (positive) or close the eyes: upper lids up by `upper`, lower lids down by `lower`."""
        spread(list(UPPER_LIDS) + list(LOWER_LIDS), [(0.0, -upper)] * len(UPPER_LIDS)
               + [(0.0, lower)] * len(LOWER_LIDS), 0.012)

    # Stickers exaggerate: at 240 px the face is ~100 px high, so every part of the face says the expression
    # (brows, lids, mouth shape), not only the mouth corners.
    if expression in ("smile", "laugh"):
        strength = 1.0 if expression == "smile" else 1.3
        corners_to(max(lift_now, 0.0) + 0.05 * strength, 0.028 * strength, 0.07)
        spread(list(CHEEKS), [(0.0, -0.018 * strength)] * len(CHEEKS), 0.04)
        eyes(-0.006 * strength, -0.014 * strength)  # smiling eyes: lower lids pushed up by the cheeks
        brows(0.012, 0.012)
        jaw_drop(0.05 if expression == "smile" else 0.08, width=0.22)  # a grin shows its teeth; a laugh, a D
    elif expression == "surprise":
        jaw_drop(0.17, width=0.2, lip_width=0.13)
        for side, corner in zip((-1, 1), corners):
            pull(corner, (-0.08 * side, 0.03), 0.05)  # corners drawn in: an O, not a grin
        upper_middle = [i for i in UPPER_LIP if abs(local[i, 0]) < 0.06]
        spread(upper_middle, [(0.0, -0.03)] * len(upper_middle), 0.025)  # the upper lip arched: a flat top shouts
        brows(0.085, 0.07)
        eyes(0.022, 0.012)
    elif expression == "angry":
        close_mouth(keep=0.0)
        brows(-0.105, -0.015, knit=0.035)  # lowered, the inner ends most, and knitted towards the nose
        eyes(-0.018, -0.006)  # a glare: lids narrowed
        corners_to(min(lift_now, 0.0) - 0.065, -0.015, 0.05)
    elif expression == "sad":  # sorrow as a face shows it at a glance: a pout turned down, not a wail
        close_mouth(keep=0.0)  # an open, dark mouth read as fear or disgust
        brows(0.1, -0.02, knit=0.03)  # inner ends up and together, outer ends down: the brows' slant says it
        eyes(-0.04, -0.015)  # heavy upper lids, the lower ones pushed up: eyes screwed up to cry
        corners_to(-0.10, -0.01, 0.05)
        spread(list(LOWER_LIP_MIDDLE), [(0.0, -0.02)] * len(LOWER_LIP_MIDDLE), 0.03)  # the lower lip pushed up: a pout
    elif expression != "none":
        raise ValueError(f"expression must be one of {EXPRESSIONS}, got {expression!r}")
    if jaw:
        jaw_drop(jaw)
    moved = points + frame.to_image_delta(delta)
    angle = np.radians(TILT.get(expression, 0.0)) if tilt else 0.0
    if angle:  # the head tilted about the chin, as stickers pose it
        pivot = points[CHIN]
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        moved = pivot + (moved - pivot) @ rotation.T
    return moved


TILT = {"sad": 7.0, "laugh": -5.0}  # degrees the head leans (positive: towards the image's left shoulder)


def outer_ring(face: Face, shape, scale=1.9, count=24):
    """Fixed points on an ellipse around the face plus the image border: the warp stays inside."""
    x0, y0, x1, y1 = face.box
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    radii = np.array([(x1 - x0) / 2, (y1 - y0) / 2]) * scale
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    ring = centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * radii
    height, width = shape[:2]
    border = np.array([(0, 0), (width / 2, 0), (width - 1, 0), (width - 1, height / 2), (width - 1, height - 1),
                       (width / 2, height - 1), (0, height - 1), (0, height / 2)], dtype=np.float64)
    inside = (ring[:, 0] > 1) & (ring[:, 0] < width - 2) & (ring[:, 1] > 1) & (ring[:, 1] < height - 2)
    return np.concatenate([ring[inside], border])


def warp(image, source_points, target_points, output_shape=None, triangles=None):
    """Map `image` so that source_points land on target_points (affine inside each Delaunay triangle).

    Returns the warped image and a mask of the pixels covered by the triangulation.
    """
    height, width = (output_shape or image.shape)[:2]
    target = np.asarray(target_points, dtype=np.float64)
    source = np.asarray(source_points, dtype=np.float64)
    if triangles is None:
        triangles = Delaunay(target).simplices
    # Inverse affine per triangle: output pixel -> source pixel.
    ones = np.ones((len(triangles), 3, 1))
    dst = np.concatenate([target[triangles], ones], axis=2)  # (T, 3, 3)
    src = source[triangles]  # (T, 3, 2)
    try:
        matrices = np.linalg.solve(dst, src)  # (T, 3, 2): [x y 1] @ M = source
    except np.linalg.LinAlgError:
        matrices = np.stack([np.linalg.lstsq(d, s, rcond=None)[0] for d, s in zip(dst, src)])
    index = np.full((height, width), -1, dtype=np.int32)
    corners = np.round(target[triangles]).astype(np.int32)
    for number, corner in enumerate(corners):  # edges first: rounding leaves gaps between filled triangles
        cv2.polylines(index, [corner], True, number, 1)
    for number, corner in enumerate(corners):
        cv2.fillConvexPoly(index, corner, number)
    ys, xs = np.nonzero(index >= 0)
    chosen = matrices[index[ys, xs]]
    map_x = np.full((height, width), -1, dtype=np.float32)
    map_y = np.full((height, width), -1, dtype=np.float32)
    map_x[ys, xs] = xs * chosen[:, 0, 0] + ys * chosen[:, 1, 0] + chosen[:, 2, 0]
    map_y[ys, xs] = xs * chosen[:, 0, 1] + ys * chosen[:, 1, 1] + chosen[:, 2, 1]
    warped = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return warped, index >= 0


MIN_PAINTED_JAW = 0.015  # a mouth opened less shows no inside worth drawing


def apply_expression(image, face: Face, expression, jaw=0.0, tilt=True):
    """The image with the face's expression changed (and its jaw dropped by `jaw` face heights), and the face's
    moved landmarks. `tilt`: lean the head as the expression's sticker pose does (TILT)."""
    if expression == "none" and not jaw:
        return image, face
    targets = expression_targets(face, expression, jaw, tilt)
    ring = outer_ring(face, image.shape)
    source = np.concatenate([face.landmarks, ring])
    # triangulated on the photo's own points: a mesh without folds there stays one where the moves are smooth
    warped, _ = warp(image, source, np.concatenate([targets, ring]), triangles=Delaunay(source).simplices)
    moved = Face(targets.astype(np.float32))
    if expression in ("smile", "laugh", "surprise") or jaw >= MIN_PAINTED_JAW:
        _paint_open_mouth(warped, moved, teeth=TEETH.get(expression, 0.3) if not jaw else 0.3)
    elif expression in ("angry", "sad"):
        _paint_closed_mouth(warped, moved)
    return warped, moved


# how far down the opened mouth the upper teeth reach (0 the upper lip, 1 the lower): a grin is mostly teeth
TEETH = {"smile": 0.75, "laugh": 0.2, "surprise": 0.08}


def _paint_closed_mouth(image, face: Face):
    """Close the lips over whatever the photo's mouth showed (a smile's teeth must not survive into anger or
    sorrow): the gap between the lips filled with lip colour, a dark seam line through it."""
    inner = face.landmarks[list(INNER_LIP)]
    polygon = np.round(inner).astype(np.int32)
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    cv2.fillPoly(mask, [polygon], 255)
    frame = FaceFrame(face)
    thickness = max(1, int(round(0.008 * frame.height)))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * thickness + 1,) * 2))
    rgb = image[..., :3].astype(np.float32)
    lips = 0.75 * _median_colour(rgb, face.landmarks[list(OUTER_LIPS)]) + 0.25 * np.array([176.0, 76.0, 84.0])
    # the seam: from one corner through the middle of the upper and lower inner lip to the other, drawn soft
    # (photos' faces are small and the sticker enlarges them: a crisp 1 px line turns into steps)
    upper = face.landmarks[[78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]]
    lower = face.landmarks[[78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]]
    line = np.zeros(image.shape[:2], np.uint8)
    seam = np.round((upper + lower) / 2 * 8).astype(np.int32)  # 3 bits of sub-pixel precision
    cv2.polylines(line, [seam], False, 255, max(2, thickness), cv2.LINE_AA, shift=3)
    line = cv2.GaussianBlur(line, (0, 0), 0.8).astype(np.float32)[..., None] / 255.0
    paint = lips * (1 - 0.6 * line)
    soft = cv2.GaussianBlur(mask, (0, 0), max(1.0, thickness * 0.6)).astype(np.float32)[..., None] / 255.0
    image[..., :3] = np.clip(rgb * (1 - soft) + paint * soft, 0, 255).astype(image.dtype)


def _paint_open_mouth(image, face: Face, teeth=0.3):
    """Render the inside of an opened mouth between the lips, colour-matched to this face: upper teeth
    (white toned to the skin's brightness), a tongue (the lips' colour, shaded), and a dark throat between, all
    shaded darker towards the corners. A flat fill reads as a hole pasted on the face."""
    polygon = np.round(face.landmarks[list(INNER_LIP)]).astype(np.int32)
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    cv2.fillPoly(mask, [polygon], 255)
    if teeth > 0:
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
    else:  # no teeth drawn: paint up to the lips, or a rim of the photo's own teeth shows
        mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
    ys, xs = np.nonzero(mask)
    if len(xs) < 12:
        return
    rgb = image[..., :3].astype(np.float32)
    lips = _median_colour(rgb, face.landmarks[list(OUTER_LIPS)])
    skin = _median_colour(rgb, face.landmarks[list(CHEEKS)])
    brightness = np.clip(skin.max() / 215.0, 0.7, 1.1)  # the lighting on this face (its brightest channel)
    frame = FaceFrame(face)
    local = frame.to_local(np.stack([xs, ys], axis=1).astype(np.float64))
    top, bottom = frame.to_local(face.landmarks[[LIP_TOP, LIP_BOTTOM]].astype(np.float64))[:, 1]
    left, right = frame.to_local(face.landmarks[[MOUTH_LEFT, MOUTH_RIGHT]].astype(np.float64))[:, 0]
    v = np.clip((local[:, 1] - top) / max(bottom - top, 1e-6), 0, 1)  # 0 at the upper lip, 1 at the lower
    u = np.clip((local[:, 0] - (left + right) / 2) / max((right - left) / 2, 1e-6), -1, 1)  # -1..1 across
    throat = lips * 0.22
    teeth_colour = (0.82 * np.array([244.0, 240.0, 230.0]) + 0.18 * skin) * brightness  # white, warmed
    tongue = (0.45 * lips + 0.55 * np.array([186.0, 78.0, 92.0])) * (0.6 + 0.15 * brightness)  # in shadow
    colour = np.repeat(throat[None], len(xs), axis=0)
    teeth_edge = teeth - 0.04 + 0.05 * np.cos(u * np.pi / 2)  # the teeth's lower edge curves with the lip
    is_teeth = np.clip((teeth_edge - v) / 0.06, 0, 1)[:, None]
    gaps = 1.0 - 0.18 * (np.abs(np.sin(u * 4 * np.pi)) < 0.12)  # faint lines between the teeth
    colour = colour * (1 - is_teeth) + (teeth_colour * gaps[:, None] * (1 - 0.25 * v[:, None])) * is_teeth
    tongue_shape = ((u / 0.72) ** 2 + ((v - 1.0) / 0.5) ** 2)  # an ellipse resting on the lower lip
    is_tongue = np.clip((1.0 - tongue_shape) / 0.25, 0, 1)[:, None] * (1 - is_teeth)
    tongue_shade = (0.8 + 0.2 * (v[:, None] - 0.55) / 0.45)
    colour = colour * (1 - is_tongue) + tongue * tongue_shade * is_tongue
    colour *= (1.0 - 0.35 * np.abs(u) ** 2)[:, None]  # deeper towards the corners
    soft = cv2.GaussianBlur(mask, (5, 5), 0).astype(np.float32)[ys, xs, None] / 255.0
    inside = np.clip((1.0 - np.abs(u)) / 0.2, 0, 1)[:, None]  # the thin slivers at the corners are lips
    colour = colour * inside + lips * 0.85 * (1 - inside)
    image[ys, xs, :3] = np.clip(rgb[ys, xs] * (1 - soft) + colour * soft, 0, 255).astype(image.dtype)


def _median_colour(rgb, points):
    """The median colour of small patches around the given landmarks."""
    height, width = rgb.shape[:2]
    samples = []
    for x, y in np.round(points).astype(int):
        patch = rgb[max(0, y - 2):min(height, y + 3), max(0, x - 2):min(width, x + 3)].reshape(-1, 3)
        if len(patch):
            samples.append(patch)
    return np.median(np.concatenate(samples), axis=0) if samples else np.array([150.0, 90.0, 90.0])
