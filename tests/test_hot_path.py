"""What the hot path keeps outside the database (each web process's copies of an account and its voices, the
user's own results in Redis, verified tokens) never outlives a change: a block, a deleted voice, a withdrawn
result take effect on the very next request, in every web process."""
import base64
import subprocess
import time

from api_client import Api, task_of
from media_samples import wav_bytes
from stack_process import REPO

# Enough requests that both web processes of the stack serve (and keep copies for) the user.
WARM = 12


def cli(stack, *args):
    done = subprocess.run([str(REPO / ".venv" / "bin" / "flask"), "--app", "backend", *args], cwd=REPO,
                          env=stack.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_block_from_another_process_refuses_the_next_request_everywhere(stack):
    api = Api(stack.base_url, f"hot-block-{time.monotonic_ns()}")
    assert [api.get("/api/v1/me").status_code for _ in range(WARM)] == [200] * WARM  # copies in every process
    cli(stack, "block-user", api.user["id"], "--reason", "hot path test")  # a CLI process: only the stamp tells
    refused = [api.get("/api/v1/me") for _ in range(WARM)]
    assert [answer.status_code for answer in refused] == [403] * WARM
    assert refused[0].json()["error"]["code"] == "forbidden"
    cli(stack, "block-user", api.user["id"], "--reason", "hot path test", "--unblock")
    assert [api.get("/api/v1/me").status_code for _ in range(WARM)] == [200] * WARM


def test_a_deleted_voice_is_gone_on_the_next_request_everywhere(stack, low_voice):
    api = Api(stack.base_url, f"hot-voice-{time.monotonic_ns()}")
    created = api.post("/api/v1/voices", files={"audio": ("v.wav", wav_bytes(low_voice * 0.61), "audio/wav")},
                       data=api.consent())
    voice_id = created.json()["voice"]["voice_id"]
    body = {"text": "热路径的声音。", "voice_id": voice_id}
    assert api.wait_task(task_of(api.post("/api/v1/tts", json=body))["task_id"])["status"] == "succeeded"
    repeats = [api.post("/api/v1/tts", json=body) for _ in range(WARM)]  # the user's own result, from Redis
    assert all(task_of(answer)["cached"] and answer.status_code == 200 for answer in repeats)
    assert api.delete(f"/api/v1/voices/{voice_id}").status_code == 204
    after = [api.post("/api/v1/tts", json=body) for _ in range(WARM)]
    assert [answer.status_code for answer in after] == [404] * WARM
    assert after[0].json()["error"]["field"] == "voice_id"


def test_a_deleted_result_is_not_answered_from_a_copy(stack, high_voice):
    """The user's own result is remembered (in Redis, and by each web process that served a repeat); when its
    task is deleted elsewhere (here as the retention sweep does it, in another process) the next repeat, in
    whichever web process, is a new task."""
    from backend.extensions import db
    from backend.models import Job, User
    from backend.services.jobs import lifecycle

    api = Api(stack.base_url, f"hot-own-{time.monotonic_ns()}")
    body = {"text": "撤回之后重新做。", "voice_consent": True, "prompt_audio": base64.b64encode(wav_bytes(high_voice * 0.58)).decode()}
    first = api.wait_task(task_of(api.post("/api/v1/tts", json=body))["task_id"])
    assert first["status"] == "succeeded"
    repeats = [task_of(api.post("/api/v1/tts", json=body)) for _ in range(WARM)]  # copies in every process
    assert all(again["task_id"] == first["task_id"] and again["cached"] and again["cost"] == 0 for again in repeats)
    with stack.app_context():
        user = db.session.get(User, api.user["id"])
        assert lifecycle.delete_results(user, Job.id == first["task_id"]) == 1
    fresh = [task_of(api.post("/api/v1/tts", json=body)) for _ in range(WARM)]
    assert all(task["task_id"] != first["task_id"] and not task["cached"] for task in fresh), fresh
    assert len({task["task_id"] for task in fresh}) == 1  # one new task, the repeats join it
    # finished before the next test looks at the stack's files (its result lands in the shared media store)
    assert api.wait_task(fresh[0]["task_id"])["status"] == "succeeded"


def test_a_stamp_lost_with_redis_never_vouches_for_an_old_copy(stack):
    """Redis restarted (the stamp is gone) while the account was blocked with no bump reaching Redis: the next
    request finds no stamp, sets a fresh one, and reads the account again (no copy is trusted under a stamp that
    came back to an old value)."""
    import redis

    api = Api(stack.base_url, f"hot-lost-{time.monotonic_ns()}")
    assert [api.get("/api/v1/me").status_code for _ in range(WARM)] == [200] * WARM
    stack.execute("UPDATE users SET blocked = :yes WHERE id = :id", yes=True, id=api.user["id"])  # no bump
    client = redis.Redis.from_url(stack.redis_url)
    try:
        client.delete("vm:account:" + api.user["id"])  # what a Redis restart does to it
    finally:
        client.close()
    assert [api.get("/api/v1/me").status_code for _ in range(WARM)] == [403] * WARM


def test_a_repeat_by_voice_id_reads_nothing_from_the_database(stack, low_voice):
    """A user's repeat of a finished request by voice_id is answered from the process's copies (the account, the
    voice, the result) and one Redis round trip: no SQL runs. The account it is answered for is a copy whose
    balances cannot be read (they are only ever read from the database), and the balance /me shows is the
    database's."""
    import sqlalchemy as sa
    from sqlalchemy.orm.exc import DetachedInstanceError

    from backend import account_copies
    from backend.extensions import db

    api = Api(stack.base_url, f"hot-nosql-{time.monotonic_ns()}")
    created = api.post("/api/v1/voices", files={"audio": ("v.wav", wav_bytes(low_voice * 0.63), "audio/wav")},
                       data=api.consent())
    body = {"text": "不读数据库的重复请求。", "voice_id": created.json()["voice"]["voice_id"]}
    assert api.wait_task(task_of(api.post("/api/v1/tts", json=body))["task_id"])["status"] == "succeeded"
    headers = {"Authorization": f"Bearer {api.tokens['access_token']}"}
    with stack.app_context() as app:
        client = app.test_client()
        statements = []
        sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        assert client.post("/api/v1/tts", json=body, headers=headers).status_code == 200  # this process's copies
        statements.clear()
        again = client.post("/api/v1/tts", json=body, headers=headers)
        assert again.status_code == 200 and again.json["cached"] and again.json["cost"] == 0
        assert statements == []
        with app.test_request_context():
            account = account_copies.user(api.user["id"])
            assert account.id == api.user["id"] and account not in db.session
            try:
                account.balance
            except DetachedInstanceError:
                pass
            else:
                raise AssertionError("a copy of the account showed a balance")
        shown = client.get("/api/v1/me", headers=headers).json["user"]
        row = stack.query("SELECT balance, held FROM users WHERE id = :u", u=api.user["id"])[0]
        assert (shown["balance"], shown["held"]) == (row["balance"], row["held"])


def test_a_result_file_lost_outside_the_service_is_made_again(stack, high_voice):
    """A result file removed behind the service's back (no stamp bumped, the task still there) is never
    answered from a web process's copy or from Redis: the next repeat is a new task that writes it again."""
    from backend.services.media import files

    api = Api(stack.base_url, f"hot-lostfile-{time.monotonic_ns()}")
    body = {"text": "文件丢了就重新做。", "voice_consent": True, "prompt_audio": base64.b64encode(wav_bytes(high_voice * 0.57)).decode()}
    first = api.wait_task(task_of(api.post("/api/v1/tts", json=body))["task_id"])
    assert first["status"] == "succeeded"
    repeats = [task_of(api.post("/api/v1/tts", json=body)) for _ in range(WARM)]  # copies in every process
    assert all(again["task_id"] == first["task_id"] and again["cached"] for again in repeats)
    result_path = stack.job(first["task_id"])["result_path"]
    with stack.app_context():
        stored = files.store().path(result_path)
    stored.unlink()
    fresh = [task_of(api.post("/api/v1/tts", json=body)) for _ in range(WARM)]
    assert all(task["task_id"] != first["task_id"] and not task["cached"] for task in fresh), fresh
    assert api.wait_task(fresh[0]["task_id"])["status"] == "succeeded"
    assert stored.exists()
