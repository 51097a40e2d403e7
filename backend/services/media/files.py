"""Media: fingerprint names, whole-object writes to the configured store (backend/storage.py), signed URLs."""
import base64
import hashlib
import mimetypes
import time

from flask import current_app

from backend import storage
from backend.storage import PRIVATE_PREFIX

PRIVATE_DIR = PRIVATE_PREFIX.rstrip("/")  # uploads (photos, recordings); never signed, never served


def store():
    """This app's media store (local directory or S3 bucket), created once per app."""
    extensions = current_app.extensions
    if "media_store" not in extensions:
        extensions["media_store"] = storage.from_config(current_app.config)
    return extensions["media_store"]


def result_path(kind, fingerprint, ext):
    """`<kind>/<ab>/<fingerprint>.<ext>`: the name depends only on what made the file."""
    return f"{kind}/{fingerprint[:2]}/{fingerprint}.{ext}"


def upload_path(kind, digest, ext):
    """Where a normalized upload is kept, by the SHA-256 of its bytes."""
    return f"{PRIVATE_DIR}/{kind}/{digest[:2]}/{digest}.{ext}"


def write_atomic(relative, data):
    """Store bytes so that readers see either nothing or the whole object."""
    store().write(relative, data, mimetypes.guess_type(relative)[0])


def read(relative):
    """The stored bytes; KeyError if there is no such object."""
    return store().read(relative)


def exists(relative):
    return store().exists(relative)


def delete(relative, parts=()):
    """Delete a stored file and the named parts stored beside it (part_path)."""
    store().delete(relative)
    for name in parts:
        store().delete(part_path(relative, name))


def part_path(result_path, name):
    """Where a result's companion file lives (a pack's stickers, a talking sticker's GIF): beside it, so it
    goes with it."""
    return f"{result_path}.parts/{name}"


def listing(prefix):
    """`(relative path, modified unix time)` of the stored files under a prefix."""
    return store().list(prefix)


def remove_stale_partials(older_than_seconds):
    """Delete half-written files left by killed workers (local store); returns how many were removed."""
    return store().remove_stale_partials(older_than_seconds)


def sign_url(relative, ttl=None, now=None):
    """`(url, expires)`: an absolute URL that serves the object until it expires. By default Nginx checks it on
    the API's own domain (`secure_link_md5 "$expires$uri secret"`) and reads the file or the bucket; with
    MEDIA_PUBLIC_BASE in S3 mode it is a presigned URL on that domain, checked by the store itself."""
    config = current_app.config
    ttl = config["MEDIA_URL_TTL"] if ttl is None else ttl
    expires = int(now if now is not None else time.time()) + ttl
    if config["MEDIA_STORAGE"] == "s3" and config["MEDIA_PUBLIC_BASE"]:
        return store().presigned_url(relative, ttl), expires
    uri = f"/media/{relative}"
    return f"{config['PUBLIC_BASE_URL']}{uri}?md5={signature(uri, expires)}&expires={expires}", expires


def signature(uri, expires):
    """Nginx's `secure_link_md5 "$secure_link_expires$uri secret"`, base64url without padding."""
    digest = hashlib.md5(f"{expires}{uri} {current_app.config['MEDIA_SECRET']}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
