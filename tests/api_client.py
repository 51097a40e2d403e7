"""A logged-in API client talking to a stack through its Nginx, as the mini-program does."""
import time

import requests

FINISHED = ("succeeded", "failed", "canceled", "deleted", "blocked")


def task_of(answer):
    """The task a job-creating call answered with, held to the contract's one status for its state: 200 when
    it is finished (a cache hit, or done within `?wait`), 202 while it is not."""
    body = answer.json()
    assert answer.status_code == (200 if body.get("status") in FINISHED else 202), (answer.status_code, answer.text)
    return body


class Api:
    """A logged-in client talking to the stack through Nginx."""

    def __init__(self, base_url, code):
        self.base_url = base_url
        self.session = requests.Session()
        response = self.session.post(base_url + "/api/v1/auth/login", json={"code": code}, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        self.code = code
        self.tokens = body
        self.user = body["user"]
        self.session.headers["Authorization"] = f"Bearer {body['access_token']}"

    def consent(self):
        """The consent fields a voice is saved with (the speaker read the sentence: the tests' recordings stand
        for that reading)."""
        return {"consent_token": self.get("/api/v1/voices/consent").json()["consent_token"]}

    def post(self, path, **kwargs):
        return self.session.post(self.base_url + path, timeout=kwargs.pop("timeout", 60), **kwargs)

    def get(self, path, **kwargs):
        return self.session.get(self.base_url + path, timeout=kwargs.pop("timeout", 60), **kwargs)

    def delete(self, path, **kwargs):
        return self.session.delete(self.base_url + path, timeout=kwargs.pop("timeout", 60), **kwargs)

    def wait_task(self, task_id, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            started = time.monotonic()
            task = self.get(f"/api/v1/tasks/{task_id}?wait=10").json()
            if task["status"] in FINISHED:
                return task
            time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))  # a wait the server declined
        raise AssertionError(f"task {task_id} did not finish in {timeout} s")
