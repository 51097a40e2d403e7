"""The real stack for the tests and benchmarks: every service `make run` runs (or one host's), on a free port
under a temp directory, with a SQL view of its database."""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import sqlalchemy

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
            # a local stack: voices are usable at once (unverified) and /tts clones; test_consent.py checks both
            "VOXMOJI_CONSENT_CHECK": "none",
            "VOXMOJI_SEED_TTS_CLONING": "1",
            "VOXMOJI_RATELIMIT_LOGIN": "100000/minute",
            "VOXMOJI_RATELIMIT_JOBS": "100000/minute",
            "VOXMOJI_RATELIMIT_JOBS_PER_IP": "100000/minute",
            "VOXMOJI_NGINX_LOGIN_RATE": "10000r/s",
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

    def waits_held(self, user_id):
        """How many long-polls of this user the web tier holds now (its per-user count in Redis)."""
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            return client.zcard("vm:holds:" + user_id)
        finally:
            client.close()

    def engine_runs(self):
        """How many times an engine ran, over every worker process (the engine-time histogram's counts)."""
        import re

        import requests

        text = requests.get(self.base_url + "/metrics", timeout=10).text
        return sum(float(value) for value in re.findall(r"^voxmoji_engine_seconds_count\{[^}]*\} ([0-9.e+]+)$", text,
                                                         re.MULTILINE))

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
