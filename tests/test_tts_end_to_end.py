"""Voice cloning through the whole stack: Nginx -> gunicorn -> Redis -> Celery worker -> media -> Nginx."""
import base64

import pytest
import requests
from api_client import task_of
from media_samples import decode_file, ffprobe_duration, median_f0, unrelated_voice, wav_bytes

from backend import voice_similarity
from backend.engines.speaker_encoder import similarity

TEXT = "今天天气真好，我们一起去公园散步吧。"


def download(url):
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return response.content


def test_saved_voice_mp3_duration_matches_task(api, low_voice_wav, tmp_path):
    created = api.post("/api/v1/voices", files={"audio": ("me.wav", low_voice_wav, "audio/wav")},
                       data={**api.consent(), "name": "低音", "prompt_text": "我们今天去公园玩"})
    assert created.status_code == 201, created.text
    voice = created.json()["voice"]
    assert voice["name"] == "低音" and 3 < voice["duration"] < 10

    listed = api.get("/api/v1/voices").json()["voices"]
    assert [v["voice_id"] for v in listed] == [voice["voice_id"]]

    answer = api.post("/api/v1/tts", json={"text": TEXT, "voice_id": voice["voice_id"]})
    task_of(answer)
    task = api.wait_task(answer.json()["task_id"])
    assert task["status"] == "succeeded", task
    assert task["engine"] == "espeak-world"
    assert task["result"]["mime"] == "audio/mpeg"
    assert "not real voice cloning" in task["result"]["notes"][0]
    assert 0.3 < task["result"]["similarity"] <= 1.0  # the speaker-embedding cosine, computed on the worker
    assert task["audio_url"] == task["result"]["url"]
    mp3 = download(task["audio_url"])
    assert mp3[:3] == b"ID3" or mp3[0] == 0xFF
    assert len(mp3) == task["result"]["bytes"]
    assert abs(ffprobe_duration(mp3, tmp_path=tmp_path) - task["duration"]) <= 0.1
    assert 1.5 < task["duration"] < 10
    # the converted voice follows the low reference
    assert abs(median_f0(decode_file(mp3)) - 110) / 110 < 0.10


def test_inline_prompt_zero_shot_follows_high_voice(api, high_voice_b64):
    answer = api.post("/api/v1/tts?wait=20", json={
        "text": TEXT, "voice_consent": True, "prompt_audio": "data:audio/wav;base64," + high_voice_b64, "format": "wav"})
    task_of(answer)
    task = answer.json() if answer.json()["status"] == "succeeded" else api.wait_task(answer.json()["task_id"])
    assert task["status"] == "succeeded", task
    assert task["result"]["mime"] == "audio/wav"
    samples = decode_file(download(task["audio_url"]))
    assert abs(median_f0(samples) - 220) / 220 < 0.10


def _speak(api, voice_b64, **fields):
    answer = api.post("/api/v1/tts?wait=20", json={"text": TEXT, "voice_consent": True, "prompt_audio": voice_b64, "format": "wav", **fields})
    task_of(answer)
    task = api.wait_task(answer.json()["task_id"])
    assert task["status"] == "succeeded", task
    return task, decode_file(download(task["audio_url"]))


def test_instruct_cantonese_and_sad(api, high_voice_b64):
    plain_task, plain = _speak(api, high_voice_b64)
    yue_task, yue = _speak(api, high_voice_b64, mode="instruct", instruct="用粤语说")
    sad_task, sad = _speak(api, high_voice_b64, mode="instruct", instruct="悲伤地说")

    assert plain_task["result"]["language"] == "cmn"
    assert yue_task["result"]["language"] == "yue"
    assert yue_task["result"]["instruct_applied"] == ["cantonese"]
    assert abs(len(yue) - len(plain)) > 0.1 * len(plain)  # a different language, not the same audio

    assert sad_task["result"]["instruct_applied"] == ["sad"]
    assert median_f0(sad) < 0.95 * median_f0(plain)  # lower
    assert len(sad) > 1.1 * len(plain)  # slower


def test_a_result_unlike_its_recording_reads_unlike_with_its_raw_score_kept(api, high_voice_b64):
    """The result's similarity is what the encoder says of the recording and the downloaded result; its band,
    label and calibrated value follow backend/voice_similarity.json (docs/similarity.md)."""
    recording = unrelated_voice()
    task, result_audio = _speak(api, base64.b64encode(wav_bytes(recording)).decode())
    result = task["result"]
    assert abs(similarity(recording, 16000, result_audio, 16000) - result["similarity"]) < 0.03
    assert result["similarity"] < voice_similarity.calibration()["thresholds"]["unlike"]
    assert result["similarity_band"] == "unlike" and result["similarity_label"] == "不像"
    assert 0 <= result["similarity_calibrated"] < 0.05

    flattered, _ = _speak(api, high_voice_b64)  # a recording made from espeak itself: espeak-world matches it better
    flattered = flattered["result"]
    assert flattered["similarity"] > result["similarity"]
    assert {key: flattered[key] for key in ("similarity_band", "similarity_label", "similarity_calibrated")} == \
        voice_similarity.describe(flattered["similarity"])


def test_unknown_instruction_is_reported(api, high_voice_b64):
    task, _ = _speak(api, high_voice_b64, mode="instruct", instruct="开心地说，像机器人一样")
    assert task["result"]["instruct_applied"] == ["happy"]
    assert task["result"]["instruct_ignored"] == ["像机器人一样"]


