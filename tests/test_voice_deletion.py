"""Deleting a voice deletes its recording, what the engines derived from it, and the results made with it."""
import time

import requests
from api_client import Api
from media_samples import wav_bytes
from polling import wait_for


def speak(client, voice_id, text):
    task = client.wait_task(client.post("/api/v1/tts", json={"text": text, "voice_id": voice_id}).json()["task_id"])
    assert task["status"] == "succeeded", task
    return task


def test_deleted_voice_recording_profiles_and_results_are_gone(stack, high_voice):
    owner = Api(stack.base_url, f"deleter-{time.monotonic_ns()}")
    recording = wav_bytes(high_voice * 0.61)
    voice = owner.post("/api/v1/voices", files={"audio": ("v.wav", recording, "audio/wav")}, data=owner.consent()).json()["voice"]
    digest = stack.query("SELECT audio_sha256 FROM voices WHERE id = :v", v=voice["voice_id"])[0]["audio_sha256"]
    stored = stack.media_root / "private" / "prompts" / digest[:2] / f"{digest}.wav"
    profiles = lambda: list((stack.root / "cache" / "voice-profiles").glob(f"v*/{digest[:2]}/{digest}.npz"))  # noqa: E731
    # two results, so both worker processes are likely to have analysed the recording
    tasks = [speak(owner, voice["voice_id"], text) for text in ("删除之前说的第一句话。", "删除之前说的第二句话。")]
    assert stored.exists() and profiles()
    assert all(requests.get(t["audio_url"], timeout=10).status_code == 200 for t in tasks)
    result_files = [stack.media_root / stack.job(t["task_id"])["result_path"] for t in tasks]
    assert all(path.exists() for path in result_files)

    assert owner.delete(f"/api/v1/voices/{voice['voice_id']}").status_code == 204

    assert not stored.exists()
    assert not any(path.exists() for path in result_files)
    for task in tasks:
        assert requests.get(task["audio_url"], timeout=10).status_code == 404  # the old signed URL serves nothing
        shown = owner.get(f"/api/v1/tasks/{task['task_id']}").json()
        assert shown["status"] == "deleted" and shown["result"] is None and shown["error"]["code"] == "gone"
        assert stack.job(task["task_id"])["result_path"] is None
    wait_for(lambda: not profiles())  # a worker removed the derived profile from the shared cache
    log = (stack.root / "worker.log").read_text()
    forgot = {line.split("process ")[1].split(":")[0] for line in log.splitlines() if f"forgot recording {digest}" in line}
    assert len(forgot) >= 2  # every pool process dropped its in-memory copy (broadcast)
    again = owner.post("/api/v1/tts", json={"text": "删除之前说的第一句话。", "voice_id": voice["voice_id"]})
    assert again.status_code == 404
    me = owner.get("/api/v1/me").json()["user"]
    assert me["held"] == 0


def test_deleting_my_voice_keeps_another_users_copy_of_the_same_bytes(stack, low_voice):
    recording = wav_bytes(low_voice * 0.57)
    a, b = (Api(stack.base_url, f"same-bytes-{i}-{time.monotonic_ns()}") for i in range(2))
    said = "我们今天去公园玩"  # the same transcript too (each consent sentence has its own code)
    voice_a = a.post("/api/v1/voices", files={"audio": ("a.wav", recording, "audio/wav")},
                     data={**a.consent(), "prompt_text": said}).json()["voice"]
    voice_b = b.post("/api/v1/voices", files={"audio": ("b.wav", recording, "audio/wav")},
                     data={**b.consent(), "prompt_text": said}).json()["voice"]
    task_a, task_b = speak(a, voice_a["voice_id"], "同样的录音。"), speak(b, voice_b["voice_id"], "同样的录音。")
    assert task_a["result"]["url"].split("?")[0] == task_b["result"]["url"].split("?")[0]

    assert a.delete(f"/api/v1/voices/{voice_a['voice_id']}").status_code == 204

    assert a.get(f"/api/v1/tasks/{task_a['task_id']}").json()["status"] == "deleted"
    assert requests.get(b.get(f"/api/v1/tasks/{task_b['task_id']}").json()["audio_url"], timeout=10).status_code == 200
    assert speak(b, voice_b["voice_id"], "我的声音还在。")["status"] == "succeeded"


def test_deleting_a_voice_while_its_job_is_queued_releases_the_hold(stack, high_voice):
    owner = Api(stack.base_url, f"queued-delete-{time.monotonic_ns()}")
    voice = owner.post("/api/v1/voices", files={"audio": ("v.wav", wav_bytes(high_voice * 0.53), "audio/wav")}, data=owner.consent()).json()
    stack.stop("worker")
    try:
        queued = owner.post("/api/v1/tts", json={"text": "排队时被删除。", "voice_id": voice["voice"]["voice_id"]}).json()
        assert owner.get("/api/v1/me").json()["user"]["held"] == 1
        assert owner.delete(f"/api/v1/voices/{voice['voice']['voice_id']}").status_code == 204
        assert owner.get(f"/api/v1/tasks/{queued['task_id']}").json()["status"] == "deleted"
        assert owner.get("/api/v1/me").json()["user"] == {**owner.get("/api/v1/me").json()["user"], "held": 0,
                                                          "balance": 37}
    finally:
        stack.start("worker")
        stack.wait_ready()
    later = owner.post("/api/v1/tts", files={"prompt_audio": ("p.wav", wav_bytes(high_voice * 0.6), "audio/wav")},
                       data={"voice_consent": "true", "text": "排在删除之后。"}).json()["task_id"]
    assert owner.wait_task(later, timeout=120)["status"] == "succeeded"  # the worker is past the deleted job's message
    assert stack.job(queued["task_id"])["status"] == "deleted" and stack.job(queued["task_id"])["started_at"] is None


def test_the_same_recording_again_is_recognised_before_decoding(stack, low_voice, monkeypatch):
    """A repeated upload (inline prompt_audio, a saved voice) is known by the digest of its raw bytes: no
    ffmpeg runs for it; a recording whose stored file is gone is decoded again."""
    from backend.services.media import audio, recordings

    data = wav_bytes(low_voice * 0.44)
    decodes = []
    original = audio.decode
    monkeypatch.setattr(audio, "decode", lambda *args, **kwargs: decodes.append(1) or original(*args, **kwargs))
    with stack.app_context():
        first = recordings.store_prompt(data, None, None, "prompt_audio")
        again = recordings.store_prompt(data, None, None, "prompt_audio")
        assert again == first and len(decodes) == 1
        (stack.media_root / first.path).unlink()
        third = recordings.store_prompt(data, None, None, "prompt_audio")
        assert third == first and len(decodes) == 2 and (stack.media_root / first.path).exists()
