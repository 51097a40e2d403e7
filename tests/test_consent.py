"""Consent to cloning a voice: the speaker reads a dated sentence, and a voice is saved only with the token that
came with it; the consent record stays with the voice and is in the user's export."""
import io
import json
import time
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
from api_client import task_of
from media_samples import wav_bytes


def save(api, samples, **data):
    return api.post("/api/v1/voices", files={"audio": ("v.wav", wav_bytes(samples), "audio/wav")}, data=data)


def test_the_sentence_is_dated_in_china_and_bound_to_the_user(api):
    offer = api.get("/api/v1/voices/consent").json()
    today = datetime.now(timezone(timedelta(hours=8)))
    assert offer["text"] == f"我是本人，我同意用我的声音生成语音。今天是{today.year}年{today.month}月{today.day}日。"
    assert offer["consent_token"] and offer["expires_at"].endswith("Z")


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
