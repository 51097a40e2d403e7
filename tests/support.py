"""Test support shared by the fixtures and the benchmarks: the real stack, an API client, generated voices."""
import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyworld
import requests
import sqlalchemy
import soundfile
from scipy.signal import resample_poly

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("redis", "web", "worker", "beat", "nginx")
TEST_SECRET = "test-secret-key-at-least-32-bytes-long"
TEST_MEDIA_SECRET = "test-media-secret-at-least-32-bytes-long"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """A running VoxMoji stack (or one host of a larger one: `services`) started with the commands `make run`
    supervises."""

    def __init__(self, root, services=SERVICES, **env):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # Nginx's workers read media and sockets under it
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        inherited = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        self.env = {
            **inherited,
            "VOXMOJI_VAR_DIR": str(root),
            "VOXMOJI_HTTP_PORT": str(self.port),
            "VOXMOJI_HTTP_HOST": "127.0.0.1",
            "PUBLIC_BASE_URL": self.base_url,
            "VOXMOJI_DEV_LOGIN": "1",
            "VOXMOJI_SECRET_KEY": TEST_SECRET,
            "VOXMOJI_MEDIA_SECRET": TEST_MEDIA_SECRET,
            "VOXMOJI_SWEEP_INTERVAL": "2",
            "VOXMOJI_JOB_LEASE_SECONDS": "3",
            "VOXMOJI_JOB_REQUEUE_AFTER": "8",
            "VOXMOJI_WEB_WORKERS": "2",
            "VOXMOJI_WORKER_CONCURRENCY": "2",
            "VOXMOJI_SIGNUP_GRANT": "37",
            "VOXMOJI_RATELIMIT_LOGIN": "100000/minute",
            "VOXMOJI_RATELIMIT_JOBS": "100000/minute",
            "VOXMOJI_RATELIMIT_JOBS_PER_IP": "100000/minute",
            **env,
        }
        self.database_url = self.env.get("DATABASE_URL", f"sqlite:///{root}/voxmoji.db")
        self.redis_url = self.env.get("REDIS_URL", f"unix://{root}/run/redis.sock?db=0")
        self.services = services
        self._engine = None
        self.processes = {}
        self.logs = {}

    @property
    def media_root(self):
        return self.root / "media"

    def run_python(self, *args):
        subprocess.run([sys.executable, *args], cwd=REPO, env=self.env, check=True, timeout=120)

    def start(self, service):
        log = open(self.root / f"{service}.log", "ab")
        self.logs[service] = log
        self.processes[service] = subprocess.Popen(
            [sys.executable, "-m", "backend.stack", service], cwd=REPO, env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def stop(self, service, sig=signal.SIGTERM):
        process = self.processes.pop(service, None)
        log = self.logs.pop(service, None)
        if log is not None:
            log.close()
        if process is None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def __enter__(self):
        try:
            self.start_all()
        except BaseException:
            self.stop_all()
            raise
        return self

    def __exit__(self, *exc_info):
        self.stop_all()

    def start_all(self):
        """Prepare the state directory and start the services; with Nginx among them, returns when /readyz
        says ready."""
        self.run_python("-m", "backend.stack", "prepare")
        for service in self.services:
            self.start(service)
        if "nginx" in self.services:
            self.wait_ready()

    def stop_all(self):
        for service in reversed(list(self.processes)):
            self.stop(service)
        if self._engine is not None:
            self._engine.dispose()

    def wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {(self.root / f'{name}.log').read_text()[-3000:]}")
            try:
                if requests.get(self.base_url + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("stack not ready: " + "".join(
            (self.root / f"{s}.log").read_text()[-1500:] for s in SERVICES if (self.root / f"{s}.log").exists()))

    def _database(self):
        if self._engine is None:
            self._engine = sqlalchemy.create_engine(self.database_url, poolclass=sqlalchemy.pool.NullPool)
        return self._engine

    def query(self, sql, **params):
        """Rows (as mappings) of a SQL query on the stack's database, SQLite or PostgreSQL."""
        with self._database().connect() as connection:
            return [dict(row) for row in connection.execute(sqlalchemy.text(sql), params).mappings()]

    def execute(self, sql, **params):
        """Run a write statement on the stack's database (a test setting up a situation)."""
        with self._database().begin() as connection:
            connection.execute(sqlalchemy.text(sql), params)

    def job(self, task_id):
        rows = self.query("SELECT * FROM jobs WHERE id = :id", id=task_id)
        return rows[0] if rows else None

    @contextlib.contextmanager
    def app_context(self, **overrides):
        """An in-process app configured like this stack, inside its app context; its connections are
        closed on exit (PostgreSQL connections must not be left to the garbage collector)."""
        from backend import create_app
        from backend.extensions import db

        app = create_app(self.app_config(**overrides))
        with app.app_context():
            try:
                yield app
            finally:
                db.session.remove()
                db.engine.dispose()

    def app_config(self, **overrides):
        """Config for an in-process app that is configured like this stack (same database, Redis, media)."""
        from backend.config import load_config

        return {**load_config(self.env), **overrides}


class Api:
    """A logged-in client talking to the stack through Nginx."""

    def __init__(self, base_url, code):
        self.base_url = base_url
        self.session = requests.Session()
        response = self.session.post(base_url + "/api/v1/auth/login", json={"code": code}, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        self.code = code
        self.tokens = body
        self.user = body["user"]
        self.session.headers["Authorization"] = f"Bearer {body['access_token']}"

    def post(self, path, **kwargs):
        return self.session.post(self.base_url + path, timeout=kwargs.pop("timeout", 60), **kwargs)

    def get(self, path, **kwargs):
        return self.session.get(self.base_url + path, timeout=kwargs.pop("timeout", 60), **kwargs)

    def delete(self, path, **kwargs):
        return self.session.delete(self.base_url + path, timeout=kwargs.pop("timeout", 60), **kwargs)

    def wait_task(self, task_id, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            started = time.monotonic()
            task = self.get(f"/api/v1/tasks/{task_id}?wait=10").json()
            if task["status"] in ("succeeded", "failed", "canceled", "deleted"):
                return task
            time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))  # a wait the server declined
        raise AssertionError(f"task {task_id} did not finish in {timeout} s")


# -- generated reference voices -------------------------------------------------

def espeak_speech(text, voice="cmn-latn-pinyin", rate=16000):
    wav = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True).stdout
    samples, source_rate = soundfile.read(io.BytesIO(wav), dtype="float64")
    return resample_poly(samples, rate, source_rate)


def reference_voice(median_f0, text="wo3 men5 jin1 tian1 qu4 gong1 yuan2 wan2, ran2 hou4 hui2 jia1 chi1 fan4 le5.",
                    formant_shift=1.0):
    """A speech recording with a chosen median pitch (espeak-ng re-pitched by WORLD), 16 kHz."""
    x = espeak_speech(text)
    f0, times = pyworld.dio(x, 16000, frame_period=5.0)
    f0 = pyworld.stonemask(x, f0, times, 16000)
    sp = pyworld.cheaptrick(x, f0, times, 16000)
    ap = pyworld.d4c(x, f0, times, 16000)
    voiced = f0 > 0
    log_f0 = np.log(f0[voiced])
    f0[voiced] = np.exp(log_f0 - np.median(log_f0) + np.log(median_f0))
    if formant_shift != 1.0:
        bins = np.arange(sp.shape[1])
        sp = np.ascontiguousarray(np.array([np.interp(bins / formant_shift, bins, frame) for frame in sp]))
    y = pyworld.synthesize(f0, sp, ap, 16000, 5.0)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def wav_bytes(samples, rate=16000):
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def median_f0(samples, rate=16000):
    """Median F0 by Harvest (a different estimator from the engine's DIO)."""
    x = np.asarray(samples, dtype=np.float64)
    f0, _ = pyworld.harvest(x, rate, f0_floor=50, f0_ceil=700, frame_period=5.0)
    return float(np.median(f0[f0 > 0]))


def decode_file(data):
    """Decode any audio bytes with ffmpeg to 16 kHz float samples (independent of the backend)."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", "pipe:0", "-ac", "1", "-ar", "16000", "-f", "f32le", "pipe:1"],
                          input=data, capture_output=True, check=True)
    return np.frombuffer(done.stdout, dtype="<f4")


def ffprobe_duration(data, suffix=".mp3", tmp_path=None):
    path = Path(tmp_path or "/tmp") / f"probe-{time.monotonic_ns()}{suffix}"
    path.write_bytes(data)
    try:
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                             capture_output=True, text=True, check=True).stdout
        return float(out.strip())
    finally:
        path.unlink(missing_ok=True)


# -- test photos (public domain, bundled in packages) ------------------------------------

def astronaut_photo():
    from skimage import data

    return data.astronaut()


def hopper_photo():
    import matplotlib.cbook
    from PIL import Image

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
        return np.asarray(image.convert("RGB"))


def landscape_photo(width=640, height=420):
    """Sky, sun and hills: no face anywhere."""
    y, x = np.mgrid[0:height, 0:width]
    sky = np.stack([110 + 60 * y / height, 160 + 40 * y / height, 235 - 20 * y / height], axis=-1)
    hills = y > height * 0.6 + 40 * np.sin(x / 70.0)
    image = np.where(hills[..., None], np.array([60, 140, 70]), sky)
    sun = (x - width * 0.8) ** 2 + (y - height * 0.2) ** 2 < 40**2
    image[sun] = (250, 220, 90)
    return image.astype(np.uint8)


def encode_image(pixels, fmt="JPEG", **options):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


# -- process memory (benchmarks) -------------------------------------------------------------

def rss_mb(pid, field="VmHWM"):
    """A /proc/<pid>/status memory figure in MB: VmHWM (peak RSS) or VmRSS (now)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_pids(pid):
    """Direct children of a process (a Celery or gunicorn master's workers)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children
