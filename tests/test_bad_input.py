"""Bad input gets the documented 4xx code, and the API and workers keep serving afterwards."""
import base64
import time

import numpy as np
import pytest
import requests
from api_client import Api, task_of
from media_samples import wav_bytes


def b64(data):
    return base64.b64encode(data).decode()


def tone(seconds, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def png_bytes():
    # A minimal valid PNG (1x1), written by hand so the test needs no imaging library.
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"\x00\xff\x00\x00"
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


HLS = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/evil.ts\n#EXT-X-ENDLIST\n"


def error_of(response):
    body = response.json()
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize("case, fields, status, code, field", [
    ("bad base64", {"text": "你好", "voice_consent": True, "prompt_audio": "this is not base64!!"}, 400, "invalid_request", "prompt_audio"),
    ("empty text", {"text": "   ", "voice_consent": True, "prompt_audio": b64(wav_bytes(tone(3)))}, 400, "invalid_request", "text"),
    ("missing text", {"voice_consent": True, "prompt_audio": b64(wav_bytes(tone(3)))}, 400, "invalid_request", "text"),
    ("201 chars", {"text": "好" * 201, "voice_consent": True, "prompt_audio": b64(wav_bytes(tone(3)))}, 422, "text_too_long", "text"),
    ("0.5 s audio", {"text": "你好", "voice_consent": True, "prompt_audio": b64(wav_bytes(tone(0.5)))}, 422, "audio_too_short", "prompt_audio"),
    ("40 s audio", {"text": "你好", "voice_consent": True, "prompt_audio": b64(wav_bytes(tone(40)))}, 422, "audio_too_long", "prompt_audio"),
    ("png as audio", {"text": "你好", "voice_consent": True, "prompt_audio": b64(png_bytes())}, 422, "invalid_audio", "prompt_audio"),
    ("hls as audio", {"text": "你好", "voice_consent": True, "prompt_audio": b64(HLS), "prompt_audio_format": "mp3"}, 422, "invalid_audio",
     "prompt_audio"),
    ("garbage as wav", {"text": "你好", "voice_consent": True, "prompt_audio": b64(b"RIFF\x00\x00\x00\x00WAVEjunk" * 20)}, 422, "invalid_audio",
     "prompt_audio"),
    ("unknown format", {"text": "你好", "voice_consent": True, "prompt_audio": b64(wav_bytes(tone(3))), "prompt_audio_format": "ogg"}, 400,
     "invalid_request", "prompt_audio_format"),
    ("pcm without rate", {"text": "你好", "voice_consent": True, "prompt_audio": b64(b"\x00\x01" * 48000), "prompt_audio_format": "pcm"}, 400,
     "invalid_request", "sample_rate"),
    ("unknown voice", {"text": "你好", "voice_id": "v_doesnotexist"}, 404, "not_found", "voice_id"),
    ("no voice at all", {"text": "你好"}, 400, "invalid_request", "prompt_audio"),
    ("instruct without text", {"text": "你好", "mode": "instruct", "voice_consent": True, "prompt_audio": b64(wav_bytes(tone(3)))}, 400,
     "invalid_request", "instruct"),
    ("bad mode", {"text": "你好", "mode": "sing", "voice_consent": True, "prompt_audio": b64(wav_bytes(tone(3)))}, 400, "invalid_request", "mode"),
])
def test_tts_bad_input(api, case, fields, status, code, field):
    response = api.post("/api/v1/tts", json=fields)
    assert response.status_code == status, (case, response.text)
    error = error_of(response)
    assert (error["code"], error["field"]) == (code, field), case


def test_oversized_body_is_413_json_from_nginx(api):
    response = api.post("/api/v1/tts", data=b"x" * (16 * 1024 * 1024), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_audio_over_size_limit(api):
    response = api.post("/api/v1/voices", json={**api.consent(), "audio": b64(b"\x00" * (10 * 1024 * 1024 + 10))})
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_voice_multipart_png_rejected(api):
    response = api.post("/api/v1/voices", files={"audio": ("a.wav", png_bytes(), "audio/wav")}, data=api.consent())
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_audio"


def test_body_must_be_json_or_multipart(api):
    response = api.post("/api/v1/tts", data="text=hi", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media"
    response = api.post("/api/v1/tts", data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_request"


def test_missing_and_bad_token(stack):
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        response = requests.get(stack.base_url + "/api/v1/tasks", headers=headers, timeout=10)
        assert response.status_code == 401
        assert error_of(response)["code"] == "unauthorized"


def test_another_users_task_and_voice_are_not_found(api, other_api, low_voice_wav):
    voice = api.post("/api/v1/voices", json={**api.consent(), "audio": b64(low_voice_wav)}).json()["voice"]
    task = api.post("/api/v1/tts", json={"text": "只属于我", "voice_id": voice["voice_id"]}).json()
    for response in (other_api.get(f"/api/v1/tasks/{task['task_id']}"),
                     other_api.delete(f"/api/v1/tasks/{task['task_id']}"),
                     other_api.delete(f"/api/v1/voices/{voice['voice_id']}"),
                     other_api.post("/api/v1/tts", json={"text": "借用", "voice_id": voice["voice_id"]})):
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert other_api.get("/api/v1/tasks").json()["tasks"] == []
    assert api.wait_task(task["task_id"])["status"] == "succeeded"
    assert api.delete(f"/api/v1/voices/{voice['voice_id']}").status_code == 204
    assert api.get("/api/v1/voices").json()["voices"] == []
    assert api.post("/api/v1/tts", json={"text": "已删除", "voice_id": voice["voice_id"]}).status_code == 404


def test_unknown_route_and_method(api):
    assert error_of(api.get("/api/v1/nothing-here"))["code"] == "not_found"
    response = api.session.put(api.base_url + "/api/v1/tts", json={}, timeout=10)
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_still_serving_after_bad_input(api, high_voice_b64):
    api.post("/api/v1/tts", json={"text": "你好", "voice_consent": True, "prompt_audio": b64(HLS)})
    api.post("/api/v1/tts", json={"text": "你好", "voice_consent": True, "prompt_audio": "%%%"})
    answer = api.post("/api/v1/tts?wait=20", json={"text": "我还在工作。", "voice_consent": True, "prompt_audio": high_voice_b64})
    task_of(answer)
    assert api.wait_task(answer.json()["task_id"])["status"] == "succeeded"


# -- hostile shapes, on SQLite and on PostgreSQL (which refuses what SQLite stores) --------------------------

@pytest.mark.parametrize("any_stack", ["sqlite", "postgresql"], indirect=True)
def test_deeply_nested_json_is_a_400_before_it_is_decoded(any_stack):
    nested = "[" * 3000 + "]" * 3000
    api = Api(any_stack.base_url, f"nested-{time.monotonic_ns()}")
    for path, headers in (("/api/v1/auth/login", {}), ("/api/v1/tts", api.session.headers),
                          ("/v1/audio/speech", {"Authorization": "Bearer vmk_nope"})):
        answer = requests.post(any_stack.base_url + path, data=nested, timeout=30,
                               headers={**headers, "Content-Type": "application/json"})
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["error"]["code"] == "invalid_request" and "deep" in answer.json()["error"]["message"]


@pytest.mark.parametrize("any_stack", ["sqlite", "postgresql"], indirect=True)
def test_integers_beyond_bigint_in_paths_are_404(any_stack):
    for path in ("/api/v1/wechat/media/9223372036854775808?expires=1&sig=a", "/api/v1/wechat/media/" + "9" * 40):
        answer = requests.get(any_stack.base_url + path, timeout=30)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found", answer.text


@pytest.mark.parametrize("any_stack", ["sqlite", "postgresql"], indirect=True)
def test_nul_characters_are_refused_naming_the_field(any_stack):
    api = Api(any_stack.base_url, f"nul-{time.monotonic_ns()}")
    cases = [api.post("/api/v1/reports", json={"job_id": "t_x", "category": "abuse", "reason": "bad\u0000reason"}),
             api.post("/api/v1/voices", data={"name": "n\u0000m", **api.consent()}),
             api.get("/api/v1/tasks?before=t_%00"),
             api.post("/api/v1/tts", json={"text": "你好\u0000", "voice_id": "v_x"})]
    fields = ["reason", "name", "before", "text"]
    for answer, field in zip(cases, fields):
        assert answer.status_code == 400, answer.text
        assert (answer.json()["error"]["code"], answer.json()["error"]["field"]) == ("invalid_request", field)
    in_path = api.get("/api/v1/tasks/t_%00")  # Nginx refuses the path itself, in the API's error shape
    assert in_path.status_code == 400 and in_path.json()["error"]["code"] == "invalid_request", in_path.text


def test_an_over_long_request_line_is_a_json_414(stack):
    answer = requests.get(stack.base_url + "/api/v1/tasks/" + "x" * 9000, timeout=30)
    assert answer.status_code == 414 and answer.json()["error"]["code"] == "uri_too_long", answer.text
