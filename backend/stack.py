"""The local process stack: `python -m backend.stack <service>`.

`prepare` makes the state directory, generates the local secrets, migrates the
database and renders the Nginx config; `redis`, `web`, `worker`, `beat` and `nginx`
exec the service in the foreground; `announce` waits until the stack answers and
prints its URLs; `supervise` (what `make run` runs) starts all of them under
supervisord, which restarts any that dies instead of stopping the others. The test
fixtures start the same service commands, so the tests run the stack `make run` runs.
"""
import os
import resource
import secrets
import shutil
import signal
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from jinja2 import Template

from backend.config import REPO_ROOT, SECRET_NAMES, check_config, load_config, redis_socket_url, secrets_file, var_dir

SERVICES = ("redis", "web", "worker", "beat", "nginx")


def settings(secrets=tuple(SECRET_NAMES)):
    """Everything the stack needs, from the same configuration the app reads (and the secrets it names)."""
    config = load_config()
    check_config(config, secrets)
    var = Path(config["VAR_DIR"])
    run = var / "run"
    web_socket = f"unix:{run}/gunicorn.sock"  # gunicorn's, where Nginx finds it, on one box
    return {
        **config,
        "RUN_DIR": run,
        "LOG_DIR": var / "log",
        "NGINX_DIR": var / "nginx",
        "METRICS_DIR": var / "metrics",
        "LOCAL_REDIS": config["REDIS_URL"] == redis_socket_url(var),
        "HTTP_HOST": os.environ.get("VOXMOJI_HTTP_HOST", "0.0.0.0"),
        "WEB_WORKERS": int(os.environ.get("VOXMOJI_WEB_WORKERS", "2")),
        "WEB_THREADS": int(os.environ.get("VOXMOJI_WEB_THREADS", "8")),
        "WORKER_CONCURRENCY": int(os.environ.get("VOXMOJI_WORKER_CONCURRENCY", "2")),
        "WORKER_POOL": os.environ.get("VOXMOJI_WORKER_POOL", "prefork"),  # solo on GPU workers
        # gunicorn's socket, and where Nginx finds it: the unix socket under RUN_DIR on one box; a host:port
        # where web and Nginx are separate containers (compose.yaml)
        "WEB_BIND": os.environ.get("VOXMOJI_WEB_BIND") or web_socket,
        "API_UPSTREAM": os.environ.get("VOXMOJI_API_UPSTREAM") or web_socket,
        "SERVICES": _services(os.environ.get("VOXMOJI_SERVICES", ",".join(SERVICES))),
        # Nginx against slow and flooding clients (seconds; per client address; nginx rates as `Nr/s`, `Nr/m`)
        "NGINX_HEADER_TIMEOUT": int(os.environ.get("VOXMOJI_NGINX_HEADER_TIMEOUT", "10")),
        "NGINX_BODY_TIMEOUT": int(os.environ.get("VOXMOJI_NGINX_BODY_TIMEOUT", "20")),
        "NGINX_SEND_TIMEOUT": int(os.environ.get("VOXMOJI_NGINX_SEND_TIMEOUT", "20")),
        "NGINX_KEEPALIVE_TIMEOUT": int(os.environ.get("VOXMOJI_NGINX_KEEPALIVE_TIMEOUT", "15")),
        "NGINX_WORKER_CONNECTIONS": int(os.environ.get("VOXMOJI_NGINX_WORKER_CONNECTIONS", "16384")),
        "NGINX_CONNECTIONS_PER_ADDRESS": int(os.environ.get("VOXMOJI_NGINX_CONNECTIONS_PER_ADDRESS", "100")),
        "NGINX_LOGIN_RATE": os.environ.get("VOXMOJI_NGINX_LOGIN_RATE", "5r/s"),
        "NGINX_LOGIN_BURST": int(os.environ.get("VOXMOJI_NGINX_LOGIN_BURST", "20")),
        "NGINX_PUSH_RATE": os.environ.get("VOXMOJI_NGINX_PUSH_RATE", "50r/s"),
        "NGINX_PUSH_BURST": int(os.environ.get("VOXMOJI_NGINX_PUSH_BURST", "200")),
    }


def _services(text):
    """The services `supervise` runs on this host (VOXMOJI_SERVICES; a web host: web,beat,nginx)."""
    chosen = tuple(name for name in text.replace(" ", "").split(",") if name)
    unknown = [name for name in chosen if name not in SERVICES]
    if unknown or not chosen:
        raise SystemExit(f"VOXMOJI_SERVICES={text!r}: name some of {', '.join(SERVICES)}")
    return chosen


