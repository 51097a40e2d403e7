"""A user's data leaving: `DELETE /api/v1/me` (on local media and on S3), the export, and retention."""
import base64
import io
import json
import time
import zipfile

import pytest
import requests
from api_client import Api
from media_samples import encode_image, hopper_photo, wav_bytes
from polling import wait_for
from stack_process import Stack


def stored_paths(stack):
    """Every media path the stack's store holds (files under the media root, or the bucket's keys)."""
    from backend.services.media import files

    with stack.app_context():
        store = files.store()
        if hasattr(store, "client"):
            listed = store.client.list_objects_v2(Bucket=store.bucket).get("Contents", [])
            return {item["Key"].removeprefix("public/") for item in listed}
        return {str(path.relative_to(store.root)) for path in store.root.rglob("*") if path.is_file()}


def make_everything(api, voice_samples):
    """A saved voice and speech with it, inline speech, a photo sticker and a swap: every kind of data."""
    voice = api.post("/api/v1/voices", files={"audio": ("v.wav", wav_bytes(voice_samples), "audio/wav")},
                     data={**api.consent(), "name": "要删除的声音"}).json()["voice"]
    photo = base64.b64encode(encode_image(hopper_photo()[10:500, 10:500])).decode()
    answers = [
        api.post("/api/v1/tts?wait=20", json={"text": "删除我的数据。", "voice_id": voice["voice_id"]}),
        api.post("/api/v1/tts?wait=20", json={"text": "内联录音。", "voice_consent": True, "prompt_audio": base64.b64encode(
            wav_bytes(voice_samples * 0.7)).decode()}),
        api.post("/api/v1/emoji?wait=20", json={"face_consent": True, "image": photo, "style": "cutout", "text": "删除"}),
        api.post("/api/v1/swap?wait=20", json={"face_consent": True, "source_image": photo, "template_id": "hopper"}),
    ]
    tasks = [api.wait_task(answer.json()["task_id"]) for answer in answers]
    assert all(task["status"] == "succeeded" for task in tasks), tasks
    return voice, tasks


def test_delete_me_erases_every_file_and_cache_entry_and_keeps_the_ledger_balanced(media_stack, low_voice):
    stack = media_stack
    api = Api(stack.base_url, f"erase-{time.monotonic_ns()}")
    user_id = api.user["id"]
    before = stored_paths(stack)
    voice, tasks = make_everything(api, low_voice * 0.9)
    rows = stack.query("SELECT cache_key, result_path, params FROM jobs WHERE user_id = :u", u=user_id)
    mine = {row["result_path"] for row in rows} | {
        value for row in rows for key, value in (json.loads(row["params"]) if isinstance(row["params"], str)
                                                 else row["params"]).items() if key.endswith("_path") and value}
    assert mine <= stored_paths(stack) and len(mine) >= 7

    export = api.get("/api/v1/me/export")
    assert export.status_code == 200 and export.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(export.content))
    assert set(archive.namelist()) == {"profile.json", "voices.json", "jobs.json", "ledger.json"}
    assert json.loads(archive.read("voices.json"))[0]["voice_id"] == voice["voice_id"]
    assert {job["task_id"] for job in json.loads(archive.read("jobs.json"))} == {t["task_id"] for t in tasks}

    answer = api.delete("/api/v1/me")
    assert answer.status_code == 202 and answer.json()["status"] == "erasing"
    refused = api.get("/api/v1/me")  # at once: the account no longer works
    assert refused.status_code == 403 and "deleted at your request" in refused.json()["error"]["message"]

    wait_for(lambda: not (mine & stored_paths(stack)), timeout=90)
    assert stored_paths(stack) - before - mine == set() or all(
        path.startswith("templates/") for path in stored_paths(stack) - before - mine)
    for task in tasks:
        assert requests.get(task["result"]["url"], timeout=10).status_code == 404
    wait_for(lambda: stack.query("SELECT openid FROM users WHERE id = :u", u=user_id)[0]["openid"]
             == f"erased:{user_id}")
    wait_for(lambda: all(json.loads(r["params"]) == {} if isinstance(r["params"], str) else r["params"] == {}
                         for r in stack.query("SELECT params FROM jobs WHERE user_id = :u", u=user_id)))
    with stack.app_context():
        from backend.extensions import get_redis

        redis = get_redis()
        assert not any(redis.exists(f"vm:cache:{row['cache_key']}") for row in rows)
        for key in redis.scan_iter(match="vm:prompt-of:*"):
            assert json.loads(redis.get(key))["path"] not in mine
    assert stack.query("SELECT COUNT(*) AS n FROM voices WHERE user_id = :u", u=user_id)[0]["n"] == 0
    user = stack.query("SELECT balance, held FROM users WHERE id = :u", u=user_id)[0]
    ledger = stack.query("SELECT SUM(delta) AS d, SUM(held_delta) AS h FROM ledger_entries WHERE user_id = :u",
                         u=user_id)[0]
    assert (user["balance"], user["held"]) == (ledger["d"], ledger["h"]) and user["held"] == 0

    again = Api(stack.base_url, api.code)  # the same WeChat login makes a fresh account
    assert again.user["id"] != user_id and again.get("/api/v1/voices").json()["voices"] == []


