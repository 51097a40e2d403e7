"""Untrusted images in: an allow-list of formats, a pixel budget, EXIF orientation, downscale, re-encode."""
import hashlib
import io
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError

from backend.errors import ApiError
from backend.services.media import files
from backend.slots import ProcessSlots
from backend.transactions import end_read

ALLOWED = {"JPEG", "PNG", "WEBP", "GIF"}
MAX_SIDE = 1280
REDUCIBLE_MODES = {"RGB", "RGBA", "L", "LA", "I", "F", "CMYK", "PA", "La", "RGBa"}
_NOT_IMAGES = {
    b"<svg": "an SVG drawing",
    b"<?xml": "an XML/SVG document",
    b"%PDF": "a PDF document",
    b"RIFF": None,  # WebP is RIFF....WEBP; any other RIFF is refused below
}


@dataclass
class StoredImage:
    """A normalized upload: RGB pixels, and where its PNG re-encoding is kept."""

    pixels: np.ndarray  # uint8 RGB
    path: str
    sha256: str


def decode(data, field, max_pixels=None):
    """Decode to RGB (EXIF-rotated, <= 1280 px), refusing non-images, bombs and truncated files.

    Memory is bounded: JPEGs decode at reduced scale (`draft`); other formats are reduced by an integer
    factor right after decoding, before any copy; and each process decodes at most
    IMAGE_DECODES_PER_PROCESS images at once (the others wait their turn), so parallel worst-case uploads
    cannot multiply a web process's memory."""
    max_pixels = max_pixels or current_app.config["IMAGE_MAX_PIXELS"]
    head = data[:64].lstrip().lower()
    for magic, what in _NOT_IMAGES.items():
        if head.startswith(magic.lower()) and (what or data[8:12] != b"WEBP"):
            raise ApiError("unsupported_media", f"This file is {what or 'not a WebP image'}; send a JPEG, PNG, WebP or GIF.",
                           field)
    end_read()  # no database snapshot is held while this request waits for a slot and decodes
    with _decode_slot():
        image = _open_reduced(data, field, max_pixels)
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "P", "PA") and "A" in image.convert("RGBA").getbands():
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, rgba)
        image = image.convert("RGB")
        if max(image.size) > MAX_SIDE:
            image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        return np.asarray(image)


def _open_reduced(data, field, max_pixels):
    """The first frame, decoded, already reduced to at most ~2x MAX_SIDE."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=sorted(ALLOWED))
            if image.width * image.height > max_pixels:
                raise ApiError("payload_too_large", f"The image has {image.width}x{image.height} pixels; the limit is "
                               f"{max_pixels // 1_000_000} megapixels.", field)
            image.seek(0)  # GIF: the first frame
            if image.format == "JPEG":
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode at reduced scale: less memory, faster
            image.load()
            factor = max(image.size) // (2 * MAX_SIDE)
            if factor >= 2:  # drop the full-size pixels at once; the final resize is done on the small copy
                if image.mode not in REDUCIBLE_MODES:  # palette, 1-bit, 16-bit: one conversion first
                    image = image.convert("RGBA" if "transparency" in image.info or "A" in image.mode else "RGB")
                image = image.reduce(factor)
            return image
    except ApiError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ApiError("payload_too_large", "The image has too many pixels; send a photo under "
                       f"{max_pixels // 1_000_000} megapixels.", field)
    except UnidentifiedImageError:
        if _looks_allowed(data):  # the right signature, but the file behind it is broken
            raise ApiError("invalid_image", "The image could not be read; it may be damaged or truncated.", field)
        raise ApiError("unsupported_media", "Not a supported image; send a JPEG, PNG, WebP or GIF.", field)
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise ApiError("invalid_image", f"The image could not be read ({type(error).__name__}); it may be truncated.",
                       field)


_DECODES = ProcessSlots("IMAGE_DECODES_PER_PROCESS")


@contextmanager
def _decode_slot():
    """Wait (up to IMAGE_DECODE_WAIT seconds) for one of this process's image decoding slots; 503 if busy."""
    with _DECODES.hold(timeout=current_app.config["IMAGE_DECODE_WAIT"]) as acquired:
        if not acquired:
            raise ApiError("service_unavailable", "Many photos are being processed right now; retry in a few "
                           "seconds.", headers={"Retry-After": "2"})
        yield


def _looks_allowed(data):
    return (data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n" or data[:4] == b"GIF8"
            or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"))


def store(pixels):
    """Re-encode as PNG under the private uploads, named by the SHA-256 of that PNG."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=False, compress_level=3)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    path = files.upload_path("images", digest, "png")
    files.write_atomic(path, data)
    return StoredImage(pixels, path, digest)


def load(path):
    """A stored upload as RGB pixels."""
    with Image.open(io.BytesIO(files.read(path))) as image:
        return np.asarray(image.convert("RGB"))


def receive(data, field):
    """decode + store: the one way an uploaded image enters the system."""
    return store(decode(data, field))
