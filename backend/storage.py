"""Where media bytes live: a local directory (one box, `make run`) or an S3-compatible bucket (several hosts).

Both stores take paths relative to the media root (`tts/ab/<fingerprint>.mp3`, `private/images/...`) and
write whole objects atomically: a reader sees nothing or everything. In the bucket, uploads keep their
`private/` prefix (never readable without credentials) and everything else goes under `public/`, the one
prefix Nginx (or a CDN) may read, and only behind a signed, expiring URL.
"""
import functools
import os
import tempfile
import time
from pathlib import Path

from backend.errors import ApiError

PARTIAL_DIR = ".partial"  # local store: same filesystem as the results, so os.replace is atomic; never served
PRIVATE_PREFIX = "private/"
PUBLIC_PREFIX = "public/"


class LocalStorage:
    """Files under a directory; Nginx serves the public ones from it with `alias`."""

    def __init__(self, root):
        self.root = Path(root)

    def path(self, relative):
        return self.root / relative

    def write(self, relative, data, content_type=None):
        target = self.path(relative)
        if target.exists() and target.stat().st_size == len(data):
            return
        partial_dir = self.root / PARTIAL_DIR
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

    def read(self, relative):
        try:
            return self.path(relative).read_bytes()
        except FileNotFoundError:
            raise KeyError(relative) from None

    def exists(self, relative):
        return self.path(relative).is_file()

    def delete(self, relative):
        self.path(relative).unlink(missing_ok=True)

    def list(self, prefix):
        """`(relative path, modified unix time)` of every stored file under a prefix."""
        base = self.root / prefix
        if not base.is_dir():
            return
        for path in base.rglob("*"):
            if path.is_file():
                yield str(path.relative_to(self.root)), path.stat().st_mtime

    def remove_stale_partials(self, older_than_seconds):
        """Delete half-written files left by killed processes; returns how many were removed."""
        partial_dir = self.root / PARTIAL_DIR
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


def _unavailable_on_failure(method):
    """The store not answering (network, 5xx, throttling) is a 503 the client may retry, not a crash."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(self, *args, **kwargs)
        except (BotoCoreError, ClientError) as error:
            raise ApiError("service_unavailable", "Media storage is not answering; please retry in a moment.",
                           headers={"Retry-After": "5"}) from error

    return call


class S3Storage:
    """Objects in one bucket of any S3-compatible store (AWS S3, Tencent COS, MinIO, SeaweedFS), through boto3.
    One PUT of the whole object is atomic; there are no partial files to clean."""

    def __init__(self, client, bucket, presigner=None):
        self.client, self.bucket = client, bucket
        self.presigner = presigner  # a client whose endpoint is MEDIA_PUBLIC_BASE, for presigned URLs

    @classmethod
    def from_config(cls, config):
        import boto3
        from botocore.config import Config

        def client(endpoint):
            return boto3.client(
                "s3", endpoint_url=endpoint or None, region_name=config["S3_REGION"],
                aws_access_key_id=config["AWS_ACCESS_KEY_ID"] or None,
                aws_secret_access_key=config["AWS_SECRET_ACCESS_KEY"] or None,
                config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, connect_timeout=5,
                              read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}))

        base = config["MEDIA_PUBLIC_BASE"]
        return cls(client(config["S3_ENDPOINT_URL"]), config["S3_BUCKET"], client(base) if base else None)

    @staticmethod
    def key(relative):
        """The object key of a media path: uploads stay private, the rest is under the public prefix."""
        return relative if relative.startswith(PRIVATE_PREFIX) else PUBLIC_PREFIX + relative

    @_unavailable_on_failure
    def write(self, relative, data, content_type=None):
        extra = {"ContentType": content_type} if content_type else {}
        self.client.put_object(Bucket=self.bucket, Key=self.key(relative), Body=data, **extra)

    @_unavailable_on_failure
    def read(self, relative):
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(relative))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise KeyError(relative) from None

    @_unavailable_on_failure
    def exists(self, relative):
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(relative))
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    @_unavailable_on_failure
    def delete(self, relative):
        self.client.delete_object(Bucket=self.bucket, Key=self.key(relative))

    @_unavailable_on_failure
    def list(self, prefix):
        """`(relative path, modified unix time)` of every stored object under a prefix (a list: one call)."""
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.key(prefix)):
            for item in page.get("Contents", []):
                key = item["Key"]
                relative = key[len(PUBLIC_PREFIX):] if key.startswith(PUBLIC_PREFIX) else key
                found.append((relative, item["LastModified"].timestamp()))
        return found

    def remove_stale_partials(self, older_than_seconds):
        return 0

    def presigned_url(self, relative, ttl):
        """A GET URL on MEDIA_PUBLIC_BASE that the store itself checks (SigV4), valid for `ttl` seconds."""
        return self.presigner.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.key(relative)}, ExpiresIn=ttl)


def public_read_policy(bucket):
    """The bucket policy that lets Nginx (or a CDN) read the public prefix without credentials. Restrict it
    to your network (a `aws:SourceIp` condition) where the store is reachable from the internet."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "VoxMojiPublicMedia", "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"],
        "Resource": [f"arn:aws:s3:::{bucket}/{PUBLIC_PREFIX}*"]}]}


def from_config(config):
    """The media store the configuration names (VOXMOJI_MEDIA_STORAGE=local | s3)."""
    if config["MEDIA_STORAGE"] == "s3":
        return S3Storage.from_config(config)
    return LocalStorage(config["MEDIA_ROOT"])
