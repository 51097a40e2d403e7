"""OpenAI-compatible speech through the running stack: the official `openai` package, pointed at the stack's
/v1, says text in a saved voice with a speech API key; every response format decodes; the key is scoped to one
account and one endpoint. (The console creating such a key is tested in test_console.py.)"""
import io
import subprocess
import sys

import numpy as np
import openai
import pytest
import requests
import soundfile
from api_client import task_of
from media_samples import decode_file, median_f0
from stack_process import REPO

TEXT = "今天天气真好，我们一起去公园散步吧。"


def create_key(stack, scope, user=None, name=None):
    command = [sys.executable, "-m", "flask", "--app", "backend", "create-api-key", "--name",
               name or f"{scope}-{user}-{np.random.randint(1 << 30)}", "--scope", scope]
    done = subprocess.run(command + (["--user", user] if user else []), cwd=REPO, env=stack.env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def save_voice(api, voice_wav):
    created = api.post("/api/v1/voices", files={"audio": ("me.wav", voice_wav, "audio/wav")},
                       data={**api.consent(), "name": "我", "prompt_text": "我们今天去公园玩"})
    assert created.status_code == 201, created.text
    return created.json()["voice"]["voice_id"]


@pytest.fixture
def speaker(api, stack, low_voice_wav):
    """(client, voice id, api) for an account with a saved voice and a speech key."""
    voice_id = save_voice(api, low_voice_wav)
    client = openai.OpenAI(base_url=stack.base_url + "/v1", api_key=create_key(stack, "speech", api.user["id"]),
                           max_retries=0, timeout=60)
    return client, voice_id, api


def test_the_openai_package_gets_audio_in_a_saved_voice(speaker):
    client, voice_id, api = speaker
    before = api.get("/api/v1/me").json()["user"]["balance"]
    audio = client.audio.speech.create(model="tts-1", voice=voice_id, input=TEXT, response_format="wav")
    samples, rate = soundfile.read(io.BytesIO(audio.content))
    assert rate == 16000 and 1.5 < len(samples) / rate < 10
    assert abs(median_f0(samples.astype(np.float32)) - 110) / 110 < 0.12  # the saved (low) voice
    task_id = audio.response.headers["X-VoxMoji-Task"]
    task = api.get(f"/api/v1/tasks/{task_id}").json()
    assert task["status"] == "succeeded" and task["text"].startswith("今天天气真好") and task["engine"] == "espeak-world"
    after = api.get("/api/v1/me").json()["user"]["balance"]
    assert before - after == task["cost"] > 0  # billed to the key's account

    again = client.audio.speech.create(model="tts-1", voice={"id": voice_id}, input=TEXT, response_format="wav")
    assert again.content == audio.content and again.response.headers["X-VoxMoji-Task"] == task_id
    assert api.get("/api/v1/me").json()["user"]["balance"] == after  # a repeat is not charged again


@pytest.mark.parametrize("fmt, check", [
    ("mp3", lambda data: data[:3] == b"ID3"), ("opus", lambda data: data[:4] == b"OggS" and b"OpusHead" in data[:64]),
    ("aac", lambda data: data[0] == 0xFF and data[1] & 0xF6 == 0xF0), ("flac", lambda data: data[:4] == b"fLaC"),
    ("pcm", lambda data: len(data) % 2 == 0)])
def test_every_response_format(speaker, fmt, check, tmp_path):
    client, voice_id, _api = speaker
    data = client.audio.speech.create(model="gpt-4o-mini-tts", voice=voice_id, input="你好，很高兴认识你。",
                                      response_format=fmt, instructions="开心地说").content
    assert check(data)
    if fmt == "pcm":  # OpenAI's pcm: raw 24 kHz 16-bit little-endian mono
        samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768
        assert 0.8 < len(samples) / 24000 < 6
        assert np.abs(samples).max() > 0.05
    else:
        path = tmp_path / f"speech.{fmt}"
        path.write_bytes(data)
        seconds = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                                        "csv=p=0", str(path)], capture_output=True, text=True, timeout=30).stdout)
        assert 0.8 < seconds < 6
        assert len(decode_file(data)) > 0.8 * 16000


def test_the_voice_must_be_the_accounts_own(speaker, other_api, low_voice_wav):
    client, _voice_id, _api = speaker
    foreign = save_voice(other_api, low_voice_wav)
    for voice, wanted in ((foreign, "not_found"), ("alloy", "not_found"), ("v_" + "x" * 70, "invalid_request")):
        with pytest.raises(openai.APIStatusError) as refused:
            client.audio.speech.create(model="tts-1", voice=voice, input=TEXT)
        assert refused.value.status_code == {"not_found": 404, "invalid_request": 400}[wanted]
        assert refused.value.body["code"] == wanted, refused.value.body


