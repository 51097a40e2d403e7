"""Piecewise-affine (Delaunay) warps, and landmark-driven facial expressions built on them."""
import cv2
import numpy as np
from scipy.spatial import Delaunay

from backend.face_mesh import CHIN, FOREHEAD, MOUTH_LEFT, MOUTH_RIGHT, Face
from backend.vocabulary import EXPRESSIONS


UPPER_LIP = (185, 40, 39, 37, 0, 267, 269, 270, 409, 191, 80, 81, 82, 13, 312, 311, 310, 415)
LOWER_LIP = (146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324)
INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
LEFT_BROW = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)  # image-left brow, outer to inner
RIGHT_BROW = (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)
BROW_INNER = (107, 66, 55, 65, 336, 296, 285, 295)
UPPER_LIDS = (159, 158, 160, 161, 157, 386, 385, 387, 388, 384)
LOWER_LIDS = (145, 144, 153, 154, 163, 374, 373, 380, 381, 390)
CHEEKS = (205, 425, 50, 280, 207, 427)


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


def expression_targets(face: Face, expression):
    """Where each landmark moves for `expression` (a smooth field, so neighbours move together)."""
    points = face.landmarks.astype(np.float64)
    if expression == "none":
        return points.copy()
    frame = FaceFrame(face)
    local = frame.to_local(points)
    delta = np.zeros_like(local)
    corners = local[[MOUTH_LEFT, MOUTH_RIGHT]]

    def pull(handle, move, sigma):
        weight = np.exp(-np.sum((local - handle) ** 2, axis=1) / (2 * sigma**2))
        delta[:] += weight[:, None] * np.asarray(move)

    def jaw_drop(amount):
        below = local[:, 1] > 0.0
        below[list(UPPER_LIP)] = False
        below[list(LOWER_LIP)] = True
        sideways = np.exp(-(local[:, 0] / 0.32) ** 2)
        delta[below, 1] += amount * sideways[below]
        delta[list(UPPER_LIP), 1] -= amount * 0.12

    def brows(lift_inner, lift_outer):
        for brow in (LEFT_BROW, RIGHT_BROW):
            index = list(brow)
            inner = np.isin(index, BROW_INNER)
            delta[index, 1] -= np.where(inner, lift_inner, lift_outer)

    if expression in ("smile", "laugh"):
        strength = 1.0 if expression == "smile" else 1.25
        for side, corner in zip((-1, 1), corners):
            pull(corner, (0.022 * side * strength, -0.045 * strength), 0.07)
        delta[list(CHEEKS), 1] -= 0.012 * strength
        delta[list(LOWER_LIDS), 1] -= 0.006 * strength
        if expression == "laugh":
            jaw_drop(0.07)
    elif expression == "surprise":
        jaw_drop(0.10)
        for side, corner in zip((-1, 1), corners):
            pull(corner, (-0.02 * side, 0.0), 0.05)
        brows(0.035, 0.03)
        delta[list(UPPER_LIDS), 1] -= 0.012
    elif expression == "angry":
        brows(-0.03, 0.008)
        for brow, side in ((LEFT_BROW, 1), (RIGHT_BROW, -1)):
            index = [i for i in brow if i in BROW_INNER]
            delta[index, 0] += 0.012 * side
        for corner in corners:
            pull(corner, (0.0, 0.025), 0.05)
    elif expression == "sad":
        brows(0.025, -0.01)
        for side, corner in zip((-1, 1), corners):
            pull(corner, (0.004 * side, 0.04), 0.06)
    else:
        raise ValueError(f"expression must be one of {EXPRESSIONS}, got {expression!r}")
    return points + frame.to_image_delta(delta)


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
    for number, triangle in enumerate(triangles):
        cv2.fillConvexPoly(index, np.round(target[triangle]).astype(np.int32), number)
    ys, xs = np.nonzero(index >= 0)
    chosen = matrices[index[ys, xs]]
    map_x = np.full((height, width), -1, dtype=np.float32)
    map_y = np.full((height, width), -1, dtype=np.float32)
    map_x[ys, xs] = xs * chosen[:, 0, 0] + ys * chosen[:, 1, 0] + chosen[:, 2, 0]
    map_y[ys, xs] = xs * chosen[:, 0, 1] + ys * chosen[:, 1, 1] + chosen[:, 2, 1]
    warped = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return warped, index >= 0


def apply_expression(image, face: Face, expression):
    """The image with the face's expression changed, and the face's moved landmarks."""
    if expression == "none":
        return image, face
    targets = expression_targets(face, expression)
    ring = outer_ring(face, image.shape)
    warped, _ = warp(image, np.concatenate([face.landmarks, ring]), np.concatenate([targets, ring]))
    moved = Face(targets.astype(np.float32))
    if expression in ("laugh", "surprise"):
        _paint_open_mouth(warped, moved)
    return warped, moved


def _paint_open_mouth(image, face: Face):
    """Fill the gap between the lips with a dark mouth interior (a stretched lip looks wrong)."""
    polygon = np.round(face.landmarks[list(INNER_LIP)]).astype(np.int32)
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    cv2.fillPoly(mask, [polygon], 255)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
    soft = cv2.GaussianBlur(mask, (5, 5), 0).astype(np.float32)[..., None] / 255.0
    colour = np.zeros_like(image, dtype=np.float32)
    colour[..., :3] = (58, 18, 24)
    if image.shape[2] == 4:
        colour[..., 3] = image[..., 3]
    image[:] = (image * (1 - soft) + colour * soft).astype(image.dtype)
