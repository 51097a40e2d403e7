"""The production topology on one machine: three "hosts" that share nothing but Redis, PostgreSQL and an S3
server (separate state directories, no shared media root):

- a web host: Nginx + gunicorn + beat, no engines;
- a "GPU" host: one worker pinned to cosyvoice3 (the stand-in package) and sd-lora (a tiny random diffusers
  model on the CPU);
- a CPU host: one worker with the embedded engines (`auto`).
"""
import base64
import signal
import time

import pytest
import requests
from api_client import Api, task_of
from media_samples import astronaut_photo, encode_image, hopper_photo, wav_bytes
from polling import outlast_refresh, wait_for
from postgres import postgres_url
from stack_process import Stack
from tiny_models import STANDINS, build_sd_models, write_cosyvoice_model_dir

from backend import create_app
from backend.engine_choice import fleet
from backend.extensions import db

ENGINE_WAIT = 12


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, s3_server):
    root = tmp_path_factory.mktemp("topology")
    url, cluster = postgres_url()
    models = build_sd_models(root / "sd")
    redis_host = Stack(root / "redis-host", services=("redis",))
    shared = {"REDIS_URL": redis_host.redis_url, "DATABASE_URL": url, **s3_server.env("topology-media"),
              "VOXMOJI_ENGINE_WAIT_SECONDS": str(ENGINE_WAIT)}
    web = Stack(root / "web-host", services=("web", "beat", "nginx"), **shared)
    gpu = Stack(root / "gpu-host", services=("worker",), VOXMOJI_WORKER_ENGINES="tts:cosyvoice3,sticker:sd-lora",
                VOXMOJI_WORKER_CONCURRENCY="1", SD_MODEL_DIR=str(models / "base"), SD_LORA_DIR=str(models / "loras"),
                SD_DEVICE="cpu", SD_STEPS="2", SD_SIZE="64", COSYVOICE_ROOT=str(STANDINS), COSYVOICE_DEVICE="cpu",
                COSYVOICE_MODEL_DIR=str(write_cosyvoice_model_dir(root / "cosyvoice3")),
                COSYVOICE_STANDIN_DELAY="1.5", **shared)
    cpu = Stack(root / "cpu-host", services=("worker",), **shared)
    started = []
    try:
        for host in (redis_host, gpu, cpu):
            if host is gpu:
                web.run_python("-m", "flask", "--app", "backend", "media", "prepare-bucket")
            host.start_all()
            started.append(host)
        web.start_all()  # ready once a worker advertises itself
        started.append(web)
        wait_for_workers(web, 2)
        yield {"web": web, "gpu": gpu, "cpu": cpu}
    finally:
        for host in reversed(started):
            host.stop_all()
        if cluster is not None:
            cluster.stop()


def readiness(web):
    return requests.get(web.base_url + "/readyz", timeout=10).json()  # from this machine: the operator's view


