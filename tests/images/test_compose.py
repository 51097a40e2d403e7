"""compose.yaml's stack from the images (Redis, PostgreSQL and SeaweedFS built here too), used through its
containerised Nginx as a client would: a log-in, a speech job and a sticker job whose signed URLs serve the
files from S3, an erasure, and a worker container stopped (SIGTERM) in the middle of a paid job."""
import time

import boto3
import requests
from api_client import Api
from botocore.config import Config
from conftest import FIGURES, podman
from media_samples import reference_voice, wav_bytes
from polling import wait_for

LONG_TEXT = ("这是一个很长的句子，用来让工作进程忙上一阵子，这样我们就能在它处理任务的时候让容器停下来。"
             "然后我们检查任务是否仍然完成，并且只收一次费。") * 2


def s3_keys(stack, prefix="public/"):
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{stack.ports['s3']}", region_name="us-east-1",
                          aws_access_key_id=stack.env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=stack.env["AWS_SECRET_ACCESS_KEY"],
                          config=Config(s3={"addressing_style": "path"}))
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="voxmoji-media", Prefix=prefix)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def served_from_s3(stack, task):
    """The result's signed URL answers through Nginx with the object the worker put in the bucket."""
    url = task["result"]["url"]
    assert url.startswith(stack.base_url + "/media/") and "md5=" in url, url
    answer = requests.get(url, timeout=20)
    assert answer.status_code == 200 and len(answer.content) == task["result"]["bytes"], (answer.status_code, url)
    path = stack.psql(f"SELECT result_path FROM jobs WHERE id = '{task['task_id']}'")[0][0]
    assert f"public/{path}" in s3_keys(stack)
    unsigned = requests.get(url.split("?", 1)[0], timeout=10)
    assert unsigned.status_code == 403
    return path


def test_the_stack_runs_on_postgresql_and_s3(compose_stack):
    assert compose_stack.psql("SELECT count(*) FROM alembic_version")[0][0] == "1"
    assert requests.get(compose_stack.base_url + "/", timeout=10).status_code == 200  # the H5 page
    assert requests.get(compose_stack.base_url + "/openapi.json", timeout=10).json()["info"]["title"] == "VoxMoji API"


def test_login_speech_sticker_and_erasure_through_nginx(compose_stack):
    stack = compose_stack
    api = Api(stack.base_url, f"compose-{time.monotonic_ns()}")
    speech = api.post("/api/v1/tts", data={"voice_consent": "true", "text": "今天天气真好"},
                      files={"prompt_audio": ("p.wav", wav_bytes(reference_voice(180.0)), "audio/wav")})
    assert speech.status_code == 202, speech.text  # a new job, queued
    speech = api.wait_task(speech.json()["task_id"], timeout=180)
    assert speech["status"] == "succeeded" and speech["engine"] == "espeak-world", speech
    sticker = api.post("/api/v1/emoji", json={"template_id": "panda", "text": "开心大笑"})
    assert sticker.status_code == 202, sticker.text
    sticker = api.wait_task(sticker.json()["task_id"], timeout=180)
    assert sticker["status"] == "succeeded" and sticker["engine"] == "classic", sticker
    paths = {served_from_s3(stack, speech), served_from_s3(stack, sticker)}

    answer = api.delete("/api/v1/me")
    assert answer.status_code == 202 and answer.json()["status"] == "erasing", answer.text
    assert api.get("/api/v1/me").status_code == 403
    wait_for(lambda: not {f"public/{path}" for path in paths} & s3_keys(stack), timeout=120, step=1)
    for task in (speech, sticker):
        assert requests.get(task["result"]["url"], timeout=10).status_code == 404
    user = api.user["id"]
    wait_for(lambda: stack.psql(f"SELECT openid FROM users WHERE id = '{user}'")[0][0] == f"erased:{user}", timeout=60)


def test_sigterm_to_the_worker_mid_job_finishes_it_and_bills_once(compose_stack):
    """Celery's warm shutdown: the worker stops taking jobs, finishes the one in hand, then exits; compose
    restarts the container. Either way the job succeeds once and is charged once."""
    stack = compose_stack
    api = Api(stack.base_url, f"sigterm-{time.monotonic_ns()}")
    before = api.get("/api/v1/me").json()["user"]
    answer = api.post("/api/v1/tts", data={"voice_consent": "true", "text": LONG_TEXT[:200]},
                      files={"prompt_audio": ("p.wav", wav_bytes(reference_voice(200.0) * 0.8), "audio/wav")})
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["task_id"]
    wait_for(lambda: stack.psql(f"SELECT status FROM jobs WHERE id = '{task_id}'")[0][0] == "running",
             timeout=120, step=0.1)
    worker = stack.container("worker")
    started = podman("inspect", "--format", "{{.State.StartedAt}}", worker).stdout.strip()
    podman("kill", "--signal", "TERM", worker)
    task = api.wait_task(task_id, timeout=300)
    status, attempts = stack.psql(f"SELECT status, attempts FROM jobs WHERE id = '{task_id}'")[0]
    log = stack.logs("worker")
    warm = "Warm shutdown" in log
    FIGURES.append(f"SIGTERM mid-job: {status} after {attempts} attempt(s); Celery's warm shutdown in the log: {warm}")
    assert task["status"] == "succeeded", task
    assert int(attempts) in (1, 2)
    charges = stack.psql(f"SELECT kind, delta, held_delta FROM ledger_entries WHERE job_id = '{task_id}' ORDER BY id")
    cost = task["cost"]
    assert charges == [["hold", "0", str(cost)], ["capture", str(-cost), str(-cost)]], charges  # billed once
    after = api.get("/api/v1/me").json()["user"]
    assert after["held"] == 0 and after["balance"] == before["balance"] - cost
    # the worker container comes back (restart: unless-stopped) and the stack is ready again
    wait_for(lambda: podman("inspect", "--format", "{{.State.StartedAt}}", worker).stdout.strip() != started,
             timeout=120, step=1)
    wait_for(stack.ready, timeout=240, step=1)
