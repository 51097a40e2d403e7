"""Media moderation through the running stack: results (and uploads) go to WeChat's mediaCheckAsync on the
local stand-in, which downloads them through the signed check URL and pushes its verdict to
/api/v1/wechat/push, signed as WeChat signs it. Under `post` a risky verdict withdraws a delivered result (410,
job `blocked`, refund in the ledger); under `pre` the URL is withheld until the verdict is `pass`."""
import base64
import time

import requests
from api_client import Api, task_of
from polling import wait_for
from wechat_standin import WeChatStandIn, encrypted_push, media_check_event, release, signed_query


def _user(stack, who):
    return Api(stack.base_url, f"good-{who}-{time.monotonic_ns()}")


def _sticker(api, text="开心"):
    answer = api.post("/api/v1/emoji", json={"template_id": "panda", "text": f"{text}{time.monotonic_ns() % 10**6}"})
    task_of(answer)
    return answer.json()["task_id"]


def _checks_of(stack, job_id):
    return stack.query("SELECT c.path, c.status, c.trace_id, c.media_type FROM media_checks c JOIN "
                       "media_check_subjects s ON s.check_id = c.id WHERE s.subject_id = :j", j=job_id)


def test_push_url_verification_and_forged_pushes(post_stack):
    url = post_stack.base_url + "/api/v1/wechat/push"
    echoed = requests.get(url, params={**signed_query(), "echostr": "4821997"}, timeout=10)
    assert echoed.status_code == 200 and echoed.text == "4821997"
    forged = requests.get(url, params={**signed_query(token="not-the-token"), "echostr": "1"}, timeout=10)
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "forbidden"
    event = media_check_event("no-such-trace", "risky", 20002)
    query, body = encrypted_push(event)
    assert requests.post(url, params=signed_query(token="wrong"), json=body, timeout=10).status_code == 403
    replayed = requests.post(url, params=encrypted_push(event, timestamp=int(time.time()) - 3600)[0], json=body,
                             timeout=10)
    assert replayed.status_code == 403 and replayed.json()["error"]["field"] == "timestamp"
    unknown = requests.post(url, params=query, json=body, timeout=10)
    assert unknown.status_code == 404  # not ours: WeChat retries, nothing changes
    other = encrypted_push({"Event": "user_enter_tempsession"})
    other_event = requests.post(url, params=other[0], json=other[1], timeout=10)
    assert other_event.status_code == 200 and other_event.text == "success"
    not_json = requests.post(url, params=encrypted_push(event)[0], data="<xml></xml>", timeout=10)
    assert not_json.status_code == 400 and "安全模式" in not_json.json()["error"]["message"]
    missing = requests.post(url, json=body, timeout=10)
    assert missing.status_code == 422


def test_a_signed_push_is_good_once_for_this_app_and_only_in_safe_mode(post_stack):
    """F11: a signed push query cannot be replayed (its nonce is remembered), carry another body (safe mode
    signs the encrypted body, and plaintext is refused), or speak for another app."""
    url = post_stack.base_url + "/api/v1/wechat/push"
    api = _user(post_stack, "replayed")
    task_id = _sticker(api)
    wait_for(lambda: api.get(f"/api/v1/tasks/{task_id}").json()["status"] == "succeeded", timeout=60)
    [check] = wait_for(lambda: [c for c in _checks_of(post_stack, task_id) if c["trace_id"]], timeout=30)
    risky = media_check_event(check["trace_id"], "risky", 20002)
    plaintext = requests.post(url, params=signed_query(), json=risky, timeout=10)
    assert plaintext.status_code == 403 and "安全模式" in plaintext.json()["error"]["message"]
    query, body = encrypted_push(media_check_event("another-trace", "pass"))
    _, swapped = encrypted_push(risky)  # a signed query of one push with another push's body
    assert requests.post(url, params=query, json=swapped, timeout=10).status_code == 403
    other_app = encrypted_push(risky, appid="wx_another_app_00")
    assert requests.post(url, params=other_app[0], json=other_app[1], timeout=10).status_code == 403
    inner = encrypted_push({**risky, "appid": "wx_another_app_00"})
    named_other = requests.post(url, params=inner[0], json=inner[1], timeout=10)
    assert named_other.status_code == 403 and named_other.json()["error"]["field"] == "appid"
    assert api.get(f"/api/v1/tasks/{task_id}").json()["status"] == "succeeded"  # none of them reached the task
    done = encrypted_push({"Event": "user_enter_tempsession"})
    assert requests.post(url, params=done[0], json=done[1], timeout=10).text == "success"
    again = requests.post(url, params=done[0], json=done[1], timeout=10)
    assert again.status_code == 403 and again.json()["error"]["field"] == "nonce"
    logs = [post_stack.root / "log" / "nginx-access.log", post_stack.root / "web.log"]
    wait_for(lambda: all("/api/v1/wechat/push" in path.read_text() for path in logs), timeout=30)
    assert not any(done[0]["signature"] in path.read_text() or done[0]["msg_signature"] in path.read_text()
                   for path in logs)  # no signed query in an access log


