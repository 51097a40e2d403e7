"""Sticker packs and talking stickers through the whole stack, everything pinned to one core: the time to
make a pack of 8 animated stickers from one photo (and export it), and a talking sticker's time per second of
speech (embedded engines: classic stickers, espeak-world voice).

    python bench/packs_and_talking.py [runs]
"""
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from api_client import Api  # noqa: E402
from media_samples import astronaut_photo, encode_image, hopper_photo, reference_voice, wav_bytes  # noqa: E402
from stack_process import Stack  # noqa: E402

EMOTIONS = ["happy", "laugh", "surprised", "angry", "sad", "shy", "speechless", "smug"]
TEXTS = ["你好，今天天气真好！", "我们一起去公园散步吧。", "这家店的奶茶特别好喝，下次再来。"]


def finished(api, answer):
    assert answer.status_code in (200, 202), answer.text
    task = api.wait_task(answer.json()["task_id"], timeout=600)
    assert task["status"] == "succeeded", task
    return task


def main(runs=3):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # the stack's processes inherit one core
    photos = [base64.b64encode(encode_image(make())).decode() for make in (astronaut_photo, hopper_photo)]
    with tempfile.TemporaryDirectory() as root, Stack(root, VOXMOJI_SIGNUP_GRANT="100000",
                                                      VOXMOJI_WORKER_CONCURRENCY="1") as stack:
        api = Api(stack.base_url, "bench-packs")
        voice = api.post("/api/v1/voices", files={"audio": ("me.wav", wav_bytes(reference_voice(220.0)), "audio/wav")},
                         data={**api.consent(), "prompt_text": "我们今天去公园玩"}).json()["voice"]["voice_id"]
        finished(api, api.post("/api/v1/emoji?wait=20", json={"template_id": "panda", "text": "预热"}))
        packs = []
        for run in range(runs):
            started = time.perf_counter()
            task = finished(api, api.post("/api/v1/packs", json={
                "image": photos[run % 2], "face_consent": True, "name": f"测试{run}",
                "stickers": [{"text": f"{e}{run}", "emotion": e} for e in EMOTIONS]}))
            exported = api.get(f"/api/v1/packs/{task['task_id']}/export")
            assert exported.status_code == 200
            packs.append(time.perf_counter() - started)
        per_second = []
        for run, text in enumerate(TEXTS * max(1, runs // len(TEXTS) + 1)):
            if run >= max(runs, len(TEXTS)):
                break
            started = time.perf_counter()
            task = finished(api, api.post("/api/v1/talking-stickers", json={
                "image": photos[run % 2], "face_consent": True, "text": text, "voice_id": voice}))
            per_second.append((time.perf_counter() - started) / task["duration"])
    print(f"one core, through Nginx, embedded engines ({runs} runs each):")
    print(f"  pack of 8 animated stickers + export   median {statistics.median(packs):5.1f} s "
          f"(min {min(packs):.1f}, max {max(packs):.1f})")
    print(f"  talking sticker, per second of speech  median {statistics.median(per_second):5.2f} s "
          f"(min {min(per_second):.2f}, max {max(per_second):.2f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
