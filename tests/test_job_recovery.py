"""A killed worker loses no job; the sweeper re-enqueues what the database says is unfinished."""
import os
import signal

from media_samples import wav_bytes
from polling import wait_for

LONG_TEXT = ("这是一个很长的句子，用来让工作进程忙上一阵子，这样我们就能在它处理任务的时候把它杀掉。"
             "然后我们检查任务是否仍然完成，并且只产生一个输出文件。") * 2


def test_sigkill_of_worker_process_holding_a_job(api, stack, high_voice):
    answer = api.post("/api/v1/tts", files={"prompt_audio": ("p.wav", wav_bytes(high_voice * 0.9), "audio/wav")},
                      data={"voice_consent": "true", "text": LONG_TEXT[:200]})
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["task_id"]
    row = wait_for(lambda: (r := stack.job(task_id)) is not None and r["status"] == "running" and r,
                   timeout=60, step=0.05)
    pid = int(row["worker"].rsplit(":", 1)[1])
    os.kill(pid, signal.SIGKILL)

    task = api.wait_task(task_id, timeout=120)
    assert task["status"] == "succeeded", task
    final = stack.job(task_id)
    assert final["attempts"] >= 2
    assert int(final["worker"].rsplit(":", 1)[1]) != pid
    outputs = [p for p in (stack.media_root / "tts").rglob("*") if p.is_file() and final["cache_key"] in p.name]
    assert len(outputs) == 1
    assert outputs[0].stat().st_size == task["result"]["bytes"]
    charges = stack.query("SELECT kind, delta, held_delta FROM ledger_entries WHERE job_id = :j ORDER BY id", j=task_id)
    cost = task["cost"]
    assert charges == [{"kind": "hold", "delta": 0, "held_delta": cost},
                       {"kind": "capture", "delta": -cost, "held_delta": -cost}]  # charged exactly once
    me = api.get("/api/v1/me").json()["user"]
    assert me["held"] == 0 and me["balance"] == 37 - cost


def test_sweeper_requeues_a_job_the_broker_lost(api, stack, low_voice_wav, monkeypatch):
    """A job whose message never reached the broker (Redis lost it) is picked up by the beat sweeper."""
    from backend.extensions import db
    from backend.models import User
    from backend.services.intake import tts
    from backend.services.jobs import lifecycle

    voice = api.post("/api/v1/voices", files={"audio": ("a.wav", low_voice_wav, "audio/wav")}, data=api.consent()).json()["voice"]
    monkeypatch.setattr(lifecycle, "enqueue", lambda job: False)  # the message is lost on its way to Redis
    with stack.app_context():
        user = db.session.get(User, api.user["id"])
        task_id = tts.request_speech(user, {"text": "经纪人丢了这个任务。", "voice_id": voice["voice_id"]}).id
    assert stack.job(task_id)["enqueued_at"] is None
    task = api.wait_task(task_id, timeout=90)
    assert task["status"] == "succeeded", task
    assert stack.job(task_id)["attempts"] == 1


def test_cancel_queued_task(api, stack, high_voice):
    # Fill both worker processes so the next job waits in the queue.
    busy = [api.post("/api/v1/tts", files={"prompt_audio": ("p.wav", wav_bytes(high_voice * s), "audio/wav")},
                     data={"voice_consent": "true", "text": LONG_TEXT[:180]}).json()["task_id"] for s in (0.7, 0.75, 0.8)]
    queued = api.post("/api/v1/tts", files={"prompt_audio": ("p.wav", wav_bytes(high_voice * 0.85), "audio/wav")},
                      data={"voice_consent": "true", "text": "请取消我。"}).json()["task_id"]
    canceled = api.delete(f"/api/v1/tasks/{queued}").json()
    assert canceled["status"] == "canceled"
    assert canceled["error"]["code"] == "canceled"
    later = api.post("/api/v1/tts", files={"prompt_audio": ("p.wav", wav_bytes(high_voice * 0.9), "audio/wav")},
                     data={"voice_consent": "true", "text": "排在取消之后。"}).json()["task_id"]
    for task_id in busy + [later]:
        assert api.wait_task(task_id, timeout=120)["status"] == "succeeded"  # the workers are past its message
    assert api.get(f"/api/v1/tasks/{queued}").json()["status"] == "canceled"
    assert stack.job(queued)["started_at"] is None
    # a finished task cannot be canceled
    assert api.delete(f"/api/v1/tasks/{busy[0]}").json()["status"] == "succeeded"


def test_sigkill_of_the_whole_worker_then_restart(api, stack, low_voice):
    """Main process and pool die together; after a restart the job finishes once."""
    answer = api.post("/api/v1/tts", files={"prompt_audio": ("p.wav", wav_bytes(low_voice * 0.9), "audio/wav")},
                      data={"voice_consent": "true", "text": LONG_TEXT[:190]})
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["task_id"]
    wait_for(lambda: (r := stack.job(task_id)) is not None and r["status"] == "running", timeout=60, step=0.05)
    stack.stop("worker", signal.SIGKILL)
    assert stack.job(task_id)["status"] == "running"
    stack.start("worker")
    try:
        task = api.wait_task(task_id, timeout=120)
        assert task["status"] == "succeeded", task
        final = stack.job(task_id)
        outputs = [p for p in (stack.media_root / "tts").rglob("*") if p.is_file() and final["cache_key"] in p.name]
        assert len(outputs) == 1
    finally:
        stack.wait_ready()
