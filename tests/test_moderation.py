"""Text moderation before any job is created: the operator's word list (and the usual evasions of it), then
WeChat's msgSecCheck (v2) through the local stand-in."""
import base64
import subprocess
import sys
import time

import pytest
from api_client import task_of
from polling import outlast_refresh
from stack_process import REPO
from wechat_standin import WeChatStandIn

from backend import create_app
from backend.extensions import db
from backend.services.backoffice import moderation

RISKY, REVIEW = "违禁样词", "待审样词"


@pytest.fixture(scope="module")
def words(stack):
    """Two words added with the CLI, as an operator would."""
    for word, label, action in ((RISKY, "politics", "risky"), (REVIEW, "vulgar", "review"), ("BadWord", "abuse", "risky")):
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "backend", "words", "add", word, "--label", label,
                               "--action", action], cwd=REPO, env=stack.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    outlast_refresh()
    return stack


@pytest.mark.parametrize("text", [
    RISKY, f"今天{RISKY}真好", "违 禁 样 词", "违*禁-样·词", "違禁樣詞", "ＢＡＤＷＯＲＤ", "b a d w o r d", "Bad\u200bWord",
])
def test_a_listed_word_and_its_evasions_are_refused_and_charge_nothing(words, api, text):
    before = api.get("/api/v1/me").json()["user"]
    answer = api.post("/api/v1/emoji", json={"template_id": "panda", "text": text[:40]})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "content_rejected" and error["field"] == "text"
    assert "politics" in error["message"] or "abuse" in error["message"]
    after = api.get("/api/v1/me").json()["user"]
    assert (after["balance"], after["held"]) == (before["balance"], before["held"])
    assert api.get("/api/v1/tasks?limit=5").json()["tasks"] == []


def test_every_text_field_is_moderated(words, api, high_voice_b64):
    recording = {"voice_consent": True, "prompt_audio": high_voice_b64}
    cases = [
        ("/api/v1/tts", {"text": f"请说{RISKY}", **recording}, "text"),
        ("/api/v1/tts", {"text": "你好。", "mode": "instruct", "instruct": f"用{RISKY}的语气说", **recording}, "instruct"),
        ("/api/v1/tts", {"text": "你好。", "prompt_text": RISKY, **recording}, "prompt_text"),
    ]
    for path, body, field in cases:
        answer = api.post(path, json=body)
        assert answer.status_code == 422 and answer.json()["error"]["field"] == field, (field, answer.text)
    named = api.post("/api/v1/voices", files={"audio": ("v.wav", base64.b64decode(high_voice_b64), "audio/wav")},
                     data={**api.consent(), "name": f"我的{RISKY}"})
    assert named.status_code == 422 and named.json()["error"]["field"] == "name"
    assert api.get("/api/v1/voices").json()["voices"] == []


def test_a_review_word_is_accepted_and_flagged(words, api):
    answer = api.post("/api/v1/emoji?wait=20", json={"template_id": "panda", "text": f"有点{REVIEW}"})
    task_of(answer)
    task_id = answer.json()["task_id"]
    flags = words.query("SELECT kind, source, label, field, text, status FROM review_items WHERE job_id = :j",
                        j=task_id)
    assert flags == [{"kind": "flag", "source": "wordlist", "label": "vulgar", "field": "text",
                      "text": f"有点{REVIEW}", "status": "open"}]
    strict = create_app(words.app_config(MODERATION_REVIEW="reject"))
    with strict.test_client() as client:
        token = client.post("/api/v1/auth/login", json={"code": f"strict-{time.monotonic_ns()}"}).json["access_token"]
        refused = client.post("/api/v1/emoji", json={"template_id": "panda", "text": f"有点{REVIEW}"},
                              headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 422 and refused.json["error"]["code"] == "content_rejected"


def test_normalisation_undoes_the_evasions():
    assert moderation.normalize("Ｈｅｌｌｏ, 世 界!") == "hello世界"
    assert moderation.normalize("臺灣 發財") == "台湾发财"
    assert moderation.normalize("a\u200bb\u00a0c—d") == "abcd"


def test_removing_a_word_takes_effect(words, api):
    with words.app_context():
        moderation.add_word("临时样词", "ads", "risky")
    outlast_refresh()
    assert api.post("/api/v1/emoji", json={"template_id": "panda", "text": "临时样词"}).status_code == 422
    with words.app_context():
        assert moderation.remove_word("临 时 样 词") == 1
    outlast_refresh()
    task_of(api.post("/api/v1/emoji?wait=20", json={"template_id": "panda", "text": "临时样词"}))


def test_wechat_msg_sec_check_decides_for_wechat_users(wechat_app, wechat):
    from backend.extensions import get_redis

    with wechat_app.app_context():
        get_redis().delete("vm:wechat:access_token")
    client = wechat_app.test_client()
    suffix = f"mod{time.monotonic_ns()}"
    login = client.post("/api/v1/auth/login", json={"code": f"good-{suffix}"}).json
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    risky = client.post("/api/v1/emoji", json={"template_id": "panda", "text": "风险样例"}, headers=headers)
    assert risky.status_code == 422 and risky.json["error"]["code"] == "content_rejected"
    assert "porn" in risky.json["error"]["message"]
    checks = [body for path, body in WeChatStandIn.calls if path.startswith("/wxa/msg_sec_check")]
    assert checks[-1]["openid"] == f"o_{suffix}" and checks[-1]["scene"] == 1
    assert checks[-1]["version"] == 2 and checks[-1]["content"] == "风险样例"

    WeChatStandIn.expired.update(WeChatStandIn.tokens)  # WeChat expires the cached token: refreshed once, retried
    # (no ?wait: this in-process app's jobs are not for the stack's worker)
    review = client.post("/api/v1/emoji", json={"template_id": "panda", "text": "复核样例"}, headers=headers)
    assert review.status_code == 202, review.text  # queued: no worker takes this in-process app's jobs
    assert sum(1 for path, _ in WeChatStandIn.calls if path == "/cgi-bin/stable_token") == 2
    with wechat_app.app_context():
        flags = db.session.execute(db.text("SELECT source, label FROM review_items WHERE job_id = :j"),
                                   {"j": review.json["task_id"]}).all()
    assert [tuple(flag) for flag in flags] == [("wechat", "vulgar")]
    passed = client.post("/api/v1/emoji", json={"template_id": "panda", "text": "开心"}, headers=headers)
    assert passed.status_code == 202, passed.text
