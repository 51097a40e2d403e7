"""Consent to cloning a voice: the speaker reads a dated sentence, and a voice is saved only with the token that
came with it; the consent record stays with the voice and is in the user's export."""
import base64
import hashlib
import io
import json
import re
import time
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
import requests
from api_client import Api, task_of
from media_samples import wav_bytes
from polling import wait_for
from stack_process import REPO, Stack


def save(api, samples, **data):
    return api.post("/api/v1/voices", files={"audio": ("v.wav", wav_bytes(samples), "audio/wav")}, data=data)


def test_the_sentence_is_dated_in_china_and_bound_to_the_user(api):
    offer = api.get("/api/v1/voices/consent").json()
    today = datetime.now(timezone(timedelta(hours=8)))
    code = re.fullmatch(r"我是本人，我同意用我的声音生成语音。验证码([零一二三四五六七八九]{4})。今天是(.*)。", offer["text"])
    assert code and code.group(2) == f"{today.year}年{today.month}月{today.day}日"
    assert offer["consent_token"] and offer["expires_at"].endswith("Z")
    codes = {re.search("验证码(....)", api.get("/api/v1/voices/consent").json()["text"]).group(1) for _ in range(8)}
    assert len(codes) >= 4  # random: an old recording of the same person does not say today's code


def test_a_voice_without_consent_is_refused_and_nothing_is_kept(api, stack, low_voice):
    prompts = stack.media_root / "private" / "prompts"
    before = set(prompts.rglob("*.wav")) if prompts.exists() else set()
    answer = save(api, low_voice * 0.61)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "consent_required"
    assert answer.json()["error"]["field"] == "consent_token"
    assert api.get("/api/v1/voices").json()["voices"] == []
    assert (set(prompts.rglob("*.wav")) if prompts.exists() else set()) == before  # not even decoded


def test_forged_expired_and_borrowed_tokens_are_refused(api, other_api, stack, low_voice):
    from backend.services.intake import consent

    with stack.app_context():
        owner = type("Owner", (), {"id": api.user["id"]})
        expired = consent.offer(owner, now=datetime.now(timezone.utc) - timedelta(hours=1))["consent_token"]
    borrowed = other_api.consent()["consent_token"]
    for token, why in ((expired, "expired"), (borrowed, "another account"), ("a.b.c", "not valid")):
        answer = save(api, low_voice * 0.62, consent_token=token)
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "consent_required", why
        assert why in answer.json()["error"]["message"]


def test_the_consent_record_stays_with_the_voice_and_is_exported(api, low_voice):
    offer = api.get("/api/v1/voices/consent").json()
    answer = save(api, low_voice * 0.63, consent_token=offer["consent_token"], name="我的声音")
    assert answer.status_code == 201, answer.text
    voice = answer.json()["voice"]
    assert voice["consent"]["text"] == offer["text"] and voice["prompt_text"] == offer["text"]
    assert abs(datetime.fromisoformat(voice["consent"]["at"].replace("Z", "+00:00")).timestamp() - time.time()) < 60
    listed = api.get("/api/v1/voices").json()["voices"][0]
    assert listed["consent"] == voice["consent"]
    archive = zipfile.ZipFile(io.BytesIO(api.get("/api/v1/me/export").content))
    exported = json.loads(archive.read("voices.json"))[0]
    assert exported["consent"] == voice["consent"] and exported["consent"]["audio_sha256"]


@pytest.mark.parametrize("token", ["x" * 2001])
def test_an_oversized_token_is_refused(api, low_voice, token):
    answer = save(api, low_voice * 0.64, consent_token=token)
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "consent_token", answer.text