@pytest.mark.parametrize("change, status, code, field", [
    ({"input": "好" * 1001}, 422, "text_too_long", "input"), ({"input": ""}, 400, "invalid_request", "input"),
    ({"speed": 4.0}, 400, "invalid_request", "speed"), ({"stream_format": "sse"}, 400, "invalid_request", "stream_format"),
    ({"response_format": "ogg"}, 400, "invalid_request", "response_format"),
    ({"model": "m" * 65}, 400, "invalid_request", "model"), ({"instructions": "慢" * 101}, 422, "text_too_long", "instructions"),
    ({"voice": {"id": "v_1", "extra": 1}}, 400, "invalid_request", "voice"), ({"voice": ["v_1"]}, 400, "invalid_request", "voice")])
def test_bad_requests_get_clear_errors(speaker, stack, change, status, code, field):
    _client, voice_id, api = speaker
    key = _client.api_key
    body = {"model": "tts-1", "voice": voice_id, "input": TEXT, **change}
    answer = requests.post(stack.base_url + "/v1/audio/speech", json=body, timeout=30,
                           headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code and answer.json()["error"]["field"] == field
    assert api.get("/api/v1/me").json()["user"]["held"] == 0  # nothing held


def test_keys_are_scoped(speaker, stack):
    client, voice_id, api = speaker
    url = stack.base_url + "/v1/audio/speech"
    body = {"model": "tts-1", "voice": voice_id, "input": TEXT}
    admin_key = create_key(stack, "recharge")
    for headers in ({}, {"Authorization": "Bearer " + admin_key}, {"Authorization": "Bearer vmk_forged"},
                    {"Authorization": "Bearer " + api.tokens["access_token"]},
                    {"Authorization": "Bearer vmk_" + "a" * 5000}):
        answer = requests.post(url, json=body, headers=headers, timeout=30)
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized", headers
    recharge = requests.post(stack.base_url + "/api/v1/admin/recharges", json={"users": [api.user["id"]], "amount": 5,
                             "reason": "no"}, headers={"Authorization": "Bearer " + client.api_key,
                                                       "Idempotency-Key": "speech-key-recharge"}, timeout=30)
    assert recharge.status_code == 401  # a speech key is not an admin key
    tts = requests.post(stack.base_url + "/api/v1/tts", json={"text": TEXT, "voice_id": voice_id}, timeout=30,
                        headers={"Authorization": "Bearer " + client.api_key})
    assert tts.status_code == 401  # nor a user's access token


def test_a_blocked_account_or_revoked_key_stops_at_once(speaker, stack):
    client, voice_id, api = speaker
    from backend.services.backoffice import accounts, api_keys

    with stack.app_context():
        accounts.set_blocked(api.user["id"], True, "test", "abuse")
    with pytest.raises(openai.PermissionDeniedError):
        client.audio.speech.create(model="tts-1", voice=voice_id, input=TEXT)
    with stack.app_context():
        accounts.set_blocked(api.user["id"], False, "test", "mistake")
        record = api_keys._unrevoked(client.api_key)
        api_keys.revoke(record.id)
    with pytest.raises(openai.AuthenticationError):
        client.audio.speech.create(model="tts-1", voice=voice_id, input=TEXT)


@pytest.mark.parametrize("fmt, mime", [("opus", "audio/ogg"), ("flac", "audio/flac"), ("aac", "audio/aac")])
def test_the_task_api_speaks_the_same_formats(api, high_voice_b64, fmt, mime):
    answer = api.post("/api/v1/tts?wait=20", json={"text": "你好，很高兴认识你。", "voice_consent": True, "prompt_audio": high_voice_b64,
                                                   "format": fmt})
    task_of(answer)
    task = api.wait_task(answer.json()["task_id"])
    assert task["status"] == "succeeded" and task["result"]["mime"] == mime
    served = requests.get(task["audio_url"], timeout=30)
    assert served.status_code == 200 and served.headers["Content-Type"] == mime  # Nginx knows the extension
    assert len(served.content) == task["result"]["bytes"]


def test_retry_after_is_only_where_it_means_something(stack, api, low_voice_wav):
    """503 "still speaking" says when to come back (3 s); an ordinary answer carries no Retry-After."""
    from backend import create_app

    voice_id = save_voice(api, low_voice_wav)
    key = create_key(stack, "speech", api.user["id"])
    client = create_app(stack.app_config(SEED_TTS_WAIT=0)).test_client()  # no time to finish: still speaking
    answer = client.post("/v1/audio/speech", json={"model": "tts-1", "voice": voice_id, "input": "稍后再来取。"},
                         headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "3", answer.json
    assert answer.json["error"]["code"] == "service_unavailable"
    me = api.get("/api/v1/me")
    assert me.status_code == 200 and "Retry-After" not in me.headers
    refused = api.post("/api/v1/tts", json={"text": "", "voice_id": voice_id})
    assert refused.status_code == 400 and "Retry-After" not in refused.headers

