"""Untrusted images: orientation, size, first GIF frame, re-encoding, refusals."""
import io
from pathlib import Path

import numpy as np
import pytest
from media_samples import astronaut_photo, encode_image
from PIL import Image

from backend import create_app
from backend.errors import ApiError
from backend.services.media import images


@pytest.fixture
def app(tmp_path):
    app = create_app({"MEDIA_ROOT": str(tmp_path / "media"), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        yield app


def test_exif_orientation_is_applied(app):
    pixels = np.zeros((100, 200, 3), np.uint8)
    pixels[:, :100] = (255, 0, 0)  # left half red
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    decoded = images.decode(buffer.getvalue(), "image")
    assert decoded.shape[:2] == (200, 100)
    assert decoded[10, 50, 0] > 200 and decoded[190, 50, 0] < 60  # red is now on top


def test_large_photos_are_downscaled_and_reencoded(app):
    big = np.asarray(Image.fromarray(astronaut_photo()).resize((2400, 2400)))
    upload = encode_image(big, "JPEG", quality=90)
    stored = images.receive(upload, "image")
    assert max(stored.pixels.shape[:2]) == 1280
    data = (Path(app.config["MEDIA_ROOT"]) / stored.path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data != upload
    assert "private/" in stored.path


def test_gif_first_frame_and_transparency(app):
    frames = [Image.new("RGBA", (64, 64), colour) for colour in ((255, 0, 0, 255), (0, 0, 255, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    decoded = images.decode(buffer.getvalue(), "image")
    assert tuple(decoded[5, 5]) == (255, 0, 0)
    transparent = io.BytesIO()
    Image.new("RGBA", (32, 32), (0, 0, 0, 0)).save(transparent, format="PNG")
    assert tuple(images.decode(transparent.getvalue(), "image")[0, 0]) == (255, 255, 255)


@pytest.mark.parametrize("data, code", [
    (b"<?xml version='1.0'?><svg/>", "unsupported_media"),
    (b"BM" + b"\x00" * 100, "unsupported_media"),  # BMP is not on the allow-list
    (b"RIFF\x10\x00\x00\x00AVI LIST", "unsupported_media"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 50, "invalid_image"),
])
def test_refused(app, data, code):
    with pytest.raises(ApiError) as error:
        images.decode(data, "image")
    assert error.value.code == code and error.value.field == "image"


def test_pixel_budget_checked_before_decoding(app):
    header_only = encode_image(np.zeros((10, 10, 3), np.uint8), "PNG")
    wide = Image.new("L", (9000, 9000))
    buffer = io.BytesIO()
    wide.save(buffer, format="PNG")
    with pytest.raises(ApiError) as error:
        images.decode(buffer.getvalue(), "image", max_pixels=50_000_000)
    assert error.value.code == "payload_too_large"
    assert images.decode(header_only, "image").shape == (10, 10, 3)


@pytest.mark.parametrize("mode", ["P", "RGBA", "1", "I;16", "LA"])
def test_huge_images_of_every_mode_are_reduced(app, mode):
    """Large images of any mode decode to at most 1280 px (reduced right after decoding, not copied)."""
    image = Image.new(mode, (4000, 3000))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    decoded = images.decode(buffer.getvalue(), "image")
    assert decoded.shape == (960, 1280, 3) and decoded.dtype == np.uint8
