"""Decorations drawn over the finished face, one per emotion's need (backend/emotions.py): 💢 (anger), tears,
a single tear, a sweat drop, blushing cheeks, 黑线 lines on the forehead (speechless), a sparkle (smug,
excited) and shiver marks beside the face (scared)."""
import cv2
import numpy as np

from backend.face_mesh import Face

RED = (230, 40, 40, 255)
BLUE = (90, 170, 245, 235)
WHITE = (255, 255, 255, 255)
PINK = (255, 105, 130)
INK = (40, 40, 48, 255)
GOLD = (255, 200, 40, 255)


def decorate(rgba, face: Face | None, decoration):
    """Draw the decoration (one of emotions.DECORATIONS; in place) relative to the face; returns the image."""
    if face is None or decoration not in _DRAW:
        return rgba
    _DRAW[decoration](rgba, face, face.eye_distance, face.box)
    return rgba


def _anger(rgba, face, unit, box):
    x0, y0, x1, y1 = box
    _anger_mark(rgba, (x1 - 0.05 * unit, y0 + 0.15 * unit), 0.42 * unit)


# Tears start on the cheek, below EYE_CLEAR eye distances from the eye's centre: higher, they sit on glasses.
EYE_CLEAR = 0.42


def _tears(rgba, face, unit, box):
    for eye, side in ((face.left_eye, -1), (face.right_eye, 1)):
        x = eye[0] + side * 0.08 * unit
        _drop(rgba, (x, eye[1] + EYE_CLEAR * unit), 0.14 * unit, BLUE)
        _drop(rgba, (x + side * 0.04 * unit, eye[1] + (EYE_CLEAR + 0.36) * unit), 0.11 * unit, BLUE)


def _tear(rgba, face, unit, box):
    eye = face.right_eye
    _drop(rgba, (eye[0] + 0.08 * unit, eye[1] + EYE_CLEAR * unit), 0.13 * unit, BLUE)


def _sweat(rgba, face, unit, box):
    """A big drop on the temple, above the eye line and outside the face's edge (clear of glasses)."""
    x0, y0, x1, y1 = box
    eyes = min(face.left_eye[1], face.right_eye[1])
    _drop(rgba, (x1 - 0.02 * unit, min(y0 + 0.25 * unit, eyes - 0.75 * unit)), 0.2 * unit, BLUE)


def _blush(rgba, face, unit, box):
    """Two pink cheeks (translucent, blended over the skin) with three short strokes each."""
    overlay = rgba[..., :3].copy()
    for eye, side in ((face.left_eye, -1), (face.right_eye, 1)):
        centre = (int(eye[0] + side * 0.1 * unit), int(eye[1] + 0.5 * unit))
        cv2.ellipse(overlay, centre, (int(0.3 * unit), int(0.14 * unit)), 0, 0, 360, PINK, -1, cv2.LINE_AA)
    mask = np.any(overlay != rgba[..., :3], axis=2) & (rgba[..., 3] > 0)
    rgba[..., :3][mask] = (0.55 * rgba[..., :3][mask] + 0.45 * overlay[mask]).astype(np.uint8)
    for eye, side in ((face.left_eye, -1), (face.right_eye, 1)):
        for k in (-1, 0, 1):
            x = eye[0] + side * 0.1 * unit + k * 0.12 * unit
            start = (int(x + 0.04 * unit), int(eye[1] + 0.42 * unit))
            end = (int(x - 0.04 * unit), int(eye[1] + 0.58 * unit))
            cv2.line(rgba, start, end, (*PINK, 255), max(1, int(0.03 * unit)), cv2.LINE_AA)


def _lines(rgba, face, unit, box):
    """黑线: three vertical ink lines down the forehead."""
    x0, y0, x1, y1 = box
    middle = (face.left_eye[0] + face.right_eye[0]) / 2
    top, eyes = y0 + 0.05 * unit, min(face.left_eye[1], face.right_eye[1])
    for k, length in ((-1, 0.55), (0, 0.75), (1, 0.55)):
        x = int(middle + k * 0.28 * unit)
        cv2.line(rgba, (x, int(top)), (x, int(top + length * (eyes - top))), INK, max(2, int(0.05 * unit)),
                 cv2.LINE_AA)