def environment(s):
    """Environment shared by every service (metrics directory for multiprocess mode, allocator settings)."""
    return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(s["METRICS_DIR"]), "PYTHONUNBUFFERED": "1",
            # glibc's allocator, fixed rather than adaptive. Buffers above 4 MB (decoded photos, audio) are
            # mmapped, so returned to the system when freed: adaptive, glibc raises its mmap threshold after the
            # first such free and keeps every decoded photo in per-thread arenas (a web process grew by one per
            # thread). Buffers below it (request bodies: a base64 recording or photo of a few hundred KB, and the
            # copies made while reading and decoding it) come from the heap and are reused, up to 32 MB kept
            # free per arena, instead of being mapped, faulted in page by page and unmapped on every request:
            # 3.0 ms of gunicorn CPU and 0.29 ms of Nginx CPU a request with 187 KB of inline audio, 1.9 ms and
            # 0.13 ms with these (bench/api_throughput.py).
            "MALLOC_MMAP_THRESHOLD_": os.environ.get("MALLOC_MMAP_THRESHOLD_", str(4 * 1024 * 1024)),
            "MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_", str(32 * 1024 * 1024)),
            "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}


def ensure_secrets(directory):
    """Generate the local stack's secrets once (random, kept in `<var>/secrets.env`, mode 0600), for those
    the environment does not set; every process of the stack reads them through load_config."""
    path = secrets_file(directory)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{variable}={secrets.token_urlsafe(48)}\n" for variable in SECRET_NAMES.values()
             if not os.environ.get(variable)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Generated by `make run` for this local stack; keep it private.\n" + "".join(lines))
    return path


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
        with create_app().app_context():
            upgrade()


def render_nginx(s):
    """Write `<var>/nginx/nginx.conf` from nginx/voxmoji.conf.j2; returns its path."""
    template = Template((REPO_ROOT / "nginx" / "voxmoji.conf.j2").read_text())
    worker_connections, nofile = _nginx_connections(s["NGINX_WORKER_CONNECTIONS"])
    text = template.render(
        run_as_root=os.geteuid() == 0,
        worker_processes=2,
        worker_connections=worker_connections,
        worker_rlimit_nofile=nofile,
        connections_per_address=s["NGINX_CONNECTIONS_PER_ADDRESS"],
        header_timeout=s["NGINX_HEADER_TIMEOUT"],
        body_timeout=s["NGINX_BODY_TIMEOUT"],
        send_timeout=s["NGINX_SEND_TIMEOUT"],
        keepalive_timeout=s["NGINX_KEEPALIVE_TIMEOUT"],
        stream_send_timeout=s["STREAM_SEND_TIMEOUT"],
        login_rate=s["NGINX_LOGIN_RATE"],
        login_burst=s["NGINX_LOGIN_BURST"],
        push_rate=s["NGINX_PUSH_RATE"],
        push_burst=s["NGINX_PUSH_BURST"],
        run_dir=s["RUN_DIR"],
        log_dir=s["LOG_DIR"],
        nginx_dir=s["NGINX_DIR"],
        upstream=s["API_UPSTREAM"],
        listen=f"{s['HTTP_HOST']}:{s['HTTP_PORT']}",
        max_body=f"{s['MAX_CONTENT_LENGTH'] // (1024 * 1024)}m",
        media_root=Path(s["MEDIA_ROOT"]).resolve(),
        media_store=_media_store(s),
        media_secret=s["MEDIA_SECRET"],
        media_origin=_origin(s["MEDIA_PUBLIC_BASE"] or s["PUBLIC_BASE_URL"]),
        public_host=urlparse(s["PUBLIC_BASE_URL"]).netloc,
        read_timeout=max(s["SEED_TTS_WAIT"], s["WAIT_MAX_SECONDS"]) + 30,
        repo_root=REPO_ROOT,
    )
    path = s["NGINX_DIR"] / "nginx.conf"
    path.write_text(text)
    return path


def _nginx_connections(wanted):
    """(worker_connections, worker_rlimit_nofile): two descriptors per connection (a proxied request holds the
    client's and the upstream's) and some for files and logs. Unprivileged, Nginx cannot raise its descriptor
    limit past the hard limit it inherits: the connections are sized down to fit it instead."""
    nofile = 2 * wanted + 256
    if os.geteuid() != 0:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and hard < nofile:
            nofile = hard
            wanted = (hard - 256) // 2
    return wanted, nofile


def _media_store(s):
    """Where Nginx reads media from in S3 mode (None: the local media root)."""
    if s["MEDIA_STORAGE"] != "s3":
        return None
    endpoint = urlparse(s["S3_ENDPOINT_URL"] or f"https://s3.{s['S3_REGION']}.amazonaws.com")
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    return {"scheme": endpoint.scheme, "host": endpoint.hostname, "hostport": f"{endpoint.hostname}:{port}",
            "bucket": s["S3_BUCKET"]}


