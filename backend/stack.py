"""The local process stack: `python -m backend.stack <service>` for each Procfile line.

`prepare` makes the state directory, migrates the database and renders the Nginx
config; `redis`, `web`, `worker`, `beat` and `nginx` exec the service in the
foreground; `announce` waits until the stack answers and prints its URLs. The test
fixtures start the same commands, so the tests run the stack that `make run` runs.
"""
import os
import shutil
import signal
import sys
import time
import urllib.request
from pathlib import Path

from jinja2 import Template

from backend.config import REPO_ROOT, load_config, redis_socket_url

SERVICES = ("redis", "web", "worker", "beat", "nginx")


def settings():
    """Everything the stack needs, from the same configuration the app reads."""
    config = load_config()
    var = Path(config["VAR_DIR"])
    return {
        **config,
        "RUN_DIR": var / "run",
        "LOG_DIR": var / "log",
        "NGINX_DIR": var / "nginx",
        "METRICS_DIR": var / "metrics",
        "LOCAL_REDIS": config["REDIS_URL"] == redis_socket_url(var),
        "HTTP_HOST": os.environ.get("VOXMOJI_HTTP_HOST", "0.0.0.0"),
        "WEB_WORKERS": int(os.environ.get("VOXMOJI_WEB_WORKERS", "2")),
        "WEB_THREADS": int(os.environ.get("VOXMOJI_WEB_THREADS", "8")),
        "WORKER_CONCURRENCY": int(os.environ.get("VOXMOJI_WORKER_CONCURRENCY", "2")),
        "WORKER_QUEUES": os.environ.get("VOXMOJI_WORKER_QUEUES", "tts,emoji,default"),
        "WORKER_POOL": os.environ.get("VOXMOJI_WORKER_POOL", "prefork"),  # solo on GPU workers
    }


def environment(s):
    """Environment shared by every service (metrics directory for multiprocess mode, worker queues)."""
    return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(s["METRICS_DIR"]), "PYTHONUNBUFFERED": "1",
            "VOXMOJI_WORKER_QUEUES": s["WORKER_QUEUES"]}


def prepare(s, migrate=True):
    """Create the state directories, reset metrics, migrate the database, render nginx.conf."""
    for key in ("RUN_DIR", "LOG_DIR", "NGINX_DIR"):
        s[key].mkdir(parents=True, exist_ok=True)
    Path(s["MEDIA_ROOT"]).mkdir(parents=True, exist_ok=True)
    shutil.rmtree(s["METRICS_DIR"], ignore_errors=True)
    s["METRICS_DIR"].mkdir(parents=True)
    (Path(s["VAR_DIR"]) / "redis").mkdir(exist_ok=True)
    render_nginx(s)
    if migrate:
        from flask_migrate import upgrade

        from backend import create_app
        from backend.cli import render_template_previews

        with create_app().app_context():
            upgrade()
            render_template_previews()


def render_nginx(s):
    """Write `<var>/nginx/nginx.conf` from nginx/voxmoji.conf.j2; returns its path."""
    template = Template((REPO_ROOT / "nginx" / "voxmoji.conf.j2").read_text())
    text = template.render(
        run_as_root=os.geteuid() == 0,
        worker_processes=2,
        run_dir=s["RUN_DIR"],
        log_dir=s["LOG_DIR"],
        nginx_dir=s["NGINX_DIR"],
        upstream=f"unix:{s['RUN_DIR']}/gunicorn.sock",
        listen=f"{s['HTTP_HOST']}:{s['HTTP_PORT']}",
        max_body=f"{s['MAX_CONTENT_LENGTH'] // (1024 * 1024)}m",
        media_root=Path(s["MEDIA_ROOT"]).resolve(),
        media_secret=s["MEDIA_SECRET"],
        read_timeout=max(s["SEED_TTS_WAIT"], s["WAIT_MAX_SECONDS"]) + 30,
        repo_root=REPO_ROOT,
    )
    path = s["NGINX_DIR"] / "nginx.conf"
    path.write_text(text)
    return path


def command(service, s):
    """The argv that runs `service` in the foreground."""
    venv_bin = Path(sys.executable).parent
    if service == "redis":
        return [
            "redis-server", "--port", "0", "--unixsocket", f"{s['RUN_DIR']}/redis.sock", "--unixsocketperm", "700",
            "--dir", f"{s['VAR_DIR']}/redis", "--appendonly", "yes", "--save", "", "--daemonize", "no",
            "--logfile", "",
        ]
    if service == "web":
        return [
            str(venv_bin / "gunicorn"), "backend.wsgi:app", "-c", "python:backend.gunicorn_hooks",
            "--bind", f"unix:{s['RUN_DIR']}/gunicorn.sock", "--workers", str(s["WEB_WORKERS"]),
            "--worker-class", "gthread", "--threads", str(s["WEB_THREADS"]),
            "--timeout", str(s["SEED_TTS_WAIT"] + 30), "--graceful-timeout", "20", "--access-logfile", "-",
        ]
    if service == "worker":
        return [
            str(venv_bin / "celery"), "-A", "backend.worker", "worker", "-Q", s["WORKER_QUEUES"],
            "--concurrency", str(s["WORKER_CONCURRENCY"]), "--pool", s["WORKER_POOL"],
            "-n", f"voxmoji-{s['HTTP_PORT']}@%h", "--loglevel", "INFO", "--without-mingle", "--without-gossip",
        ]
    if service == "beat":
        return [
            str(venv_bin / "celery"), "-A", "backend.worker", "beat", "--loglevel", "INFO",
            "--schedule", f"{s['VAR_DIR']}/celerybeat-schedule", "--pidfile", "",
        ]
    if service == "nginx":
        return ["nginx", "-p", str(s["NGINX_DIR"]), "-c", str(s["NGINX_DIR"] / "nginx.conf"),
                "-e", str(s["LOG_DIR"] / "nginx-error.log")]
    raise ValueError(f"unknown service {service!r}; one of {SERVICES}")


def announce(s, timeout=300):
    """Wait for /readyz through Nginx, print the URLs, then stay up (honcho stops all if one exits)."""
    base = f"http://127.0.0.1:{s['HTTP_PORT']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=3) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        time.sleep(1)
    else:
        print(f"VoxMoji did not become ready within {timeout} s; see {s['LOG_DIR']} and the output above.", flush=True)
    public = s["PUBLIC_BASE_URL"]
    print(
        "\n  VoxMoji is ready\n"
        f"    Web page     {public}/  (clone a voice, make a sticker)\n"
        f"    API          {public}/api/v1\n"
        f"    Swagger UI   {public}/docs\n"
        f"    OpenAPI      {public}/openapi.json\n"
        f"    Media        {public}/media/  (signed URLs only)\n"
        f"    Readiness    {public}/readyz\n"
        f"    State        {s['VAR_DIR']}\n",
        flush=True,
    )
    signal.pause()


def main(argv):
    if len(argv) != 1:
        sys.exit(f"usage: python -m backend.stack prepare|announce|{'|'.join(SERVICES)}")
    service = argv[0]
    s = settings()
    if service == "prepare":
        prepare(s)
        return
    if service == "announce":
        announce(s)
        return
    if service == "redis" and not s["LOCAL_REDIS"]:
        print(f"Using the external Redis at REDIS_URL; no local redis-server.", flush=True)
        signal.pause()
    argv = command(service, s)
    os.execvpe(argv[0], argv, environment(s))


if __name__ == "__main__":
    main(sys.argv[1:])
