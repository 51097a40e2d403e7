"""`make run`'s supervisor: a process that dies is restarted, and the rest of the stack keeps serving."""
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from api_client import Api
from media_samples import wav_bytes
from polling import wait_for
from process_stats import child_pids
from stack_process import REPO, Stack


class SupervisedStack(Stack):
    """The stack as `make run` starts it: every service under supervisord."""

    def start_all(self):
        self.run_python("-m", "backend.stack", "prepare")
        env = {**self.env, "VOXMOJI_SUPERVISOR_STDOUT": f"{self.root}/%(program_name)s.log"}
        self.processes["supervisord"] = subprocess.Popen(
            [sys.executable, "-m", "backend.stack", "supervise"], cwd=REPO, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(timeout=180)

    def pid(self, program):
        done = subprocess.run([str(REPO / ".venv" / "bin" / "supervisorctl"), "-c", str(self.root / "supervisord.conf"),
                               "pid", program], capture_output=True, text=True, timeout=30)
        return int(done.stdout.strip())


@pytest.fixture(scope="module")
def supervised(tmp_path_factory):
    with SupervisedStack(tmp_path_factory.mktemp("supervised")) as stack:
        yield stack


def serves_a_job(stack, voice, text):
    api = Api(stack.base_url, f"supervised-{time.monotonic_ns()}")
    task = api.post("/api/v1/tts?wait=20", files={"prompt_audio": ("p.wav", voice, "audio/wav")},
                    data={"voice_consent": "true", "text": text}).json()
    return api.wait_task(task["task_id"], timeout=120)["status"] == "succeeded"


def test_sigkill_of_the_celery_main_process_is_restarted(supervised, high_voice):
    main = supervised.pid("worker")
    web = supervised.pid("web")
    os.kill(main, signal.SIGKILL)
    wait_for(lambda: supervised.pid("worker") not in (0, main), timeout=30)
    assert supervised.pid("web") == web  # nothing else was stopped
    assert requests.get(supervised.base_url + "/healthz", timeout=5).status_code == 200
    wait_for(lambda: requests.get(supervised.base_url + "/readyz", timeout=5).status_code == 200, timeout=120)
    assert serves_a_job(supervised, wav_bytes(high_voice * 0.66), "主进程被杀之后还能用。")


def test_sigkill_of_a_pool_child_is_replaced_once(supervised, low_voice):
    main = supervised.pid("worker")
    children = wait_for(lambda: len(child_pids(main)) >= 2 and child_pids(main), timeout=60)
    os.kill(children[0], signal.SIGKILL)
    assert serves_a_job(supervised, wav_bytes(low_voice * 0.66), "子进程被杀之后还能用。")
    replaced = wait_for(lambda: len(child_pids(main)) == 2 and children[0] not in child_pids(main) and child_pids(main),
                        timeout=120)  # the pool is whole again, with a new child in place of the killed one
    assert supervised.pid("worker") == main
    log = (supervised.root / "worker.log").read_text()
    assert "Timed out waiting for UP message" not in log  # a replacement child loads its engines in time
    assert children[1] in replaced  # the other child was left alone


def test_ctrl_c_stops_everything(tmp_path_factory):
    stack = SupervisedStack(tmp_path_factory.mktemp("supervised-stop"))
    with stack:
        pids = [stack.pid(name) for name in ("redis", "web", "worker", "beat", "nginx")]
        os.killpg(stack.processes["supervisord"].pid, signal.SIGINT)
        stack.processes["supervisord"].wait(timeout=60)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
