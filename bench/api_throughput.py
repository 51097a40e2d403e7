"""Throughput of the hot path, measured with wrk through Nginx on a real stack (one run, same machine):

- `GET /healthz` (the ceiling: Nginx + gunicorn + Flask, no database);
- a repeated `POST /api/v1/tts` by `voice_id` whose result the user already has (a cache hit);
- the same request with the recording inline (about 260 KB of base64 audio), also a cache hit.

Prints requests/s for each and the ratios to /healthz. The machine is shared and noisy, so the three are
measured in alternating short rounds (healthz, by id, inline, healthz, ...) and each ratio is the median of the
rounds' ratios, each taken against the healthz round just before it. Needs wrk (Debian package `wrk`) and
`make install-test`. Never fails on time. `python bench/api_throughput.py [seconds per round] [rounds]`.
"""
import base64
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from api_client import Api  # noqa: E402
from media_samples import reference_voice, wav_bytes  # noqa: E402
from stack_process import Stack  # noqa: E402

WRK_SCRIPT = """
wrk.method = "{method}"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
"""


def wrk(url, seconds, root, method="GET", body=None, token=""):
    script = Path(root) / f"wrk-{time.monotonic_ns()}.lua"
    script.write_text(WRK_SCRIPT.format(method=method, body=json.dumps(body) if body else "nil", token=token))
    done = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", str(script), url],
                          capture_output=True, text=True, timeout=seconds + 60)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    return rate, int(non_2xx.group(1)) if non_2xx else 0


def main(seconds, rounds):
    if shutil.which("wrk") is None:
        sys.exit("bench/api_throughput.py needs wrk: apt-get install -y wrk")
    with tempfile.TemporaryDirectory() as root, Stack(root, VOXMOJI_SIGNUP_GRANT="10000") as stack:
        api = Api(stack.base_url, f"throughput-{time.monotonic_ns()}")
        token = api.tokens["access_token"]
        recording = wav_bytes(reference_voice(180.0))
        voice = api.post("/api/v1/voices", files={"audio": ("v.wav", recording, "audio/wav")}, data=api.consent()).json()["voice"]
        by_id = {"text": "缓存命中的吞吐量测试。", "voice_id": voice["voice_id"]}
        inline = {"text": "内联录音的缓存命中。", "voice_consent": True, "prompt_audio": base64.b64encode(recording).decode()}
        for body in (by_id, inline):  # computed once; from now on every identical request is a cache hit
            task = api.post("/api/v1/tts?wait=20", json=body).json()
            assert api.wait_task(task["task_id"])["status"] == "succeeded"
            again = api.post("/api/v1/tts", json=body)
            assert again.status_code == 200 and again.json()["status"] == "succeeded", again.text
        runs = {"health": [], "id": [], "inline": []}
        for _round in range(rounds):
            runs["health"].append(wrk(stack.base_url + "/healthz", seconds, root))
            runs["id"].append(wrk(stack.base_url + "/api/v1/tts", seconds, root, "POST", json.dumps(by_id), token))
            runs["inline"].append(wrk(stack.base_url + "/api/v1/tts", seconds, root, "POST", json.dumps(inline),
                                      token))
        health = [rate for rate, _errors in runs["health"]]
        errors = {name: sum(count for _rate, count in found) for name, found in runs.items()}
        print(f"{rounds} rounds of {seconds} s each; req/s as median (min-max); ratio = median of the rounds' ratios")
        print(f"GET /healthz                       {statistics.median(health):8.1f} req/s ({min(health):.0f}-"
              f"{max(health):.0f})  (non-2xx {errors['health']})")
        for name, label in (("id", "POST /api/v1/tts, hit by voice_id  "),
                            ("inline", f"POST /api/v1/tts, hit inline {len(inline['prompt_audio']) // 1024} KB")):
            rates = [rate for rate, _errors in runs[name]]
            ratios = [rate / base for rate, base in zip(rates, health)]
            print(f"{label} {statistics.median(rates):8.1f} req/s ({min(rates):.0f}-{max(rates):.0f})  "
                  f"(non-2xx {errors[name]})  ratio {statistics.median(ratios):.3f} "
                  f"({min(ratios):.3f}-{max(ratios):.3f})")
        jobs = stack.query("SELECT COUNT(*) AS n FROM jobs")[0]["n"]
        print(f"jobs rows after the runs: {jobs}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4, int(sys.argv[2]) if len(sys.argv) > 2 else 5)
