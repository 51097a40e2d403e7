"""Expression decorations drawn over the finished face: 💢 for angry, tears for sad, a sweat drop for surprise."""
import cv2
import numpy as np

from backend.face_mesh import Face

RED = (230, 40, 40, 255)
BLUE = (90, 170, 245, 235)
WHITE = (255, 255, 255, 255)


def decorate(rgba, face: Face | None, expression):
    """Draw the expression's decoration (in place) relative to the face; returns the image."""
    if face is None or expression not in ("angry", "sad", "surprise"):
        return rgba
    unit = face.eye_distance
    x0, y0, x1, y1 = face.box
    if expression == "angry":
        _anger_mark(rgba, (x1 - 0.05 * unit, y0 + 0.15 * unit), 0.42 * unit)
    elif expression == "sad":
        for eye in (face.left_eye, face.right_eye):
            _drop(rgba, (eye[0], eye[1] + 0.28 * unit), 0.13 * unit, BLUE)
            _drop(rgba, (eye[0] + 0.03 * unit, eye[1] + 0.62 * unit), 0.10 * unit, BLUE)
    else:
        _drop(rgba, (x1 - 0.02 * unit, y0 + 0.45 * unit), 0.2 * unit, BLUE)
    return rgba


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
