"""Streaming speech through the running stack (Nginx -> gunicorn -> Redis stream <- Celery worker): the
first audio arrives while the job is still speaking, the stream is the same speech as the stored result,
bad requests are refused before anything is held, and streams are bounded per user."""
import io
import struct
import threading

import numpy as np
import pytest
import requests
import soundfile
from api_client import task_of
from media_samples import decode_file

SENTENCES = ["今天天气真好，我们一起去公园散步吧。", "这家店的奶茶特别好喝，下次再来。", "明天早上八点，我们在学校门口见面。",
             "谢谢你送我的生日礼物，我非常喜欢。", "周末想去看一场电影，你有空吗？", "外面下雨了，出门记得带伞。"]


def open_stream(api, voice_b64, text, **fields):
    return api.session.post(api.base_url + "/api/v1/tts/stream", stream=True, timeout=120,
                            json={"text": text, "voice_consent": True, "prompt_audio": voice_b64, **fields})


def test_first_audio_arrives_while_the_job_is_still_speaking(api, high_voice_b64):
    with open_stream(api, high_voice_b64, "".join(SENTENCES)) as answer:
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"] == "audio/mpeg" and "chunked" in answer.headers["Transfer-Encoding"]
        task_id = answer.headers["X-VoxMoji-Task"]
        chunks = answer.iter_content(chunk_size=None)
        first = next(chunks)
        at_first_byte = api.get(f"/api/v1/tasks/{task_id}").json()
        streamed = first + b"".join(chunks)
    assert at_first_byte["status"] == "running" and at_first_byte["progress"] < 95, at_first_byte
    assert first[:3] == b"ID3"  # the AI label comes first
    task = api.wait_task(task_id)
    assert task["status"] == "succeeded" and task["cost"] > 0
    stored = decode_file(requests.get(task["audio_url"], timeout=30).content)
    heard = decode_file(streamed)
    assert abs(len(heard) - len(stored)) / len(stored) < 0.03  # the same speech, all of it
    assert len(heard) / 16000 > 6  # six sentences


def test_wav_streams_pcm_behind_an_open_ended_header(api, high_voice_b64):
    with open_stream(api, high_voice_b64, "".join(SENTENCES[:3]), format="wav") as answer:
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "audio/wav"
        task_id = answer.headers["X-VoxMoji-Task"]
        data = answer.content
    assert data[:4] == b"RIFF" and struct.unpack("<I", data[40:44])[0] == 0xFFFFFFFF
    rate = struct.unpack("<I", data[24:28])[0]
    samples = np.frombuffer(data[44:], "<i2")
    task = api.wait_task(task_id)
    assert abs(len(samples) / rate - task["duration"]) < 0.05
    stored, stored_rate = soundfile.read(io.BytesIO(requests.get(task["audio_url"], timeout=30).content))
    assert stored_rate == rate and abs(len(stored) - len(samples)) <= rate * 0.01


def test_a_repeat_streams_the_stored_result_at_no_cost(api, high_voice_b64):
    text = SENTENCES[4]
    with open_stream(api, high_voice_b64, text) as answer:
        first = answer.content
        task_id = answer.headers["X-VoxMoji-Task"]
    assert api.wait_task(task_id)["status"] == "succeeded"
    balance = api.get("/api/v1/me").json()["user"]["balance"]
    with open_stream(api, high_voice_b64, text) as answer:
        again = answer.content
        assert answer.headers["X-VoxMoji-Task"] == task_id  # the user's own earlier result
    assert api.get("/api/v1/me").json()["user"]["balance"] == balance
    assert abs(len(decode_file(again)) - len(decode_file(first))) < 0.05 * len(decode_file(first))


@pytest.mark.parametrize("fields, status, code, field", [
    ({"format": "opus"}, 400, "invalid_request", "format"), ({"text": "好" * 1001}, 422, "text_too_long", "text"),
    ({"voice_consent": True, "prompt_audio": None}, 400, "invalid_request", "prompt_audio"), ({"emotion": "joy"}, 400, "invalid_request", "emotion"),
    ({"speed": 9}, 400, "invalid_request", "speed")])
def test_bad_streams_are_refused_before_anything_is_held(api, high_voice_b64, fields, status, code, field):
    body = {"text": SENTENCES[0], "voice_consent": True, "prompt_audio": high_voice_b64, **fields}
    answer = api.post("/api/v1/tts/stream", json={k: v for k, v in body.items() if v is not None})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code and answer.json()["error"]["field"] == field
    assert api.get("/api/v1/me").json()["user"]["held"] == 0


def test_a_user_holds_at_most_two_streams(api, high_voice_b64):
    long_text = "".join(SENTENCES) * 1  # a few seconds of work each
    opened = [open_stream(api, high_voice_b64, long_text + str(n)) for n in range(2)]
    try:
        assert all(answer.status_code == 200 for answer in opened)
        third = api.post("/api/v1/tts/stream", json={"text": "第三个。", "voice_consent": True, "prompt_audio": high_voice_b64})
        assert third.status_code == 429 and third.json()["error"]["code"] == "rate_limited", third.text
        assert "Retry-After" in third.headers
    finally:
        readers = [threading.Thread(target=lambda a=answer: a.content) for answer in opened]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(120)
    again = open_stream(api, high_voice_b64, "现在可以了。")
    assert again.status_code == 200 and len(again.content) > 1000  # the slots came back


def test_a_stream_that_pauses_reads_its_job_again_after_the_view_returned(stack, api, high_voice_b64):
    """The response sends the pieces after the view has returned, in an app context (and database session) of
    its own; when the worker pauses (a loaded machine) the stream looks at the job again. It used to refresh the
    view's instance there, which that session does not know, and cut the response short."""
    from backend.extensions import db, get_redis
    from backend.models import Job
    from backend.services.media import speech_stream

    answer = api.post("/api/v1/tts?wait=20", json={"text": "停顿之后。", "voice_consent": True, "prompt_audio": high_voice_b64})
    task = api.wait_task(task_of(answer)["task_id"])
    assert task["status"] == "succeeded"
    with stack.app_context() as app:
        job = db.session.get(Job, task["task_id"])
        key = speech_stream.KEY + job.cache_key
        get_redis().delete(key)
        get_redis().xadd(key, {"kind": "audio", "data": b"first piece"})  # then nothing: the worker pauses
        pieces = speech_stream.pieces(job, max_seconds=30)
        assert next(pieces) == b"first piece"
        with app.app_context():  # what stream_with_context does for the rest of the response
            rest = list(pieces)  # the job is finished and its speech was sent: the stream ends cleanly
        get_redis().delete(key)
    assert rest == []
