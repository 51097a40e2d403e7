"""What every sticker engine returns, and the error every one raises for a photo without a usable face."""
from dataclasses import dataclass

import numpy as np

from backend.face_mesh import Face


@dataclass
class StickerOutput:
    """An RGBA sticker before captioning, with what the engine decided."""

    image: np.ndarray  # uint8 RGBA
    expression: str
    caption_box: tuple | None  # fractions of the image; None: put the caption under the sticker
    face: Face | None  # the face in output coordinates (for decorations and checks)


class NoFaceError(ValueError):
    """The photo has no usable face."""
