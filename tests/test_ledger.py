"""Money through the whole stack, on SQLite and on PostgreSQL: holds, captures, 402s, recharges, idempotency."""
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from api_client import Api
from stack_process import REPO

GRANT = 37  # VOXMOJI_SIGNUP_GRANT of the test stacks


def ledger_sum(stack, user_id):
    row = stack.query("SELECT COALESCE(SUM(delta), 0) AS balance, COALESCE(SUM(held_delta), 0) AS held "
                      "FROM ledger_entries WHERE user_id = :u", u=user_id)[0]
    return int(row["balance"]), int(row["held"])


def user_row(stack, user_id):
    return stack.query("SELECT balance, held FROM users WHERE id = :u", u=user_id)[0]


def create_api_key(stack, name):
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "backend", "create-api-key", "--name", name],
                          cwd=REPO, env=stack.env, capture_output=True, text=True, check=True, timeout=60)
    key = done.stdout.strip().splitlines()[-1]
    assert key.startswith("vmk_")
    stored = stack.query("SELECT key_hash, prefix FROM api_keys WHERE name = :n", n=name)[0]
    assert key not in json.dumps(stored)  # only the hash is kept
    return key


def test_exactly_n_of_200_concurrent_submissions(any_stack, low_voice_wav):
    api = Api(any_stack.base_url, f"concurrent-{time.monotonic_ns()}")
    assert api.user["balance"] == GRANT
    voice = api.post("/api/v1/voices", files={"audio": ("a.wav", low_voice_wav, "audio/wav")}, data=api.consent()).json()["voice"]

    def submit(number):
        return api.post("/api/v1/tts", json={"text": f"第{number}句话。", "voice_id": voice["voice_id"]})

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(submit, range(200)))
    accepted = [a.json() for a in answers if a.status_code == 202]  # each a new request: queued
    refused = [a for a in answers if a.status_code == 402]
    assert len(accepted) == GRANT and len(refused) == 200 - GRANT, [a.status_code for a in answers]
    assert all(r.json()["error"]["code"] == "insufficient_tokens" for r in refused)
    assert "available balance is" in refused[0].json()["error"]["message"]
    assert all(task["cost"] == 1 for task in accepted)

    finished = [api.wait_task(task["task_id"], timeout=180) for task in accepted]
    assert all(task["status"] == "succeeded" for task in finished)
    me = api.get("/api/v1/me").json()["user"]
    row = user_row(any_stack, me["id"])
    assert me["held"] == row["held"] == 0
    assert me["balance"] == row["balance"] == 0
    assert ledger_sum(any_stack, me["id"]) == (0, 0)
    kinds = any_stack.query("SELECT kind, COUNT(*) AS n FROM ledger_entries WHERE user_id = :u GROUP BY kind",
                            u=me["id"])
    assert {k["kind"]: k["n"] for k in kinds} == {"grant": 1, "hold": GRANT, "capture": GRANT}


def test_failed_job_releases_its_hold(any_stack):
    import base64

    from media_samples import encode_image, landscape_photo

    api = Api(any_stack.base_url, f"release-{time.monotonic_ns()}")
    photo = base64.b64encode(encode_image(landscape_photo())).decode()
    answer = api.post("/api/v1/emoji", json={"face_consent": True, "image": photo, "style": "cutout", "animated": True})
    assert answer.status_code == 202, answer.text
    assert api.get("/api/v1/me").json()["user"]["held"] in (0, 2)
    task = api.wait_task(answer.json()["task_id"])
    assert task["status"] == "failed" and task["error"]["code"] == "no_face_detected"
    me = api.get("/api/v1/me").json()["user"]
    assert (me["balance"], me["held"]) == (GRANT, 0)
    entries = api.get("/api/v1/me/ledger").json()["entries"]
    assert [(e["kind"], e["delta"], e["held_delta"]) for e in entries] == [
        ("release", 0, -2), ("hold", 0, 2), ("grant", GRANT, 0)]


def test_ledger_endpoint_pages_newest_first(any_stack):
    api = Api(any_stack.base_url, f"ledger-{time.monotonic_ns()}")
    key = create_api_key(any_stack, f"pager-{time.monotonic_ns()}")
    for number in range(5):
        response = requests.post(any_stack.base_url + "/api/v1/admin/recharges", timeout=30,
                                 headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"p-{number}-{key[-6:]}"},
                                 json={"users": [api.user["id"]], "amount": number + 1, "reason": "paging test"})
        assert response.status_code == 200, response.text
    first = api.get("/api/v1/me/ledger?limit=4").json()
    second = api.get(f"/api/v1/me/ledger?limit=4&before={first['next']}").json()
    entries = first["entries"] + second["entries"]
    assert [e["kind"] for e in entries] == ["recharge"] * 5 + ["grant"] and second["next"] is None
    assert [e["delta"] for e in entries[:5]] == [5, 4, 3, 2, 1]
    assert entries[0]["balance_after"] == GRANT + 15 == api.get("/api/v1/me").json()["user"]["balance"]
    assert sum(e["delta"] for e in entries) == GRANT + 15


