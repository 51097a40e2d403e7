"""VOXMOJI_MEDIA_STORAGE=s3: uploads and results live in a real S3 server (SeaweedFS), no disk is shared, and
the media, signed-URL, cache and deletion behaviour is the local store's (tests/test_media_nginx.py runs its
tests on both stores)."""
import base64
import time

import requests
from api_client import Api
from media_samples import encode_image, hopper_photo, wav_bytes
from polling import wait_for

from backend import create_app
from backend.services.media import files

BUCKET = "voxmoji-media"


def keys(s3_server, prefix):
    listed = s3_server.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return {item["Key"] for item in listed.get("Contents", [])}


def files_under(directory):
    return [path for path in directory.rglob("*") if path.is_file()] if directory.exists() else []


def test_results_and_uploads_are_objects_not_files(s3_stack, s3_server, high_voice):
    api = Api(s3_stack.base_url, f"s3-{time.monotonic_ns()}")
    recording = base64.b64encode(wav_bytes(high_voice * 0.66)).decode()
    speech = api.post("/api/v1/tts?wait=20", json={"text": "对象存储里的声音。", "voice_consent": True, "prompt_audio": recording})
    speech = api.wait_task(speech.json()["task_id"])
    photo = base64.b64encode(encode_image(hopper_photo())).decode()
    sticker = api.post("/api/v1/emoji?wait=20", json={"face_consent": True, "image": photo, "style": "cutout", "text": "存储"})
    sticker = api.wait_task(sticker.json()["task_id"])
    assert speech["status"] == sticker["status"] == "succeeded"
    for task, kind in ((speech, "audio/mpeg"), (sticker, "image/png")):
        served = requests.get(task["result"]["url"], timeout=10)  # through Nginx, from the bucket
        assert served.status_code == 200 and served.headers["Content-Type"] == kind
        assert len(served.content) == task["result"]["bytes"]
        row = s3_stack.job(task["task_id"])
        assert f"public/{row['result_path']}" in keys(s3_server, "public/")
    uploads = keys(s3_server, "private/")
    assert any(key.startswith("private/prompts/") for key in uploads)
    assert any(key.startswith("private/images/") for key in uploads)
    assert files_under(s3_stack.media_root) == []  # nothing of it on this host's disk


def test_template_previews_are_rendered_by_a_worker_into_the_bucket(s3_stack, s3_server):
    api = Api(s3_stack.base_url, f"s3-templates-{time.monotonic_ns()}")
    templates = api.get("/api/v1/templates").json()["templates"]
    assert templates and all(t["preview_url"] for t in templates)
    assert requests.get(templates[0]["preview_url"], timeout=10).content.startswith(b"\x89PNG")
    assert {f"public/templates/{t['template_id']}.png" for t in templates} <= keys(s3_server, "public/templates/")


def test_own_repeat_is_a_cache_hit_and_another_users_request_reuses_the_object(s3_stack, low_voice):
    one, two = (Api(s3_stack.base_url, f"s3-cache-{n}-{time.monotonic_ns()}") for n in range(2))
    body = {"text": "同一个请求只算一次。", "voice_consent": True, "prompt_audio": base64.b64encode(wav_bytes(low_voice * 0.7)).decode()}
    first = one.wait_task(one.post("/api/v1/tts?wait=20", json=body).json()["task_id"])
    again = one.post("/api/v1/tts", json=body).json()
    assert again["cached"] is True and again["task_id"] == first["task_id"] and again["cost"] == 0
    computed = s3_stack.engine_runs()
    assert computed >= 1
    other = two.wait_task(two.post("/api/v1/tts", json=body).json()["task_id"])
    assert other["status"] == "succeeded" and other["cost"] == 1
    assert other["result"]["url"].split("?")[0] == first["result"]["url"].split("?")[0]
    assert s3_stack.engine_runs() == computed  # handed the existing object, not computed


def test_deleting_a_voice_deletes_its_objects(s3_stack, s3_server, high_voice):
    owner = Api(s3_stack.base_url, f"s3-delete-{time.monotonic_ns()}")
    recording = wav_bytes(high_voice * 0.53)
    voice = owner.post("/api/v1/voices", files={"audio": ("v.wav", recording, "audio/wav")}, data=owner.consent()).json()["voice"]
    task = owner.post("/api/v1/tts?wait=20", json={"text": "删除以后就没有了。", "voice_id": voice["voice_id"]})
    task = owner.wait_task(task.json()["task_id"])
    digest = s3_stack.query("SELECT audio_sha256 FROM voices WHERE id = :v", v=voice["voice_id"])[0]["audio_sha256"]
    result_key = "public/" + s3_stack.job(task["task_id"])["result_path"]
    assert f"private/prompts/{digest[:2]}/{digest}.wav" in keys(s3_server, "private/prompts/")
    assert result_key in keys(s3_server, "public/")

    assert owner.delete(f"/api/v1/voices/{voice['voice_id']}").status_code == 204

    assert f"private/prompts/{digest[:2]}/{digest}.wav" not in keys(s3_server, "private/prompts/")
    assert result_key not in keys(s3_server, "public/")
    assert requests.get(task["audio_url"], timeout=10).status_code == 404


def test_presigned_urls_on_the_operators_media_domain(s3_stack, s3_server):
    """MEDIA_PUBLIC_BASE: URLs are presigned by the store itself (here the S3 server stands for the operator's
    media domain); a tampered or expired one is refused, and private uploads cannot be fetched by guessing."""
    app = create_app(s3_stack.app_config(MEDIA_PUBLIC_BASE=s3_server.endpoint))
    with app.app_context():
        files.write_atomic("sticker/pr/presigned.png", b"\x89PNG presigned")
        url, _ = files.sign_url("sticker/pr/presigned.png")
        short, _ = files.sign_url("sticker/pr/presigned.png", ttl=1)
    assert url.startswith(s3_server.endpoint) and "X-Amz-Signature=" in url
    assert requests.get(url, timeout=10).content == b"\x89PNG presigned"
    assert requests.get(url.replace("presigned.png", "other.png"), timeout=10).status_code == 403
    wait_for(lambda: requests.get(short, timeout=10).status_code == 403, timeout=30)  # its one second runs out
    assert requests.get(f"{s3_server.endpoint}/{BUCKET}/private/prompts/x.wav", timeout=10).status_code == 403


def test_an_unreachable_store_is_a_503_the_client_may_retry(s3_stack, high_voice):
    """The bucket not answering (here: a port nothing listens on) answers 503 service_unavailable with
    Retry-After, never a 500, and charges nothing."""
    from stack_process import free_port

    app = create_app(s3_stack.app_config(S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}"))
    with app.test_client() as client:
        login = client.post("/api/v1/auth/login", json={"code": f"s3-down-{time.monotonic_ns()}"}).json
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        answer = client.post("/api/v1/tts", headers=headers, json={
            "text": "存储坏了。", "voice_consent": True, "prompt_audio": base64.b64encode(wav_bytes(high_voice * 0.5)).decode()})
        assert answer.status_code == 503 and answer.json["error"]["code"] == "service_unavailable"
        assert int(answer.headers["Retry-After"]) >= 5  # ours, or the rate limiter's window if later
        me = client.get("/api/v1/me", headers=headers).json["user"]
        assert me["balance"] == login["user"]["balance"] and me["held"] == 0
