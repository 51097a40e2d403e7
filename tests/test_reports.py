"""举报: a user reports a result (their task, or a link this service signed, e.g. a forwarded sticker); the report
lands in the review queue; abuse of the endpoint is bounded."""
import time

import pytest
from polling import outlast_refresh

from backend import create_app


@pytest.fixture
def sticker(api):
    answer = api.post("/api/v1/emoji?wait=20", json={"template_id": "panda", "text": f"举报{time.monotonic_ns()}"})
    return api.wait_task(answer.json()["task_id"])


def test_report_my_result_lands_in_the_review_queue_once(api, stack, sticker):
    first = api.post("/api/v1/reports", json={"job_id": sticker["task_id"], "category": "abuse", "reason": "辱骂"})
    assert first.status_code == 201, first.text
    report = first.json()["report"]
    assert report["job_id"] == sticker["task_id"] and report["status"] == "open"
    again = api.post("/api/v1/reports", json={"job_id": sticker["task_id"], "category": "abuse"})
    assert again.status_code == 200 and again.json()["report"]["report_id"] == report["report_id"]
    rows = stack.query("SELECT kind, source, label, text, user_id FROM review_items WHERE job_id = :j",
                       j=sticker["task_id"])
    assert rows == [{"kind": "report", "source": "user", "label": "abuse", "text": "辱骂", "user_id": api.user["id"]}]


def test_report_a_forwarded_link_even_expired(stack, sticker, other_api):
    from backend.services.media import files

    with stack.app_context():
        path = stack.job(sticker["task_id"])["result_path"]
        expired, _ = files.sign_url(path, ttl=-3600)
    answer = other_api.post("/api/v1/reports", json={"media_url": expired, "category": "porn"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["report"]["job_id"] is None  # not the reporter's task: never named to them
    rows = stack.query("SELECT job_id, user_id FROM review_items WHERE id = :i", i=answer.json()["report"]["report_id"])
    assert rows == [{"job_id": sticker["task_id"], "user_id": other_api.user["id"]}]  # the moderator sees which


def test_a_report_never_names_another_users_task(stack, api, other_api, sticker):
    """F1: B makes the same sticker as A (one result file for both) and reports B's own link: the answer names
    B's task, never A's, whoever made the file first."""
    twin = other_api.post("/api/v1/emoji?wait=20", json={"template_id": "panda", "text": sticker["text"]})
    twin = other_api.wait_task(twin.json()["task_id"])
    assert stack.job(twin["task_id"])["result_path"] == stack.job(sticker["task_id"])["result_path"]
    answer = other_api.post("/api/v1/reports", json={"media_url": twin["image_url"], "category": "abuse"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["report"]["job_id"] == twin["task_id"]


@pytest.mark.parametrize("body, status, field", [
    ({"category": "abuse"}, 400, "job_id"),  # neither
    ({"job_id": "t_x", "media_url": "http://x/media/a?md5=a&expires=1", "category": "abuse"}, 400, "job_id"),  # both
    ({"job_id": "t_" + "0" * 24, "category": "abuse"}, 404, "task_id"),  # not mine / no such task
    ({"media_url": "http://127.0.0.1/media/sticker/ab/x.png?md5=forged&expires=9999999999", "category": "abuse"},
     400, "media_url"),  # not a link we signed
    ({"media_url": "https://evil.example/x.png", "category": "abuse"}, 400, "media_url"),
    ({"job_id": "t_x", "category": "spam-everything"}, 400, "category"),  # docs/API.md: invalid_request is 400
    ({"job_id": "t_x", "category": "abuse", "reason": "长" * 201}, 422, "reason"),  # text_too_long
    ({"job_id": "t_x" * 30, "category": "abuse"}, 400, "job_id"),
])
def test_bad_reports_are_refused(api, body, status, field):
    answer = api.post("/api/v1/reports", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["field"] == field


def test_another_users_task_cannot_be_reported_by_id(other_api, sticker):
    answer = other_api.post("/api/v1/reports", json={"job_id": sticker["task_id"], "category": "abuse"})
    assert answer.status_code == 404  # indistinguishable from a missing task


def test_reports_are_rate_limited(stack):
    app = create_app(stack.app_config(LIMIT_REPORTS="2/hour"))
    with app.test_client() as client:
        token = client.post("/api/v1/auth/login", json={"code": f"reporter-{time.monotonic_ns()}"}).json
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        codes = [client.post("/api/v1/reports", json={"job_id": "t_none", "category": "abuse"},
                             headers=headers).status_code for _ in range(3)]
    assert codes == [404, 404, 429]


def test_the_reason_is_moderated(stack, api, sticker):
    with stack.app_context():
        from backend.services.backoffice import moderation

        moderation.add_word("举报违禁样", "politics", "risky")
    outlast_refresh()
    answer = api.post("/api/v1/reports", json={"job_id": sticker["task_id"], "category": "politics",
                                               "reason": "举报违禁样"})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "reason"