def _sparkle(rgba, face, unit, box):
    """A four-pointed gold star with a small one beside it, above the head's corner."""
    x0, y0, x1, y1 = box
    for (cx, cy), size in (((x1 - 0.1 * unit, y0 + 0.1 * unit), 0.3 * unit),
                           ((x1 + 0.2 * unit, y0 + 0.45 * unit), 0.15 * unit)):
        angles = np.linspace(0, 2 * np.pi, 9)[:-1]
        radii = np.where(np.arange(8) % 2 == 0, size, size * 0.28)
        points = np.stack([cx + radii * np.sin(angles), cy - radii * np.cos(angles)], axis=1)
        points = np.round(points).astype(np.int32)
        cv2.fillPoly(rgba, [points], GOLD, cv2.LINE_AA)
        cv2.polylines(rgba, [points], True, WHITE, max(1, int(size * 0.08)), cv2.LINE_AA)


def _shiver(rgba, face, unit, box):
    """Shaking: three short curved strokes each side of the face, and a sweat drop."""
    x0, y0, x1, y1 = box
    height = y1 - y0
    for side, x in ((-1, x0 - 0.1 * unit), (1, x1 + 0.1 * unit)):
        for k in range(3):
            y = y0 + height * (0.3 + 0.15 * k)
            curve = _bezier((int(x), int(y)), (int(x + side * 0.12 * unit), int(y + 0.08 * unit)),
                            (int(x), int(y + 0.16 * unit)))
            cv2.polylines(rgba, [curve], False, INK, max(2, int(0.04 * unit)), cv2.LINE_AA)
    _sweat(rgba, face, unit, box)


_DRAW = {"anger": _anger, "tears": _tears, "tear": _tear, "sweat": _sweat, "blush": _blush, "lines": _lines,
         "sparkle": _sparkle, "shiver": _shiver}


def _anger_mark(rgba, centre, size):
    """💢: four bulging red corners around a centre."""
    cx, cy = centre
    thickness = max(2, int(size * 0.16))
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        start = (int(cx + sx * size * 0.15), int(cy + sy * size * 0.55))
        end = (int(cx + sx * size * 0.55), int(cy + sy * size * 0.15))
        curve = _bezier(start, (int(cx + sx * size * 0.2), int(cy + sy * size * 0.2)), end)
        for points, colour, width in ((curve, WHITE, thickness + 4), (curve, RED, thickness)):
            cv2.polylines(rgba, [points], False, colour, width, cv2.LINE_AA)


def _bezier(p0, p1, p2, steps=16):
    t = np.linspace(0, 1, steps)[:, None]
    points = (1 - t) ** 2 * np.array(p0) + 2 * (1 - t) * t * np.array(p1) + t**2 * np.array(p2)
    return np.round(points).astype(np.int32)


def _drop(rgba, tip, size, colour):
    """A water drop hanging from its tip, with a white rim and highlight."""
    tx, ty = tip
    angles = np.linspace(0, 2 * np.pi, 40)
    body = np.stack([tx + size * 0.55 * np.sin(angles), ty + size * 1.25 + size * 0.55 * np.cos(angles)], axis=1)
    points = np.concatenate([[[tx, ty]], body[(body[:, 1] > ty + size * 0.9)]])
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    cv2.fillConvexPoly(rgba, hull, colour, cv2.LINE_AA)
    cv2.polylines(rgba, [hull], True, WHITE, max(1, int(size * 0.12)), cv2.LINE_AA)
    cv2.circle(rgba, (int(tx - size * 0.18), int(ty + size * 1.2)), max(1, int(size * 0.12)), WHITE, -1, cv2.LINE_AA)
