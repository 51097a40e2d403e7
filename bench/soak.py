"""Sustained load on a real stack (SQLite): 20 users making voices and stickers and polling for results.

Every minute it prints the jobs finished, the write-ahead log and database sizes, the media on disk and
the RSS of every process; at the end: disk per 1,000 jobs, the WAL's peak, and RSS at start and end per
process. `python bench/soak.py [seconds]` (default 600; needs `make install-test`). Never fails on time.
"""
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from api_client import Api  # noqa: E402
from media_samples import reference_voice, wav_bytes  # noqa: E402
from process_stats import child_pids, rss_mb  # noqa: E402
from stack_process import Stack  # noqa: E402

USERS = 20
CAPTIONS = ["开心", "大笑", "生气", "惊讶", "无语", "得意", "委屈", "害羞"]


def disk_mb(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 1e6


def size_mb(path):
    return path.stat().st_size / 1e6 if path.exists() else 0.0


def processes(stack):
    """name -> pid for every long-lived process of the stack (pool children by their parent)."""
    found = {}
    for service in ("redis", "web", "worker", "beat", "nginx"):
        process = stack.processes.get(service)
        if process is None:
            continue
        found[service] = process.pid
        for index, child in enumerate(child_pids(process.pid)):
            found[f"{service}.{index}"] = child
    return found


class Load:
    """The users' loop: create a job, follow it to the end, sometimes list the history."""

    def __init__(self, stack, voice_wav, deadline):
        self.stack, self.voice_wav, self.deadline = stack, voice_wav, deadline
        self.done = self.failed = self.errors = self.requests = 0
        self.latencies = []
        self.lock = threading.Lock()

    def count(self, answer, started):
        with self.lock:
            self.requests += 1
            self.latencies.append(time.perf_counter() - started)
            if answer.status_code >= 500 or answer.status_code in (400, 401, 403, 404):
                self.errors += 1
                if self.errors <= 5:
                    print(f"error answer: {answer.status_code} {answer.request.method} "
                          f"{answer.request.path_url[:80]} {answer.text[:200]}", flush=True)

    def call(self, method, api, path, **kwargs):
        started = time.perf_counter()
        answer = getattr(api, method)(path, **kwargs)
        self.count(answer, started)
        return answer

    def user(self, number):
        api = Api(self.stack.base_url, f"soak-{number}-{time.monotonic_ns()}")
        voice = self.call("post", api, "/api/v1/voices", files={"audio": ("v.wav", self.voice_wav, "audio/wav")},
                          data=api.consent())
        voice_id = voice.json()["voice"]["voice_id"]
        rng = random.Random(number)
        n = 0
        while time.monotonic() < self.deadline:
            n += 1
            roll = rng.random()
            if roll < 0.4:
                answer = self.call("post", api, "/api/v1/tts", json={
                    "text": f"第{number}位用户的第{n}句话，今天天气不错。", "voice_id": voice_id})
            elif roll < 0.85:
                answer = self.call("post", api, "/api/v1/emoji", json={
                    "template_id": rng.choice(["panda", "wanted"]), "text": f"{rng.choice(CAPTIONS)}{number}-{n}"})
            else:
                self.call("get", api, "/api/v1/tasks?limit=20")
                continue
            if answer.status_code not in (200, 202):
                continue
            task = answer.json()
            while task.get("status") in ("queued", "running") and time.monotonic() < self.deadline + 60:
                started = time.monotonic()
                task = self.call("get", api, f"/api/v1/tasks/{task['task_id']}?wait=10").json()
                time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))  # as the clients do
            with self.lock:
                if task.get("status") == "succeeded":
                    self.done += 1
                else:
                    self.failed += 1


def main(seconds):
    with tempfile.TemporaryDirectory() as root, Stack(root, VOXMOJI_SIGNUP_GRANT="1000000") as stack:
        wal, database = stack.root / "voxmoji.db-wal", stack.root / "voxmoji.db"
        start_rss = {name: rss_mb(pid, "VmRSS") for name, pid in processes(stack).items()}
        load = Load(stack, wav_bytes(reference_voice(180.0)), time.monotonic() + seconds)
        threads = [threading.Thread(target=load.user, args=(n,), daemon=True) for n in range(USERS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        wal_peak = 0.0
        next_report = started + 60
        while any(thread.is_alive() for thread in threads):
            wal_peak = max(wal_peak, size_mb(wal))
            if time.monotonic() >= next_report:
                next_report += 60
                rss = {name: rss_mb(pid, "VmRSS") for name, pid in processes(stack).items()}
                print(f"[{time.monotonic() - started:5.0f} s] jobs {load.done:6d} (failed {load.failed}), requests "
                      f"{load.requests}, errors {load.errors}; WAL {size_mb(wal):6.1f} MB (peak {wal_peak:.1f}), "
                      f"db {size_mb(database):5.1f} MB, media {disk_mb(stack.media_root):6.1f} MB; RSS "
                      + ", ".join(f"{name} {value:.0f}" for name, value in rss.items()), flush=True)
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        end_rss = {name: rss_mb(pid, "VmRSS") for name, pid in processes(stack).items()}
        state = disk_mb(stack.media_root) + size_mb(database) + size_mb(wal)
        jobs = max(load.done + load.failed, 1)
        print(f"\nsoak: {elapsed:.0f} s, {USERS} users, {load.requests} requests "
              f"({load.requests / elapsed:.1f}/s, median {statistics.median(load.latencies) * 1000:.0f} ms), "
              f"{load.done} jobs succeeded, {load.failed} did not, {load.errors} error answers")
        print(f"WAL peak {wal_peak:.1f} MB, at the end {size_mb(wal):.1f} MB; database {size_mb(database):.1f} MB; "
              f"media {disk_mb(stack.media_root):.1f} MB")
        print(f"disk per 1,000 jobs: {state / jobs * 1000:.1f} MB (database + WAL + media)")
        for name in sorted(set(start_rss) | set(end_rss)):
            print(f"RSS {name:10s} start {start_rss.get(name, 0):6.0f} MB  end {end_rss.get(name, 0):6.0f} MB")
        ledger = stack.query("SELECT SUM(balance) AS balance, SUM(held) AS held FROM users")[0]
        entries = stack.query("SELECT SUM(delta) AS delta FROM ledger_entries")[0]
        print(f"ledger: balances {ledger['balance']} = sum of entries {entries['delta']}; held {ledger['held']}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 600.0)
