"""Can one user stall or bloat the web tier? Two measurements through Nginx on a real stack:

1. /healthz and /api/v1/me latency (p50, p99, max over 200 requests, or $PROBES) while one user holds 40 parallel
   `GET /api/v1/tasks/<id>?wait=20` on a job that cannot finish (no worker is running);
2. the gunicorn workers' RSS (before, and peak VmHWM) while six worst-case photos (6000x6600 RGBA PNG,
   well under the 40 MP limit, ~150 KB each) are posted in parallel, plus how long those requests took.

Prints the figures; never fails on time. `python bench/web_pressure.py` (needs `make install-test`).
"""
import base64
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from api_client import Api  # noqa: E402
from process_stats import child_pids, rss_mb  # noqa: E402
from stack_process import Stack  # noqa: E402

WAITS = 40
PROBES = int(os.environ.get("PROBES", 200))  # fewer for a stack that stalls (seconds each)


def worst_case_png(width=6000, height=6600):
    pixels = np.full((height, width, 4), (250, 240, 230, 255), np.uint8)
    pixels[::97, :, :3] = (30, 30, 30)  # a few lines so it is not a single colour
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def probe(url, headers=None):
    started = time.perf_counter()
    status = requests.get(url, headers=headers or {}, timeout=60).status_code
    return (time.perf_counter() - started) * 1000, status


def held_waits(stack):
    holder = Api(stack.base_url, f"waiter-{time.monotonic_ns()}")
    other = Api(stack.base_url, f"bystander-{time.monotonic_ns()}")
    stack.stop("worker")  # the job stays queued: every wait is held for its full 20 s
    try:
        task = holder.post("/api/v1/emoji", json={"template_id": "panda", "text": "等不到的结果"}).json()
        url = f"{stack.base_url}/api/v1/tasks/{task['task_id']}?wait=20"
        stop = threading.Event()

        def hold():
            while not stop.is_set():
                holder.session.get(url, timeout=60)

        threads = [threading.Thread(target=hold, daemon=True) for _ in range(WAITS)]
        for thread in threads:
            thread.start()
        time.sleep(2)  # let the waits pile up
        health = [probe(stack.base_url + "/healthz") for _ in range(PROBES)]
        me = [probe(stack.base_url + "/api/v1/me", {"Authorization": other.session.headers["Authorization"]})
              for _ in range(PROBES // 4)]
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        stack.start("worker")
        stack.wait_ready()
    for name, samples in (("/healthz", health), ("/api/v1/me", me)):
        times = [ms for ms, _ in samples]
        errors = sum(status != 200 for _, status in samples)
        print(f"{name:12s} under {WAITS} held waits: p50 {statistics.median(times):7.1f} ms  "
              f"p99 {percentile(times, 0.99):7.1f} ms  max {max(times):7.1f} ms  non-200 {errors}/{len(samples)}")


def big_images(stack):
    api = Api(stack.base_url, f"big-images-{time.monotonic_ns()}")
    png = worst_case_png()
    body = {"face_consent": True, "image": base64.b64encode(png).decode(), "style": "cutout", "text": "大图"}
    workers = child_pids(stack.processes["web"].pid)
    before = {pid: rss_mb(pid, "VmRSS") for pid in workers}
    started = time.perf_counter()

    def post(_):
        begun = time.perf_counter()
        answer = api.post("/api/v1/emoji", json=body, timeout=120)
        if answer.status_code >= 400:
            print("refused:", answer.text[:200])
        return answer.status_code, time.perf_counter() - begun

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(post, range(6)))
    elapsed = time.perf_counter() - started
    peak = {pid: rss_mb(pid, "VmHWM") for pid in workers}
    print(f"worst-case photo: {len(png) / 1024:.0f} KB PNG, 6000x6600 RGBA")
    for pid in workers:
        print(f"gunicorn worker {pid}: RSS before {before[pid]:6.0f} MB, peak {peak[pid]:6.0f} MB")
    print(f"6 parallel posts: statuses {sorted(status for status, _ in answers)}, "
          f"per request {min(s for _, s in answers):.1f}-{max(s for _, s in answers):.1f} s, all {elapsed:.1f} s")


def main():
    with tempfile.TemporaryDirectory() as root, Stack(root, VOXMOJI_SIGNUP_GRANT="10000") as stack:
        held_waits(stack)
        big_images(stack)


if __name__ == "__main__":
    main()