def _origin(url):
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


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
            "--bind", s["WEB_BIND"], "--workers", str(s["WEB_WORKERS"]),
            "--worker-class", "gthread", "--threads", str(s["WEB_THREADS"]),
            "--limit-request-line", "8190",  # as long as Nginx lets through (its 8k buffers)
            "--timeout", str(s["SEED_TTS_WAIT"] + 30), "--graceful-timeout", "20", "--access-logfile", "-",
            # the path without its query (queries carry signatures: WeChat's push, signed media links)
            "--access-logformat", '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)s',
        ]
    if service == "worker":
        return [
            str(venv_bin / "celery"), "-A", "backend.worker", "worker",
            "--concurrency", str(s["WORKER_CONCURRENCY"]), "--pool", s["WORKER_POOL"],
            "-n", f"voxmoji-{s['HTTP_PORT']}@%h", "--loglevel", "INFO", "--without-mingle", "--without-gossip",
        ]
    if service == "beat":
        return [
            str(venv_bin / "celery"), "-A", "backend.beat", "beat", "--loglevel", "INFO",
            "--schedule", f"{s['VAR_DIR']}/celerybeat-schedule", "--pidfile", "",
        ]
    if service == "nginx":
        return ["nginx", "-p", str(s["NGINX_DIR"]), "-c", str(s["NGINX_DIR"] / "nginx.conf"),
                "-e", str(s["LOG_DIR"] / "nginx-error.log")]
    raise ValueError(f"unknown service {service!r}; one of {SERVICES}")


SUPERVISOR_PROGRAM = """
[program:{name}]
command={python} -m backend.stack {name}
directory={repo}
autostart=true
autorestart={autorestart}
startsecs={startsecs}
startretries=1000000
stopasgroup=true
killasgroup=true
stopwaitsecs=20
redirect_stderr=true
stdout_logfile={stdout}
stdout_logfile_maxbytes=0
"""


def render_supervisor(s, stdout="/dev/stdout"):
    """Write `<var>/supervisord.conf`: every service restarted when it exits (after 1 s, then backing off),
    stopped together on Ctrl-C / SIGTERM; returns its path."""
    run = s["RUN_DIR"]
    head = (f"[supervisord]\nnodaemon=true\nlogfile={s['LOG_DIR']}/supervisord.log\npidfile={run}/supervisord.pid\n"
            f"childlogdir={s['LOG_DIR']}\nloglevel=warn\n\n"
            f"[unix_http_server]\nfile={run}/supervisor.sock\nchmod=0700\n\n"
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
            f"[supervisorctl]\nserverurl=unix://{run}/supervisor.sock\n")
    programs = [SUPERVISOR_PROGRAM.format(name=name, python=sys.executable, repo=REPO_ROOT, autorestart="true",
                                          startsecs=1, stdout=stdout) for name in s["SERVICES"]]
    if "nginx" in s["SERVICES"]:
        programs.append(SUPERVISOR_PROGRAM.format(name="announce", python=sys.executable, repo=REPO_ROOT,
                                                  autorestart="false", startsecs=0, stdout=stdout))
    path = Path(s["VAR_DIR"]) / "supervisord.conf"
    path.write_text(head + "".join(programs))
    return path


def supervise(s, stdout="/dev/stdout"):
    """Run the whole stack in the foreground under supervisord (make run)."""
    path = render_supervisor(s, stdout)
    venv_bin = Path(sys.executable).parent
    os.execvpe(str(venv_bin / "supervisord"), [str(venv_bin / "supervisord"), "-c", str(path)], environment(s))


def announce(s, timeout=300):
    """Wait for /readyz through Nginx, print the URLs, then exit."""
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
        f"    State        {s['VAR_DIR']}\n"
        f"    Processes    {Path(sys.executable).parent / 'supervisorctl'} -c {Path(s['VAR_DIR']) / 'supervisord.conf'} "
        "status\n",
        flush=True,
    )


def main(argv):
    if len(argv) != 1:
        sys.exit(f"usage: python -m backend.stack prepare|supervise|announce|{'|'.join(SERVICES)}")
    service = argv[0]
    if service == "prepare":
        ensure_secrets(var_dir())
    # Nginx signs nothing but media URLs: the nginx image is given VOXMOJI_MEDIA_SECRET only.
    s = settings(("MEDIA_SECRET",) if service == "nginx" else tuple(SECRET_NAMES))
    if service == "prepare":
        prepare(s)
        return
    if service == "announce":
        announce(s)
        return
    if service == "supervise":
        supervise(s, os.environ.get("VOXMOJI_SUPERVISOR_STDOUT", "/dev/stdout"))
    s["METRICS_DIR"].mkdir(parents=True, exist_ok=True)  # a worker host runs no `prepare`
    if service == "nginx":  # rendered from this environment at every start (the nginx image runs no `prepare`)
        for key in ("RUN_DIR", "LOG_DIR", "NGINX_DIR"):
            s[key].mkdir(parents=True, exist_ok=True)
        render_nginx(s)
    if service == "redis" and not s["LOCAL_REDIS"]:
        print("Using the external Redis at REDIS_URL; no local redis-server.", flush=True)
        signal.pause()
    argv = command(service, s)
    os.execvpe(argv[0], argv, environment(s))


if __name__ == "__main__":
    main(sys.argv[1:])