def wait_for_workers(web, count, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(readiness(web).get("workers", [])) == count:
            return
        time.sleep(0.5)
    raise AssertionError(f"expected {count} live workers: {readiness(web)}")


def photo(pixels):
    return base64.b64encode(encode_image(pixels)).decode()


def test_gpu_engines_serve_a_cpu_web_tier_and_media_comes_through_its_nginx(hosts, high_voice):
    web, gpu = hosts["web"], hosts["gpu"]
    api = Api(web.base_url, f"topology-{time.monotonic_ns()}")
    sd = api.post("/api/v1/emoji?wait=20", json={"face_consent": True, "image": photo(hopper_photo()), "style": "sd", "text": "开心"})
    swap = api.post("/api/v1/swap?wait=20", json={"face_consent": True, "source_image": photo(hopper_photo()),
                                                   "target_image": photo(astronaut_photo())})
    speech = api.post("/api/v1/tts?wait=20", json={
        "text": "显卡上的声音。", "voice_consent": True, "prompt_audio": base64.b64encode(wav_bytes(high_voice * 0.8)).decode()})
    for answer, engine in ((sd, "sd-lora"), (swap, "sd-lora"), (speech, "cosyvoice3")):
        task_of(answer)
        task = api.wait_task(answer.json()["task_id"], timeout=120)
        assert task["status"] == "succeeded" and task["engine"] == engine, task
        assert web.job(task["task_id"])["engine"] == engine
        assert task["result"]["url"].startswith(web.base_url + "/media/")
        served = requests.get(task["result"]["url"], timeout=10)
        assert served.status_code == 200 and len(served.content) == task["result"]["bytes"]
    for host in hosts.values():  # no host keeps media on its disk
        media_root = host.root / "media"
        assert not media_root.exists() or not [p for p in media_root.rglob("*") if p.is_file()]
    assert "sd-lora" in (gpu.root / "worker.log").read_text()


def test_readyz_lists_both_worker_hosts_their_engines_and_the_reasons(hosts):
    ready = readiness(hosts["web"])
    workers = {worker["hostname"].split("@")[0]: worker for worker in ready["workers"]}
    gpu = workers[f"voxmoji-{hosts['gpu'].port}"]
    cpu = workers[f"voxmoji-{hosts['cpu'].port}"]
    assert {family: e["name"] for family, e in gpu["engines"].items()} == {"tts": "cosyvoice3", "sticker": "sd-lora"}
    assert gpu["engines"]["sticker"]["device"] == "cpu" and gpu["engines"]["sticker"]["tier"] == "gpu"
    assert set(gpu["queues"]) == {"default", "tts.cosyvoice3", "sticker.sd-lora"}
    assert {family: e["name"] for family, e in cpu["engines"].items()} == {"tts": "espeak-world", "sticker": "classic"}
    assert "lacks" in cpu["unavailable"]["tts"]["cosyvoice3"]  # why the CPU host does not run the GPU engines
    assert "SD_MODEL_DIR" in cpu["unavailable"]["sticker"]["sd-lora"]
    assert ready["routing"]["tts"] == {"policy": "best", "live": ["cosyvoice3", "espeak-world"], "chosen": "cosyvoice3"}
    assert ready["routing"]["sticker"]["chosen"] == "sd-lora"


def test_a_gpu_worker_killed_mid_job_finishes_it_once_after_it_restarts(hosts, low_voice):
    web, gpu = hosts["web"], hosts["gpu"]
    api = Api(web.base_url, f"topology-kill-{time.monotonic_ns()}")
    text = "第一句话。第二句话。第三句话。第四句话。"  # four chunks of 1.5 s in the stand-in
    answer = api.post("/api/v1/tts", json={"text": text, "voice_consent": True, "prompt_audio": base64.b64encode(
        wav_bytes(low_voice * 0.77)).decode()})
    task_id = answer.json()["task_id"]
    wait_for(lambda: web.job(task_id)["status"] == "running", timeout=60)
    gpu.stop("worker", signal.SIGKILL)
    gpu.start("worker")
    task = api.wait_task(task_id, timeout=150)
    assert task["status"] == "succeeded" and task["engine"] == "cosyvoice3", task
    row = web.job(task_id)
    assert row["attempts"] == 2 and row["charge"] == "captured"
    charges = web.query("SELECT kind FROM ledger_entries WHERE job_id = :j ORDER BY id", j=task_id)
    assert [c["kind"] for c in charges] == ["hold", "capture"]
    wait_for_workers(web, 2)


def test_without_the_gpu_host_best_falls_back_to_the_embedded_engines_and_gpu_is_503(hosts, high_voice):
    web, gpu = hosts["web"], hosts["gpu"]
    gpu.stop("worker")  # a clean stop: it leaves the fleet at once
    try:
        wait_for_workers(web, 1)
        outlast_refresh()
        api = Api(web.base_url, f"topology-fallback-{time.monotonic_ns()}")
        sticker = api.post("/api/v1/emoji?wait=20", json={"face_consent": True, "image": photo(hopper_photo()), "text": "降级"})
        assert api.wait_task(sticker.json()["task_id"])["engine"] == "classic"
        speech = api.post("/api/v1/tts?wait=20", json={
            "text": "没有显卡也能说话。", "voice_consent": True, "prompt_audio": base64.b64encode(wav_bytes(high_voice * 0.7)).decode()})
        assert api.wait_task(speech.json()["task_id"])["engine"] == "espeak-world"
        sd = api.post("/api/v1/emoji", json={"face_consent": True, "image": photo(hopper_photo()), "style": "sd"})
        assert sd.status_code == 503 and sd.headers["Retry-After"]
        assert sd.json()["error"]["code"] == "engine_unavailable" and sd.json()["error"]["field"] == "style"
        assert "cutout" in sd.json()["error"]["message"]  # says what works now
        assert readiness(web)["routing"]["sticker"]["chosen"] == "classic"

        strict = create_app(web.app_config(ENGINE_POLICY_TTS="gpu", ENGINE_POLICY_STICKER="gpu"))
        fleet.forget_snapshot()
        with strict.test_client() as client:
            token = client.post("/api/v1/auth/login", json={"code": "topology-gpu-policy"}).json["access_token"]
            answer = client.post("/api/v1/tts", json={"text": "要显卡。", "voice_consent": True, "prompt_audio": base64.b64encode(
                wav_bytes(high_voice * 0.6)).decode()}, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 503 and answer.json["error"]["code"] == "engine_unavailable"
            assert int(answer.headers["Retry-After"]) > 0
            ledger = client.get("/api/v1/me/ledger", headers={"Authorization": f"Bearer {token}"}).json["entries"]
            assert all(entry["kind"] != "hold" for entry in ledger)  # nothing was held for the refused request
        with strict.app_context():  # PostgreSQL connections are closed here, not by the garbage collector
            db.session.remove()
            db.engine.dispose()
    finally:
        gpu.start("worker")
        wait_for_workers(web, 2)


def test_a_job_whose_engine_vanishes_fails_after_the_wait_with_its_tokens_back(hosts, low_voice):
    web, gpu = hosts["web"], hosts["gpu"]
    outlast_refresh()
    api = Api(web.base_url, f"topology-vanish-{time.monotonic_ns()}")
    answer = api.post("/api/v1/tts", json={"text": "第一句。第二句。第三句。第四句。第五句。", "voice_consent": True, "prompt_audio":
                                           base64.b64encode(wav_bytes(low_voice * 0.66)).decode()})
    task_id = answer.json()["task_id"]
    assert answer.json()["engine"] == "cosyvoice3" and answer.json()["cost"] > 0
    wait_for(lambda: web.job(task_id)["status"] == "running", timeout=60)
    gpu.stop("worker", signal.SIGKILL)  # gone, and not coming back
    try:
        task = api.wait_task(task_id, timeout=fleet.HEARTBEAT_SECONDS * 3 + ENGINE_WAIT + 60)
        assert task["status"] == "failed" and task["error"]["code"] == "engine_unavailable", task
        assert task["refunded"] == answer.json()["cost"]
        assert "tokens were returned" in task["error"]["message"]
    finally:
        gpu.start("worker")
        wait_for_workers(web, 2)