def test_a_photo_of_a_person_needs_the_users_confirmation(api, stack):
    import base64

    from media_samples import encode_image, hopper_photo

    photo = base64.b64encode(encode_image(hopper_photo())).decode()
    for path, body, field in (("/api/v1/emoji", {"image": photo, "style": "cutout"}, "face_consent"),
                              ("/api/v1/swap", {"source_image": photo, "template_id": "hopper"}, "face_consent"),
                              ("/api/v1/emoji", {"image": photo, "face_consent": False}, "face_consent")):
        answer = api.post(path, json=body)
        assert answer.status_code == 422, answer.text
        assert (answer.json()["error"]["code"], answer.json()["error"]["field"]) == ("consent_required", field)
    assert api.get("/api/v1/tasks").json()["tasks"] == []  # nothing was created or charged
    template_only = api.post("/api/v1/emoji?wait=20", json={"template_id": "panda", "text": "不需要确认"})
    task_of(template_only)  # no photo of a person: nothing to confirm
    confirmed = api.post("/api/v1/emoji?wait=20", json={"image": photo, "style": "cutout", "face_consent": True})
    task = api.wait_task(confirmed.json()["task_id"])
    assert task["status"] == "succeeded"
    params = stack.job(task["task_id"])["params"]
    params = json.loads(params) if isinstance(params, str) else params
    assert params["face_consent"] is True  # the confirmation is recorded with the job


@pytest.fixture(scope="module")
def asr_stack(tmp_path_factory):
    """A stack whose worker serves speech recognition (FunASR, its stand-in package) and checks consent
    (VOXMOJI_CONSENT_CHECK=auto), not in the dev mode: /tts does not clone."""
    root = tmp_path_factory.mktemp("asr-stack")
    model = root / "SenseVoiceSmall"
    model.mkdir()
    (model / "model.pt").write_bytes(b"stand-in")
    (model / "config.yaml").write_text("model: SenseVoiceSmall\n")
    with Stack(root / "stack", VOXMOJI_ENV="", VOXMOJI_CONSENT_CHECK="auto", VOXMOJI_SEED_TTS_CLONING="",
               ASR_MODEL_DIR=str(model),
               FUNASR_STANDIN_TRANSCRIPTS=str(root / "heard.json"),
               PYTHONPATH=str(REPO / "tests" / "standins")) as stack:
        stack.heard = root / "heard.json"
        stack.heard.write_text("{}")
        yield stack


def says(stack, samples, text):
    """Tell the recognizer stand-in what this recording says (keyed by the digest of the file the service
    stores: the recording decoded to 16 kHz mono WAV)."""
    from backend.services.media import audio

    decoded = audio.decode(wav_bytes(samples), max_seconds=30, timeout=30)
    digest = hashlib.sha256(audio.encode(decoded.samples, decoded.sample_rate, "wav").data).hexdigest()
    heard = json.loads(stack.heard.read_text())
    stack.heard.write_text(json.dumps({**heard, digest: text}, ensure_ascii=False))
    return digest


def spoken(sentence):
    """How a recognizer writes the sentence: no punctuation, the date in Chinese numerals."""
    digits = "零一二三四五六七八九"
    date = re.search(r"(\d+)年(\d+)月(\d+)日", sentence)
    year = "".join(digits[int(d)] for d in date.group(1))
    said = re.sub(r"\d+年\d+月\d+日", f"{year}年{_number(int(date.group(2)))}月{_number(int(date.group(3)))}日", sentence)
    return re.sub(r"[，。]", "", said)


