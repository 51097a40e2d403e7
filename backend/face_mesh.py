"""The geometry of MediaPipe's 468-point face mesh: landmark indices and a detected face's measures.
Plain numpy, so the web tier (template metadata) and the engines share it."""
from dataclasses import dataclass

import numpy as np

# Landmark indices of the MediaPipe face mesh.
LEFT_EYE = (33, 133, 159, 145)  # subject's right eye on the image's left: outer, inner, top, bottom
RIGHT_EYE = (263, 362, 386, 374)
MOUTH_LEFT, MOUTH_RIGHT, LIP_TOP, LIP_BOTTOM = 61, 291, 13, 14
NOSE_TIP, CHIN, FOREHEAD = 1, 152, 10
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)


@dataclass
class Face:
    """One detected face: 468 landmarks in pixels, and the points stickers align on."""

    landmarks: np.ndarray  # (468, 2) float32, x/y in pixels

    @property
    def left_eye(self):
        return self.landmarks[list(LEFT_EYE)].mean(axis=0)

    @property
    def right_eye(self):
        return self.landmarks[list(RIGHT_EYE)].mean(axis=0)

    @property
    def mouth(self):
        return self.landmarks[[MOUTH_LEFT, MOUTH_RIGHT, LIP_TOP, LIP_BOTTOM]].mean(axis=0)

    @property
    def anchors(self):
        """Eyes, nose tip and mouth centre: what alignment is checked on."""
        return np.stack([self.left_eye, self.right_eye, self.landmarks[NOSE_TIP], self.mouth])

    @property
    def eye_distance(self):
        return float(np.linalg.norm(self.right_eye - self.left_eye))

    @property
    def box(self):
        """(x0, y0, x1, y1) of the landmarks."""
        low, high = self.landmarks.min(axis=0), self.landmarks.max(axis=0)
        return float(low[0]), float(low[1]), float(high[0]), float(high[1])

    @property
    def area(self):
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)

    @property
    def mouth_opening(self):
        """Inner-lip gap relative to the face height."""
        height = np.linalg.norm(self.landmarks[CHIN] - self.landmarks[FOREHEAD])
        return float(np.linalg.norm(self.landmarks[LIP_BOTTOM] - self.landmarks[LIP_TOP]) / height)

    @property
    def mouth_corner_lift(self):
        """How far the mouth corners sit above the lip centre, relative to the face height (smile > 0)."""
        height = np.linalg.norm(self.landmarks[CHIN] - self.landmarks[FOREHEAD])
        centre = (self.landmarks[LIP_TOP][1] + self.landmarks[LIP_BOTTOM][1]) / 2
        corners = (self.landmarks[MOUTH_LEFT][1] + self.landmarks[MOUTH_RIGHT][1]) / 2
        return float((centre - corners) / height)