def test_another_users_identical_result_survives_my_erasure(stack, high_voice):
    mine, theirs = (Api(stack.base_url, f"erase-share-{n}-{time.monotonic_ns()}") for n in range(2))
    body = {"template_id": "wanted", "text": f"共享{time.monotonic_ns() % 1000}"}
    first = mine.wait_task(mine.post("/api/v1/emoji?wait=20", json=body).json()["task_id"])
    second = theirs.wait_task(theirs.post("/api/v1/emoji?wait=20", json=body).json()["task_id"])
    assert mine.delete("/api/v1/me").status_code == 202
    wait_for(lambda: stack.job(first["task_id"])["status"] == "deleted")
    shown = theirs.get(f"/api/v1/tasks/{second['task_id']}").json()
    assert requests.get(shown["result"]["url"], timeout=10).status_code == 200


def test_exports_are_rate_limited(stack):
    from backend import create_app

    app = create_app(stack.app_config(LIMIT_EXPORTS="2/hour"))
    with app.test_client() as client:
        token = client.post("/api/v1/auth/login", json={"code": f"exporter-{time.monotonic_ns()}"}).json
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        codes = [client.get("/api/v1/me/export", headers=headers).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


@pytest.fixture(scope="module")
def short_retention(tmp_path_factory):
    with Stack(tmp_path_factory.mktemp("retention"), VOXMOJI_RETENTION_HOURS="0.001",
               VOXMOJI_RETENTION_INTERVAL="2") as stack:
        yield stack


def test_retention_deletes_results_and_uploads_but_keeps_saved_voices(short_retention, high_voice):
    stack = short_retention
    api = Api(stack.base_url, f"retention-{time.monotonic_ns()}")
    voice = api.post("/api/v1/voices", files={"audio": ("v.wav", wav_bytes(high_voice * 0.8), "audio/wav")}, data=api.consent()).json()
    photo = base64.b64encode(encode_image(hopper_photo())).decode()
    sticker = api.wait_task(api.post("/api/v1/emoji?wait=20", json={"face_consent": True, "image": photo, "style": "cutout"}).json()["task_id"])
    speech = api.wait_task(api.post("/api/v1/tts?wait=20", json={
        "text": "过期以后就删掉。", "voice_id": voice["voice"]["voice_id"]}).json()["task_id"])
    upload = json.loads(stack.job(sticker["task_id"])["params"])["image_path"] if isinstance(
        stack.job(sticker["task_id"])["params"], str) else stack.job(sticker["task_id"])["params"]["image_path"]
    for task in (sticker, speech):
        wait_for(lambda: api.get(f"/api/v1/tasks/{task['task_id']}").json()["status"] == "deleted", timeout=60)
        shown = api.get(f"/api/v1/tasks/{task['task_id']}").json()
        assert shown["status"] == "deleted" and shown["error"]["code"] == "gone"
        assert "retention" in shown["error"]["message"]
        assert requests.get(task["result"]["url"], timeout=10).status_code == 404
    wait_for(lambda: not (stack.media_root / upload).exists())
    assert api.get("/api/v1/voices").json()["voices"][0]["voice_id"] == voice["voice"]["voice_id"]
    digest = stack.query("SELECT audio_sha256 FROM voices WHERE id = :v", v=voice["voice"]["voice_id"])[0]
    assert (stack.media_root / "private" / "prompts" / digest["audio_sha256"][:2] /
            f"{digest['audio_sha256']}.wav").exists()  # a saved voice stays until the user deletes it
    again = api.post("/api/v1/tts?wait=20", json={"text": "还能用。", "voice_id": voice["voice"]["voice_id"]})
    assert api.wait_task(again.json()["task_id"])["status"] == "succeeded"


def test_retention_deletes_uploads_no_job_refers_to(short_retention):
    """A request refused after its photo was stored (no job) leaves an upload: retention deletes it once it is
    old, and leaves young ones alone."""
    import os

    from backend.services.media import files

    stack = short_retention
    with stack.app_context():
        files.write_atomic("private/images/or/orphan-old.png", b"\x89PNG old")
    old = stack.media_root / "private/images/or/orphan-old.png"
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    wait_for(lambda: not old.exists(), timeout=30)
    with stack.app_context():
        files.write_atomic("private/images/or/orphan-young.png", b"\x89PNG young")
        files.write_atomic("private/images/or/orphan-old-2.png", b"\x89PNG old too")
    second = stack.media_root / "private/images/or/orphan-old-2.png"
    os.utime(second, (time.time() - 3600, time.time() - 3600))
    wait_for(lambda: not second.exists(), timeout=30)  # a sweep that listed the folder after the young one was made
    assert (stack.media_root / "private/images/or/orphan-young.png").exists()


def test_an_erasure_whose_task_was_lost_is_finished_by_the_sweep(short_retention, low_voice):
    """The account was marked erased but the erasure task never ran (a broker outage): the periodic sweep
    finishes it."""
    stack = short_retention
    api = Api(stack.base_url, f"lost-erasure-{time.monotonic_ns()}")
    voice = api.post("/api/v1/voices", files={"audio": ("v.wav", wav_bytes(low_voice * 0.77), "audio/wav")},
                     data=api.consent())
    assert voice.status_code == 201
    user_id = api.user["id"]
    stack.execute("UPDATE users SET openid = :o, blocked = :b WHERE id = :u", o=f"erased:{user_id}", b=True,
                  u=user_id)  # what DELETE /api/v1/me does at once; its task message is "lost"
    wait_for(lambda: stack.query("SELECT COUNT(*) AS n FROM voices WHERE user_id = :u", u=user_id)[0]["n"] == 0,
             timeout=60)


def test_one_signup_grant_per_person_through_erasure(stack):
    """F7: erasing the account and logging in again with the same WeChat identity makes a new, empty account,
    never a second grant; what is kept is a keyed hash, not the identity."""
    code = f"regrant-{time.monotonic_ns()}"
    balances = []
    for _cycle in range(4):
        api = Api(stack.base_url, code)
        balances.append(api.get("/api/v1/me").json()["user"]["balance"])
        assert api.delete("/api/v1/me").status_code == 202
    assert balances == [37, 0, 0, 0]  # the stack's signup grant is 37
    kept = [row["identity_hash"] for row in stack.query("SELECT identity_hash FROM granted_identities")]
    assert kept and all(len(digest) == 64 and code not in digest for digest in kept)
    openid = "dev_" + __import__("hashlib").sha256(code.encode()).hexdigest()[:24]
    assert not stack.query("SELECT id FROM users WHERE openid = :o", o=openid)  # the last account is erased too
    assert Api(stack.base_url, f"someone-else-{time.monotonic_ns()}").get("/api/v1/me").json()["user"]["balance"] == 37