def _number(n):
    digits = "零一二三四五六七八九"
    return digits[n] if n < 10 else ("十" if n < 20 else digits[n // 10] + "十") + (digits[n % 10] if n % 10 else "")


def test_a_recording_of_the_sentence_is_verified_by_speech_recognition(asr_stack, low_voice):
    api = Api(asr_stack.base_url, f"asr-ok-{time.monotonic_ns()}")
    offer = api.get("/api/v1/voices/consent").json()
    samples = low_voice * 0.71
    says(asr_stack, samples, spoken(offer["text"]))
    answer = save(api, samples, consent_token=offer["consent_token"])
    assert answer.status_code == 201, answer.text
    voice = answer.json()["voice"]
    assert voice["usable"] is True and voice["consent"]["status"] == "verified"
    assert voice["consent"]["checked_by"] == "asr"
    task = api.post("/api/v1/tts?wait=20", json={"text": "验证过的声音。", "voice_id": voice["voice_id"]})
    assert api.wait_task(task.json()["task_id"])["status"] == "succeeded"
    again = save(api, low_voice * 0.72, consent_token=offer["consent_token"])  # one token, one voice
    assert again.status_code == 422 and again.json()["error"]["code"] == "consent_required", again.text
    assert len(api.get("/api/v1/voices").json()["voices"]) == 1


def test_a_recording_of_another_sentence_or_code_is_refused(asr_stack, low_voice, high_voice):
    api = Api(asr_stack.base_url, f"asr-no-{time.monotonic_ns()}")
    offer = api.get("/api/v1/voices/consent").json()
    prompts = asr_stack.media_root / "private" / "prompts"
    other = says(asr_stack, high_voice * 0.66, "今天天气很好我们一起去公园散步吧")
    answer = save(api, high_voice * 0.66, consent_token=offer["consent_token"])
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "consent_mismatch" and answer.json()["error"]["field"] == "audio"
    assert not list(prompts.rglob(f"{other}.wav"))  # nothing kept
    # the same person's older recording: the right words, yesterday's code
    code = re.search("验证码(....)", offer["text"]).group(1)
    old_code = "".join("一" if c != "一" else "二" for c in code)
    says(asr_stack, low_voice * 0.67, spoken(offer["text"]).replace(code, old_code))
    answer = save(api, low_voice * 0.67, consent_token=offer["consent_token"])
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "consent_mismatch", answer.text
    assert api.get("/api/v1/voices").json()["voices"] == []


def test_without_speech_recognition_a_voice_waits_for_a_moderator(asr_stack, low_voice):
    api = Api(asr_stack.base_url, f"asr-gone-{time.monotonic_ns()}")
    asr_stack.stop("worker")
    try:
        wait_for(lambda: requests.get(asr_stack.base_url + "/readyz", timeout=5).status_code == 503, timeout=60)
        answer = save(api, low_voice * 0.73, **api.consent())
        assert answer.status_code == 201, answer.text
        voice = answer.json()["voice"]
        assert voice["usable"] is False and voice["consent"]["status"] == "reviewing"
        speak = api.post("/api/v1/tts", json={"text": "还没审核。", "voice_id": voice["voice_id"]})
        assert speak.status_code == 409 and speak.json()["error"]["code"] == "consent_pending", speak.text
        [item] = asr_stack.query("SELECT kind, status, text FROM review_items WHERE voice_id = :v", v=voice["voice_id"])
        assert item["kind"] == "consent" and item["status"] == "open" and item["text"] == voice["consent"]["text"]
    finally:
        asr_stack.start("worker")
        asr_stack.wait_ready()


def test_inline_cloning_needs_the_users_declaration(asr_stack, high_voice):
    api = Api(asr_stack.base_url, f"inline-{time.monotonic_ns()}")
    recording = base64.b64encode(wav_bytes(high_voice * 0.64)).decode()
    for path in ("/api/v1/tts", "/api/v1/tts/stream"):
        refused = api.post(path, json={"text": "没有声明。", "prompt_audio": recording})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == {**refused.json()["error"], "code": "consent_required", "field": "voice_consent"}
    seed = api.post("/tts", json={"text": "种子接口。", "prompt_audio": recording})  # off outside the dev mode
    assert seed.status_code == 422 and seed.json()["error"]["code"] == "consent_required", seed.text
    assert api.get("/api/v1/tasks").json()["tasks"] == []  # nothing was created or held
    accepted = api.post("/api/v1/tts?wait=20", json={"text": "声明过了。", "prompt_audio": recording, "voice_consent": True})
    task = api.wait_task(accepted.json()["task_id"])
    params = asr_stack.job(task["task_id"])["params"]
    assert task["status"] == "succeeded" and json.loads(params if isinstance(params, str) else json.dumps(params))["voice_consent"] is True
