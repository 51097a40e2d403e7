"""Nginx serves results only with a valid, unexpired secure_link signature."""
import time

import requests

from backend import create_app
from backend.services import media
from support import TEST_MEDIA_SECRET


def signer(stack):
    app = create_app({"MEDIA_SECRET": TEST_MEDIA_SECRET, "PUBLIC_BASE_URL": stack.base_url,
                      "VAR_DIR": str(stack.root), "MEDIA_ROOT": str(stack.media_root),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{stack.root}/voxmoji.db"})
    return app


def test_signed_urls(stack):
    relative = "tts/ab/abtest.mp3"
    (stack.media_root / "tts" / "ab").mkdir(parents=True, exist_ok=True)
    (stack.media_root / relative).write_bytes(b"ID3 fake mp3 for the signature test")
    with signer(stack).app_context():
        good, expires = media.sign_url(relative)
        expired, _ = media.sign_url(relative, ttl=-10)
        wrong_secret_app = create_app({"MEDIA_SECRET": "guess-guess-guess-guess-guess-guess-guess", "PUBLIC_BASE_URL": stack.base_url})
    with wrong_secret_app.app_context():
        forged, _ = media.sign_url(relative)
    assert expires > time.time()
    assert requests.get(good, timeout=10).status_code == 200
    assert requests.get(good, timeout=10).content.startswith(b"ID3")
    assert requests.get(expired, timeout=10).status_code == 403
    assert requests.get(forged, timeout=10).status_code == 403
    assert requests.get(good.split("?")[0], timeout=10).status_code == 403  # missing
    assert requests.get(good.replace("expires=", "expires=9"), timeout=10).status_code == 403  # tampered expiry
    other = good.replace("abtest.mp3", "other.mp3")
    assert requests.get(other, timeout=10).status_code == 403  # signature is bound to the path


def test_private_uploads_are_never_served(stack):
    relative = "private/prompts/ab/secret.wav"
    (stack.media_root / "private" / "prompts" / "ab").mkdir(parents=True, exist_ok=True)
    (stack.media_root / relative).write_bytes(b"RIFF")
    with signer(stack).app_context():
        url, _ = media.sign_url(relative)
    assert requests.get(url, timeout=10).status_code == 404
