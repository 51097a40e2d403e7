"""Result files under the media root: fingerprint names, atomic writes, signed Nginx URLs."""
import base64
import hashlib
import os
import tempfile
import time
from pathlib import Path

from flask import current_app

PARTIAL_DIR = ".partial"  # same filesystem as the results, so os.replace is atomic; never served
PRIVATE_DIR = "private"  # uploads (reference recordings); never signed, denied by Nginx


def root():
    """The media root directory."""
    return Path(current_app.config["MEDIA_ROOT"])


def result_path(kind, fingerprint, ext):
    """`<kind>/<ab>/<fingerprint>.<ext>`: the name depends only on what made the file."""
    return f"{kind}/{fingerprint[:2]}/{fingerprint}.{ext}"


def upload_path(kind, digest, ext):
    """Where a normalized upload is kept, by the SHA-256 of its bytes."""
    return f"{PRIVATE_DIR}/{kind}/{digest[:2]}/{digest}.{ext}"


def absolute(relative):
    """The file on disk for a path relative to the media root."""
    return root() / relative


def write_atomic(relative, data):
    """Write bytes so that readers see either nothing or the whole file; returns the path."""
    target = absolute(relative)
    if target.exists() and target.stat().st_size == len(data):
        return target
    partial_dir = root() / PARTIAL_DIR
    partial_dir.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=partial_dir, prefix=target.name + ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(partial, 0o644)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


def remove_stale_partials(older_than_seconds):
    """Delete half-written files left by killed workers; returns how many were removed."""
    partial_dir = root() / PARTIAL_DIR
    if not partial_dir.is_dir():
        return 0
    cutoff = time.time() - older_than_seconds
    removed = 0
    for path in partial_dir.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def sign_url(relative, ttl=None, now=None):
    """Absolute URL Nginx accepts until it expires: `secure_link_md5 "$expires$uri secret"`."""
    ttl = current_app.config["MEDIA_URL_TTL"] if ttl is None else ttl
    expires = int(now if now is not None else time.time()) + ttl
    uri = f"/media/{relative}"
    digest = hashlib.md5(f"{expires}{uri} {current_app.config['MEDIA_SECRET']}".encode()).digest()
    token = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return f"{current_app.config['PUBLIC_BASE_URL']}{uri}?md5={token}&expires={expires}", expires