def test_risky_verdict_withdraws_a_delivered_sticker_and_refunds_it(post_stack):
    api = _user(post_stack, "risky")
    before = api.get("/api/v1/me").json()["user"]["balance"]
    task_id = _sticker(api)
    # post: delivered at once, whatever the check will say
    task = wait_for(lambda: (t := api.get(f"/api/v1/tasks/{task_id}").json()) and t["status"] != "queued"
                    and t["status"] != "running" and t, timeout=60)
    url = task["result"]["url"] if task["status"] == "succeeded" else None
    blocked = wait_for(lambda: (t := api.get(f"/api/v1/tasks/{task_id}").json())["status"] == "blocked" and t,
                       timeout=30)
    assert blocked["error"]["code"] == "content_blocked" and "porn" in blocked["error"]["message"]
    assert blocked["result"] is None and blocked["cost"] == 0 and blocked["refunded"] == 1
    job = post_stack.job(task_id)
    if url is None:  # the verdict came before we looked: sign the URL the user was given
        with post_stack.app_context():
            from backend.services.media import files
            url, _ = files.sign_url(job["result_path"])
    gone = requests.get(url, timeout=10)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "content_blocked"
    assert not (post_stack.media_root / job["result_path"]).exists()
    ledger = post_stack.query("SELECT kind, delta, held_delta FROM ledger_entries WHERE job_id = :j ORDER BY id",
                              j=task_id)
    assert [row["kind"] for row in ledger] == ["hold", "capture", "adjust"]
    assert sum(row["delta"] for row in ledger) == 0  # captured, then given back
    assert api.get("/api/v1/me").json()["user"]["balance"] == before
    # WeChat got the file through the signed check URL, as a PNG image, and the verdict matched by trace_id
    [check] = _checks_of(post_stack, task_id)
    assert check["status"] == "risky" and check["media_type"] == "image"
    seen = WeChatStandIn.media_checks[check["trace_id"]]
    assert seen["status"] == 200 and seen["content_type"] == "image/png" and seen["bytes"] > 1000
    assert seen["pushes"] == [200]


def test_pass_verdict_keeps_the_result_and_webp_is_checked_as_png(post_stack):
    api = _user(post_stack, "clean")
    answer = api.post("/api/v1/emoji?wait=20", json={"template_id": "panda", "text": "好耶", "animated": True,
                                                     "format": "webp"})
    task = api.wait_task(answer.json()["task_id"])
    assert task["status"] == "succeeded"
    [check] = wait_for(lambda: (c := _checks_of(post_stack, task["task_id"])) and c[0]["status"] == "pass" and c,
                       timeout=30)
    seen = WeChatStandIn.media_checks[check["trace_id"]]
    assert seen["content_type"] == "image/png"  # mediaCheckAsync reads no WebP
    assert requests.get(task["result"]["url"], timeout=10).status_code == 200
    assert api.get(f"/api/v1/tasks/{task['task_id']}").json()["status"] == "succeeded"


def test_a_risky_recording_deletes_the_voice(post_stack, high_voice_b64):
    api = _user(post_stack, "risky-voice")
    saved = api.post("/api/v1/voices", files={"audio": ("v.wav", base64.b64decode(high_voice_b64), "audio/wav")},
                     data={**api.consent(), "name": "我的声音"})
    assert saved.status_code == 201, saved.text
    wait_for(lambda: api.get("/api/v1/voices").json()["voices"] == [], timeout=30)
    [check] = post_stack.query("SELECT status, media_type, path FROM media_checks WHERE path LIKE 'private/prompts/%' "
                               "AND openid = :o", o=f"o_{api.code[5:]}")
    assert check["status"] == "risky" and check["media_type"] == "audio"
    assert not (post_stack.media_root / check["path"]).exists()


def test_review_verdict_goes_to_the_review_queue(post_stack):
    api = _user(post_stack, "review")
    task = api.wait_task(_sticker(api))
    assert task["status"] == "succeeded"
    item = wait_for(lambda: post_stack.query("SELECT kind, source, label, job_id FROM review_items WHERE job_id = :j",
                                             j=task["task_id"]), timeout=30)
    assert item == [{"kind": "flag", "source": "wechat-media", "label": "vulgar", "job_id": task["task_id"]}]
    assert api.get(f"/api/v1/tasks/{task['task_id']}").json()["status"] == "succeeded"  # post: still delivered


