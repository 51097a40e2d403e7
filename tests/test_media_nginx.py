"""Nginx serves results only with a valid, unexpired secure_link signature, from the local media root or from
the S3 bucket (the same tests on both stores)."""
import time

import requests

from backend import create_app
from backend.services.media import files


def put(stack, relative, data):
    with stack.app_context():
        files.write_atomic(relative, data)


def test_signed_urls(media_stack):
    relative = f"tts/ab/abtest-{time.monotonic_ns()}.mp3"
    put(media_stack, relative, b"ID3 fake mp3 for the signature test")
    with media_stack.app_context():
        good, expires = files.sign_url(relative)
        expired, _ = files.sign_url(relative, ttl=-10)
    wrong_secret_app = create_app(media_stack.app_config(MEDIA_SECRET="guess-guess-guess-guess-guess-guess-guess"))
    with wrong_secret_app.app_context():
        forged, _ = files.sign_url(relative)
    assert expires > time.time()
    served = requests.get(good, timeout=10)
    assert served.status_code == 200 and served.content.startswith(b"ID3")
    assert served.headers["Content-Type"] == "audio/mpeg"
    assert requests.get(expired, timeout=10).status_code == 403
    assert requests.get(forged, timeout=10).status_code == 403
    assert requests.get(good.split("?")[0], timeout=10).status_code == 403  # missing
    assert requests.get(good.replace("expires=", "expires=9"), timeout=10).status_code == 403  # tampered expiry
    other = good.replace("abtest", "other")
    assert requests.get(other, timeout=10).status_code == 403  # signature is bound to the path
    assert requests.post(good, timeout=10).status_code == 405


def test_a_signed_url_of_a_missing_file_is_404(media_stack):
    with media_stack.app_context():
        url, _ = files.sign_url("tts/zz/never-written.mp3")
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 404


def test_private_uploads_are_never_served(media_stack):
    relative = f"private/prompts/ab/secret-{time.monotonic_ns()}.wav"
    put(media_stack, relative, b"RIFF")
    with media_stack.app_context():
        url, _ = files.sign_url(relative)
        assert files.read(relative) == b"RIFF"  # stored, and readable by the services
    assert requests.get(url, timeout=10).status_code == 404


def test_listing_names_stored_files_with_their_age(media_stack):
    """What retention walks: the uploads under private/ (bucket keys or files), with modification times."""
    relative = f"private/images/li/listed-{time.monotonic_ns()}.png"
    put(media_stack, relative, b"\x89PNG listed")
    with media_stack.app_context():
        listed = dict(files.listing("private/"))
        assert not any(path.startswith("tts/") for path in listed)
    assert relative in listed and abs(listed[relative] - time.time()) < 120