def test_seed_compatible_tts(api, high_voice_b64):
    answer = api.post("/tts", json={"text": "你好，世界。", "prompt_audio": high_voice_b64, "mode": "zero_shot"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is True and body["task_id"].startswith("t_")
    assert body["duration"] > 0.5
    assert len(download(body["audio_url"])) > 1000


def test_multipart_tts_and_task_listing(api, low_voice_wav):
    answer = api.post("/api/v1/tts?wait=20", files={"prompt_audio": ("p.wav", low_voice_wav, "audio/wav")},
                      data={"voice_consent": "true", "text": "多部分上传", "speed": "1.2"})
    task_of(answer)
    task_id = answer.json()["task_id"]
    api.wait_task(task_id)
    page = api.get("/api/v1/tasks?kind=tts&limit=1").json()
    assert page["tasks"][0]["task_id"] == task_id
    assert page["tasks"][0]["status"] == "succeeded"


def test_own_repeat_is_a_free_cache_hit_and_another_users_is_a_paid_job_computed_once(api, other_api, stack,
                                                                                        high_voice_b64):
    body = {"text": "缓存测试：同一个请求只算一次。", "voice_consent": True, "prompt_audio": high_voice_b64}
    first = api.post("/api/v1/tts?wait=20", json=body).json()
    first = api.wait_task(first["task_id"])
    assert first["status"] == "succeeded" and first["cached"] is False and first["cost"] == 1

    rows = stack.query("SELECT COUNT(*) AS n FROM jobs WHERE user_id = :u", u=api.user["id"])[0]["n"]
    again = api.post("/api/v1/tts", json=body)  # the same user: their own task again, free, nothing written
    assert again.status_code == 200, again.text
    hit = again.json()
    assert hit["cached"] is True and hit["status"] == "succeeded" and hit["cost"] == 0
    assert hit["task_id"] == first["task_id"]
    assert hit["result"]["url"].split("?")[0] == first["result"]["url"].split("?")[0]
    assert stack.query("SELECT COUNT(*) AS n FROM jobs WHERE user_id = :u", u=api.user["id"])[0]["n"] == rows
    assert stack.job(first["task_id"])["attempts"] == 1  # not run again
    assert len(download(hit["audio_url"])) == first["result"]["bytes"]
    assert api.get(f"/api/v1/tasks/{first['task_id']}").json()["cost"] == 1  # what it cost then

    # Another user: answered exactly like a fresh job (no membership oracle), charged, not computed again.
    computed = stack.engine_runs()
    assert computed >= 1  # the first request ran an engine (the count is there to compare)
    fresh = other_api.post("/api/v1/tts", json=body)
    assert fresh.status_code == 202 and fresh.json()["status"] in ("queued", "running"), fresh.text
    assert fresh.json()["cached"] is False and fresh.json()["cost"] == 1
    done = other_api.wait_task(fresh.json()["task_id"])
    assert done["status"] == "succeeded" and done["cost"] == 1
    assert done["result"]["url"].split("?")[0] == first["result"]["url"].split("?")[0]
    row = stack.job(done["task_id"])
    assert row["enqueued_at"] is not None and row["charge"] == "captured"
    assert stack.engine_runs() == computed  # handed the first result: no engine ran for it



def test_ten_identical_concurrent_requests_make_one_job(api, stack, low_voice_wav):
    from concurrent.futures import ThreadPoolExecutor

    body = {"text": "十个相同的请求同时到达。", "voice_consent": True, "prompt_audio": base64.b64encode(low_voice_wav).decode()}
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: api.post("/api/v1/tts", json=body), range(10)))
    [task_of(a) for a in answers]
    tasks = [api.wait_task(task_id) for task_id in {a.json()["task_id"] for a in answers}]
    assert all(task["status"] == "succeeded" for task in tasks)
    assert len({task["result"]["url"].split("?")[0] for task in tasks}) == 1
    # Requests that arrived while it ran joined it; any arriving after it finished got the cached result.
    assert all(task["cached"] for task in tasks if task["cost"] == 0)
    computed = stack.query("SELECT COUNT(*) AS n FROM jobs WHERE cache_key = (SELECT cache_key FROM jobs WHERE id = :id) "
                           "AND started_at IS NOT NULL", id=tasks[0]["task_id"])[0]["n"]
    assert computed == 1
    charged = stack.query("SELECT COUNT(*) AS n FROM ledger_entries WHERE kind = 'capture' AND job_id IN "
                          "(SELECT id FROM jobs WHERE cache_key = (SELECT cache_key FROM jobs WHERE id = :id))",
                          id=tasks[0]["task_id"])[0]["n"]
    assert charged == 1


def test_concurrent_identical_requests_from_two_users_compute_once(api, other_api, stack, high_voice_b64):
    from concurrent.futures import ThreadPoolExecutor

    body = {"text": "两个用户同时请求同一句话。", "voice_consent": True, "prompt_audio": high_voice_b64}
    clients = [api, other_api] * 3
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda c: c.post("/api/v1/tts", json=body).json(), clients))
    tasks = [client.wait_task(a["task_id"]) for client, a in zip(clients, answers)]
    assert all(t["status"] == "succeeded" for t in tasks)
    assert len({t["result"]["url"].split("?")[0] for t in tasks}) == 1
    started = stack.query("SELECT COUNT(*) AS n FROM jobs WHERE cache_key = (SELECT cache_key FROM jobs WHERE id = :id) "
                          "AND started_at IS NOT NULL", id=tasks[0]["task_id"])[0]["n"]
    assert started == 1


@pytest.mark.parametrize("speed", [0.49, 2.5])
def test_speed_out_of_range(api, high_voice_b64, speed):
    answer = api.post("/api/v1/tts", json={"text": "你好", "voice_consent": True, "prompt_audio": high_voice_b64, "speed": speed})
    assert answer.status_code == 400
    assert answer.json()["error"] == {"code": "invalid_request", "field": "speed", "message": answer.json()["error"]["message"]}