def test_pre_withholds_the_url_until_the_verdict_passes(pre_stack):
    api = _user(pre_stack, "hold")
    task_id = _sticker(api)
    reviewing = wait_for(lambda: (t := api.get(f"/api/v1/tasks/{task_id}").json())["status"] == "reviewing" and t,
                         timeout=60)
    assert reviewing["result"] is None and "image_url" not in reviewing and reviewing["cost"] == 1
    me = api.get("/api/v1/me").json()["user"]
    assert me["held"] == 1  # not charged yet
    wait_for(lambda: _checks_of(pre_stack, task_id)[0]["status"] == "pending", timeout=30)
    assert release(f"o_{api.code[5:]}", "pass")
    done = api.wait_task(task_id, timeout=30)
    assert done["status"] == "succeeded" and done["cost"] == 1
    assert requests.get(done["result"]["url"], timeout=10).status_code == 200
    assert api.get("/api/v1/me").json()["user"]["held"] == 0


def test_pre_risky_blocks_and_releases_the_hold(pre_stack):
    api = _user(pre_stack, "hold")
    before = api.get("/api/v1/me").json()["user"]
    task_id = _sticker(api, "难过")
    wait_for(lambda: api.get(f"/api/v1/tasks/{task_id}").json()["status"] == "reviewing", timeout=60)
    wait_for(lambda: _checks_of(pre_stack, task_id)[0]["status"] == "pending", timeout=30)
    release(f"o_{api.code[5:]}", "risky")
    task = api.wait_task(task_id, timeout=30)
    assert task["status"] == "blocked" and task["refunded"] == 1 and task["result"] is None
    after = api.get("/api/v1/me").json()["user"]
    assert (after["balance"], after["held"]) == (before["balance"], before["held"])
    ledger = pre_stack.query("SELECT kind FROM ledger_entries WHERE job_id = :j ORDER BY id", j=task_id)
    assert [row["kind"] for row in ledger] == ["hold", "release"]


def test_erasing_the_account_deletes_a_result_waiting_for_review(pre_stack):
    api = _user(pre_stack, "hold")
    task_id = _sticker(api, "删除")
    wait_for(lambda: api.get(f"/api/v1/tasks/{task_id}").json()["status"] == "reviewing", timeout=60)
    path = pre_stack.job(task_id)["result_path"]
    assert (pre_stack.media_root / path).exists()
    assert api.delete("/api/v1/me").status_code == 202
    wait_for(lambda: not (pre_stack.media_root / path).exists(), timeout=60)
    job = pre_stack.job(task_id)
    assert job["status"] == "deleted" and job["charge"] == "released"


def test_a_risky_upload_withdraws_the_result_without_refund(post_stack):
    """The user supplied the violating photo: the result is withdrawn, the charge stays (docs/API.md)."""
    from media_samples import astronaut_photo, encode_image
    from wechat_standin import push

    api = _user(post_stack, "hold")
    photo = base64.b64encode(encode_image(astronaut_photo())).decode()
    answer = api.post("/api/v1/emoji", json={"image": photo, "text": "照片", "style": "cutout", "face_consent": True})
    task = api.wait_task(answer.json()["task_id"], timeout=90)
    assert task["status"] == "succeeded"  # post: delivered while the checks run
    checks = wait_for(lambda: (c := _checks_of(post_stack, task["task_id"])) and len(c) == 2
                      and all(check["status"] == "pending" for check in c) and c, timeout=30)
    [upload] = [check for check in checks if check["path"].startswith("private/")]
    assert push(upload["trace_id"], "risky") == [200]
    blocked = api.wait_task(task["task_id"])
    assert blocked["status"] == "blocked" and "uploaded file" in blocked["error"]["message"]
    assert blocked["refunded"] == 0
    kinds = [row["kind"] for row in post_stack.query("SELECT kind FROM ledger_entries WHERE job_id = :j ORDER BY id",
                                                     j=task["task_id"])]
    assert kinds == ["hold", "capture"]
    assert not (post_stack.media_root / upload["path"]).exists()
    assert requests.get(task["result"]["url"], timeout=10).status_code == 410


def test_the_check_download_url_must_be_signed_and_fresh(post_stack):
    from backend.services.media import files

    api = _user(post_stack, "clean")
    task = api.wait_task(_sticker(api))
    [check] = wait_for(lambda: _checks_of(post_stack, task["task_id"]), timeout=30)
    check_id = post_stack.query("SELECT id FROM media_checks WHERE path = :p", p=check["path"])[0]["id"]
    url = f"{post_stack.base_url}/api/v1/wechat/media/{check_id}"
    future = int(time.time()) + 600
    with post_stack.app_context():
        good = files.signature(f"check:{check_id}", future)
        stale = files.signature(f"check:{check_id}", 1000)
        other = files.signature(f"check:{check_id + 1}", future)
    assert requests.get(url, params={"expires": future, "sig": good}, timeout=10).status_code == 200
    for params in ({"expires": future, "sig": good[:-2] + "xx"}, {"expires": 1000, "sig": stale},
                   {"expires": future, "sig": other}, {"expires": future + 1, "sig": good}):
        assert requests.get(url, params=params, timeout=10).status_code == 404, params
    assert requests.get(url, params={"expires": "soon", "sig": good}, timeout=10).status_code == 422