def test_batch_recharge_idempotency_and_audit(any_stack):
    from backend.auth import user_for_openid

    key = create_api_key(any_stack, f"ops-{time.monotonic_ns()}")
    tag = str(time.monotonic_ns())
    with any_stack.app_context():
        ids = [user_for_openid(f"batch-{tag}-{n}").id for n in range(497)]
    any_stack.execute("UPDATE users SET blocked = :yes WHERE id = :u", yes=True, u=ids[10])
    items = [{"user": f"batch-{tag}-{n}", "amount": 10} for n in range(497)]
    items[10]["amount"] = 10  # the blocked one
    items += [{"user": "nobody-at-all", "amount": 10}, {"user": ids[0], "amount": 0}]
    body = {"items": items, "reason": "spring festival gift"}
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"spring-{tag}"}
    url = any_stack.base_url + "/api/v1/admin/recharges"

    first = requests.post(url, json=body, headers=headers, timeout=120)
    assert first.status_code == 200, first.text
    result = first.json()
    assert len(result["succeeded"]) == 496 and len(result["failed_users"]) == 3  # 497 users, one blocked, +2 bad
    reasons = {line["user"]: line["reason"] for line in result["failed_users"]}
    assert reasons["nobody-at-all"] == "unknown user" and reasons[f"batch-{tag}-10"] == "blocked user"
    assert reasons[ids[0]].startswith("amount out of range")
    assert all(line["balance"] == GRANT + 10 for line in result["succeeded"])

    replay = requests.post(url, json=body, headers=headers, timeout=60)
    assert replay.status_code == 200 and replay.content == first.content  # byte for byte
    changed = requests.post(url, json={**body, "reason": "something else"}, headers=headers, timeout=60)
    assert changed.status_code == 422 and changed.json()["error"]["code"] == "idempotency_conflict"
    assert user_row(any_stack, ids[1])["balance"] == GRANT + 10  # applied once
    assert ledger_sum(any_stack, ids[1]) == (GRANT + 10, 0)

    audit = any_stack.query("SELECT actor, reason, details, idempotency_key FROM audit_log WHERE batch_id = :b",
                            b=result["batch_id"])
    assert len(audit) == 1 and audit[0]["reason"] == "spring festival gift" and audit[0]["actor"].startswith("api-key:")
    details = audit[0]["details"] if isinstance(audit[0]["details"], dict) else json.loads(audit[0]["details"])
    applied = [line for line in details["lines"] if line["status"] == "applied"]
    assert len(applied) == 496 and applied[0]["balance_before"] == GRANT and applied[0]["balance_after"] == GRANT + 10


def test_concurrent_duplicates_apply_once(any_stack):
    key = create_api_key(any_stack, f"dup-{time.monotonic_ns()}")
    api = Api(any_stack.base_url, f"dup-{time.monotonic_ns()}")
    body = {"users": [api.user["id"]], "amount": 7, "reason": "double click"}
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"dup-{time.monotonic_ns()}"}
    url = any_stack.base_url + "/api/v1/admin/recharges"
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: requests.post(url, json=body, headers=headers, timeout=60), range(6)))
    assert {a.status_code for a in answers} <= {200, 409}
    bodies = {a.content for a in answers if a.status_code == 200}
    assert len(bodies) == 1
    for conflict in (a for a in answers if a.status_code == 409):
        assert conflict.json()["error"]["code"] == "idempotency_in_progress" and conflict.headers["Retry-After"]
    assert requests.post(url, json=body, headers=headers, timeout=60).content in bodies
    assert api.get("/api/v1/me").json()["user"]["balance"] == GRANT + 7


def test_recharge_needs_key_and_idempotency_key(any_stack):
    url = any_stack.base_url + "/api/v1/admin/recharges"
    body = {"users": ["x"], "amount": 1, "reason": "r"}
    assert requests.post(url, json=body, timeout=30).status_code == 401
    assert requests.post(url, json=body, headers={"Authorization": "Bearer vmk_forged"}, timeout=30).status_code == 401
    user_token = Api(any_stack.base_url, "not-an-admin").session.headers["Authorization"]
    assert requests.post(url, json=body, headers={"Authorization": user_token}, timeout=30).status_code == 401
    key = create_api_key(any_stack, f"keyless-{time.monotonic_ns()}")
    missing = requests.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "Idempotency-Key"
    bad = requests.post(url, json={"users": "x"}, headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "k"},
                        timeout=30)
    assert bad.status_code == 400


def test_cli_recharge_uses_the_same_service(any_stack, tmp_path):
    api = Api(any_stack.base_url, f"cli-{time.monotonic_ns()}")
    csv = tmp_path / "users.csv"
    csv.write_text(f"{api.user['id']}\nghost-user\n{api.user['id']},3\n")
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "backend", "recharge", "--file", str(csv),
                           "--amount", "10", "--reason", "cli test"], cwd=REPO, env=any_stack.env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "1 applied, 2 failed" in done.stdout
    assert "ghost-user: unknown user" in done.stderr
    assert api.get("/api/v1/me").json()["user"]["balance"] == GRANT + 10
