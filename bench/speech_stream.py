"""Streaming speech through the whole stack: time to the first audio byte against time to the last, for a
3-sentence Mandarin text on the embedded engine (espeak-world), beside the same request through the task API
(POST /api/v1/tts?wait=20 until the file is there). Each run speaks a new text (no cache).

    python bench/speech_stream.py [runs]
"""
import base64
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from api_client import Api  # noqa: E402
from media_samples import reference_voice, wav_bytes  # noqa: E402
from stack_process import Stack  # noqa: E402

TEXT = "今天天气真好，我们一起去公园散步吧。这家店的奶茶特别好喝，下次再来。明天早上八点，我们在学校门口见面{n}。"


def main(runs=8):
    voice = base64.b64encode(wav_bytes(reference_voice(220.0, formant_shift=1.12))).decode()
    with tempfile.TemporaryDirectory() as root, Stack(root, VOXMOJI_SIGNUP_GRANT="100000") as stack:
        api = Api(stack.base_url, "bench-stream")
        api.post("/api/v1/tts?wait=20", json={"text": "预热。", "voice_consent": True, "prompt_audio": voice})  # warm the worker
        first, last, whole, seconds = [], [], [], []
        for n in range(runs):
            started = time.perf_counter()
            with api.session.post(stack.base_url + "/api/v1/tts/stream", stream=True, timeout=120,
                                  json={"text": TEXT.format(n=n), "voice_consent": True, "prompt_audio": voice}) as answer:
                assert answer.status_code == 200, answer.text
                chunks = answer.iter_content(chunk_size=None)
                next(chunks)
                first.append(time.perf_counter() - started)
                for _ in chunks:
                    pass
                last.append(time.perf_counter() - started)
                task = api.wait_task(answer.headers["X-VoxMoji-Task"])
                seconds.append(task["duration"])
            started = time.perf_counter()
            task = api.post("/api/v1/tts?wait=20", json={"text": TEXT.format(n=f"{n}号"), "voice_consent": True, "prompt_audio": voice}).json()
            task = api.wait_task(task["task_id"]) if task["status"] != "succeeded" else task
            whole.append(time.perf_counter() - started)
    print(f"3 sentences (~{statistics.mean(seconds):.1f} s of speech), espeak-world, {runs} runs through Nginx:")
    print(f"  stream  time to first byte  median {statistics.median(first) * 1000:6.0f} ms  "
          f"(min {min(first) * 1000:.0f}, max {max(first) * 1000:.0f})")
    print(f"  stream  time to last byte   median {statistics.median(last) * 1000:6.0f} ms")
    print(f"  task API (wait=20) result   median {statistics.median(whole) * 1000:6.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
