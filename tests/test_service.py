"""Health, readiness, metrics, OpenAPI, login and tokens."""
import time

import jwt
import pytest
import requests
from polling import wait_for
from stack_process import TEST_SECRET

from backend import create_app


def test_healthz_and_readyz(stack):
    assert requests.get(stack.base_url + "/healthz", timeout=10).json()["status"] == "ok"
    ready = requests.get(stack.base_url + "/readyz", timeout=10).json()
    assert ready["ready"] and ready["redis"] and ready["database"]
    assert {family: route["chosen"] for family, route in ready["routing"].items()} == {
        "tts": "espeak-world", "sticker": "classic", "asr": None}  # no speech recognition: consent goes to review
    worker = ready["workers"][0]
    assert set(worker["queues"]) == {"default", "tts.espeak-world", "sticker.classic"}
    assert worker["engines"]["tts"]["name"] == "espeak-world" and worker["engines"]["tts"]["device"] == "cpu"
    assert worker["engines"]["sticker"]["concurrency"] == 2
    why = worker["unavailable"]  # auto says why the GPU engines were not chosen on this machine
    assert "NVIDIA" in why["tts"]["cosyvoice3"] or "lacks" in why["tts"]["cosyvoice3"]
    assert "SD_MODEL_DIR" in why["sticker"]["sd-lora"]


def test_openapi_and_docs(stack):
    spec = requests.get(stack.base_url + "/openapi.json", timeout=10).json()
    for path in ("/api/v1/auth/login", "/api/v1/tts", "/tts", "/api/v1/voices", "/api/v1/tasks/{task_id}"):
        assert path in spec["paths"], path
    for path in ("/api/v1/tts", "/api/v1/emoji", "/api/v1/voices"):  # wx.request (JSON) or wx.uploadFile (multipart)
        body = spec["paths"][path]["post"]["requestBody"]["content"]
        assert set(body) == {"application/json", "multipart/form-data"}, (path, list(body))
    docs = requests.get(stack.base_url + "/docs", timeout=10)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_metrics_count_requests_and_jobs(api, stack, high_voice_b64):
    answer = api.post("/api/v1/tts?wait=20", json={"text": "指标测试", "voice_consent": True, "prompt_audio": high_voice_b64})
    api.wait_task(answer.json()["task_id"])
    text = requests.get(stack.base_url + "/metrics", timeout=10).text
    assert 'voxmoji_jobs_total{kind="tts",status="succeeded"}' in text
    assert "voxmoji_http_requests_total" in text
    assert 'voxmoji_engine_seconds_count{engine="espeak-world"}' in text


def test_login_is_stable_and_tokens_are_checked(stack):
    login = lambda code: requests.post(stack.base_url + "/api/v1/auth/login", json={"code": code}, timeout=10).json()
    first, again, other = login("same-code"), login("same-code"), login("another-code")
    assert first["user"]["id"] == again["user"]["id"] != other["user"]["id"]
    assert first["token_type"] == "Bearer" and first["expires_in"] > 0
    me = requests.get(stack.base_url + "/api/v1/me", timeout=10,
                      headers={"Authorization": f"Bearer {first['access_token']}"}).json()
    assert me["user"]["id"] == first["user"]["id"]

    claims = jwt.decode(first["access_token"], options={"verify_signature": False})
    assert claims["iss"] == "voxmoji" and claims["aud"] == "voxmoji-api" and claims["exp"] > time.time()
    forged = [
        jwt.encode({**claims, "exp": int(time.time()) - 5}, TEST_SECRET, algorithm="HS256"),  # expired
        jwt.encode({**claims, "aud": "someone-else"}, TEST_SECRET, algorithm="HS256"),
        jwt.encode(claims, "wrong-secret-also-at-least-32-bytes-long", algorithm="HS256"),
        jwt.encode(claims, None, algorithm="none"),
    ]
    for token in forged:
        response = requests.get(stack.base_url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 401


def test_empty_login_code(stack):
    response = requests.post(stack.base_url + "/api/v1/auth/login", json={"code": " "}, timeout=10)
    assert response.status_code == 400 and response.json()["error"]["field"] == "code"


def test_dev_login_refused_with_production_config():
    with pytest.raises(RuntimeError, match="VOXMOJI_DEV_LOGIN"):
        create_app({"DEV_LOGIN": True, "WECHAT_APPID": "wx123"})
    with pytest.raises(RuntimeError, match="VOXMOJI_DEV_LOGIN"):
        create_app({"DEV_LOGIN": True, "ENV": "production", "SECRET_KEY": "s", "MEDIA_SECRET": "m"})


def test_login_without_dev_mode_is_unavailable():
    app = create_app({"DEV_LOGIN": False, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    response = app.test_client().post("/api/v1/auth/login", json={"code": "x"})
    assert response.status_code == 503
    assert response.json["error"]["code"] == "service_unavailable"


def test_metrics_give_an_autoscaler_queue_depth_live_workers_and_job_latency(api, stack):
    import re

    def scrape():
        return requests.get(stack.base_url + "/metrics", timeout=10).text

    def value(text, name, **labels):
        for found in re.finditer(rf"^{name}\{{(.*)\}} ([0-9.e+]+)$", text, re.MULTILINE):
            if dict(re.findall(r'(\w+)="([^"]*)"', found.group(1))) == labels:
                return float(found.group(2))
        return None

    stack.stop("worker")
    try:
        tasks = [api.post("/api/v1/emoji", json={"template_id": "wanted", "text": f"排队{n}"}).json()
                 for n in range(3)]
        waiting = scrape()
        assert value(waiting, "voxmoji_queue_depth", queue="sticker.classic") >= 3
        assert value(waiting, "voxmoji_live_workers", family="sticker", engine="classic") is None  # left at once
    finally:
        stack.start("worker")
        stack.wait_ready()
    for task in tasks:
        assert api.wait_task(task["task_id"])["status"] == "succeeded"
    # a message the sweeper sent again while the worker was away is drained (and skipped) soon after
    served = wait_for(lambda: (text := scrape()) and value(text, "voxmoji_queue_depth", queue="sticker.classic") == 0
                      and text, timeout=60)
    assert value(served, "voxmoji_live_workers", family="sticker", engine="classic") == 1
    assert value(served, "voxmoji_live_workers", family="tts", engine="espeak-world") == 1
    assert value(served, "voxmoji_job_seconds_count", kind="sticker", engine="classic", status="succeeded") >= 3
    # the dashboard and the chart's autoscaler query series that exist, with labels that exist
    from stack_process import REPO

    for doc in ("docs/grafana-dashboard.json", "deploy/helm/voxmoji/templates/workers.yaml"):
        text = (REPO / doc).read_text()
        for name in set(re.findall(r"voxmoji_[a-z_]+", text)):
            assert re.search(rf"^{name}[{{ ]", served, re.MULTILINE), (doc, name)
        for label in set(re.findall(r"(\w+)=\\?\"", text)):
            assert f'{label}="' in served, (doc, label)
