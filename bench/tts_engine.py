"""Benchmark of the embedded voice engine and the memory of the processes that serve it.

Prints: the real-time factor (compute seconds per second of audio) of a ~5 s sentence on
one core, split into synthesis (espeak-ng), conversion (WORLD) and MP3 encoding, with the
reference analysis cached; then the peak RSS of a voice worker process after 20 requests
and of a gunicorn worker, measured on a real stack started as the tests start it.
Targets: RTF <= 0.10, worker <= 400 MB, gunicorn worker <= 150 MB. Never fails on time.
"""
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent.parent / "tests")]

from api_client import Api  # noqa: E402
from media_samples import reference_voice, wav_bytes  # noqa: E402
from process_stats import child_pids, rss_mb  # noqa: E402
from stack_process import Stack  # noqa: E402

from backend.engines.tts_espeak_world import EspeakWorldTTS  # noqa: E402
from backend.services import audio  # noqa: E402

SENTENCE = "今天天气真好，我们一起去公园散步吧。"
RUNS = 10


def engine_rtf():
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    reference = reference_voice(180.0)
    engine = EspeakWorldTTS(profile_dir=tempfile.mkdtemp())
    engine.synthesize(SENTENCE, reference, 16000, prompt_key="bench")  # analyse (and cache) the reference
    rows = []
    for _ in range(RUNS):
        started = time.perf_counter()
        speech = engine.synthesize(SENTENCE, reference, 16000, prompt_key="bench")
        encode_started = time.perf_counter()
        encoded = audio.encode(speech.audio, speech.sample_rate, "mp3")
        done = time.perf_counter()
        seconds = len(speech.audio) / speech.sample_rate
        rows.append({
            "audio": seconds,
            "synthesis": speech.timings["synthesis"],
            "conversion": speech.timings["conversion"],
            "encode": done - encode_started,
            "total": done - started,
        })
        assert encoded.duration > 0
    audio_seconds = statistics.median(r["audio"] for r in rows)
    print(f"espeak-world, one core, {RUNS} runs, reference analysis cached")
    print(f"  audio length           {audio_seconds:.2f} s")
    for part in ("synthesis", "conversion", "encode", "total"):
        value = statistics.median(r[part] for r in rows)
        print(f"  {part:<22} {value * 1000:7.1f} ms   RTF {value / audio_seconds:.4f}")


def stack_memory():
    with tempfile.TemporaryDirectory() as root, Stack(root, VOXMOJI_SIGNUP_GRANT="10000") as stack:
        api = Api(stack.base_url, "bench-user")
        reference = base64.b64encode(wav_bytes(reference_voice(200.0))).decode()
        for index in range(20):
            answer = api.post("/api/v1/tts", json={"text": f"第{index + 1}句：{SENTENCE}", "voice_consent": True, "prompt_audio": reference})
            task = api.wait_task(answer.json()["task_id"])
            assert task["status"] == "succeeded", task
        pool = child_pids(stack.processes["worker"].pid)
        gunicorn_workers = child_pids(stack.processes["web"].pid)
        print("peak RSS after 20 TTS requests through the stack")
        main = stack.processes["worker"].pid
        print(f"  celery main     {main:<7} {rss_mb(main):7.1f} MB  (supervisor, runs no engine)")
        for pid in pool:
            print(f"  voice worker    {pid:<7} {rss_mb(pid):7.1f} MB  (pool process with the engine)")
        for pid in gunicorn_workers:
            print(f"  gunicorn worker {pid:<7} {rss_mb(pid):7.1f} MB")


if __name__ == "__main__":
    if "--memory-only" not in sys.argv:
        engine_rtf()
    stack_memory()
