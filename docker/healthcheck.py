"""The images' HEALTHCHECK: `python3 /usr/local/bin/healthcheck.py web|nginx|worker`.

web and nginx: an HTTP answer on their port (nginx's 503 while the API starts is still a live Nginx);
worker: this container's heartbeat in Redis, which the worker keeps only while it consumes its queues.
"""
import os
import socket
import sys
import urllib.error
import urllib.request


def http(port, path, any_answer=False):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5):
            return True
    except urllib.error.HTTPError:
        return any_answer
    except OSError:
        return False


def main(role):
    if role == "web":
        bind = os.environ.get("VOXMOJI_WEB_BIND", "0.0.0.0:8000")
        return http(bind.rsplit(":", 1)[1], "/healthz")
    if role == "nginx":
        return http(os.environ.get("VOXMOJI_HTTP_PORT", "8080"), "/healthz", any_answer=True)
    if role == "worker":
        import redis

        client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)
        return any(client.scan_iter(match=f"vm:worker:*@{socket.gethostname()}", count=1000))
    raise SystemExit(f"usage: healthcheck.py web|nginx|worker, not {role!r}")


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1]) else 1)
