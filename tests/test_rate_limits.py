"""Rate limits: job creation per user, logins per IP; a refused request creates and holds nothing."""
import io

import pytest

from backend import create_app


@pytest.fixture
def limited(stack):
    return create_app(stack.app_config(LIMIT_JOBS="3/minute", LIMIT_LOGIN="2/minute"))


def signed_in(limited, code, address):
    """(test client, login answer, headers) of a user of the limited app, from one client address."""
    client = limited.test_client()
    ip = {"X-Forwarded-For": address}
    login = client.post("/api/v1/auth/login", json={"code": code}, headers=ip).json
    return client, login, {"Authorization": f"Bearer {login['access_token']}", **ip}


def test_job_creation_limit(limited, stack, high_voice_b64):
    client, login, headers = signed_in(limited, "limited-user", "203.0.113.7")
    statuses = []
    for number in range(5):
        response = client.post("/api/v1/tts", json={"text": f"限速第{number}句", "voice_consent": True, "prompt_audio": high_voice_b64},
                               headers=headers)
        statuses.append(response.status_code)
    assert statuses[:3] == [202, 202, 202] and statuses[3:] == [429, 429], statuses
    assert response.json["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0
    user_id = login["user"]["id"]
    assert stack.query("SELECT COUNT(*) AS n FROM jobs WHERE user_id = :u", u=user_id)[0]["n"] == 3
    assert stack.query("SELECT COUNT(*) AS n FROM ledger_entries WHERE user_id = :u AND kind = 'hold'",
                       u=user_id)[0]["n"] == 3


def test_login_limit_is_per_client_ip(limited):
    client = limited.test_client()
    first_ip, second_ip = {"X-Forwarded-For": "198.51.100.1"}, {"X-Forwarded-For": "198.51.100.2"}
    codes = [client.post("/api/v1/auth/login", json={"code": f"c{n}"}, headers=first_ip).status_code for n in range(3)]
    assert codes == [200, 200, 429]
    assert client.post("/api/v1/auth/login", json={"code": "c9"}, headers=second_ip).status_code == 200


def test_voice_creation_has_the_job_limits(limited, stack, low_voice_wav):
    """Saving a voice runs ffmpeg in the web tier: it counts against the same per-user limit as jobs."""
    client, login, headers = signed_in(limited, "limited-voices", "203.0.113.8")
    body = lambda: {"audio": (io.BytesIO(low_voice_wav), "a.wav"),  # noqa: E731 - one consent token per voice
                    "consent_token": client.get("/api/v1/voices/consent", headers=headers).json["consent_token"]}
    statuses = [client.post("/api/v1/voices", data=body(), headers=headers,
                            content_type="multipart/form-data").status_code for _ in range(5)]
    assert statuses == [201, 201, 201, 429, 429], statuses
    assert stack.query("SELECT COUNT(*) AS n FROM voices WHERE user_id = :u", u=login["user"]["id"])[0]["n"] == 3


def test_limits_hold_after_redis_forgets_the_script(limited, stack, high_voice_b64):
    """A restarted or flushed Redis forgets the rate-limit script: it is loaded again, and the limits hold."""
    import redis

    client, _login, headers = signed_in(limited, "limited-flush", "203.0.113.9")
    statuses = []
    for number in range(5):
        if number == 1:
            flusher = redis.Redis.from_url(stack.redis_url)
            flusher.script_flush()
            flusher.close()
        statuses.append(client.post("/api/v1/tts", json={"text": f"清空脚本第{number}句",
                                                         "voice_consent": True, "prompt_audio": high_voice_b64}, headers=headers).status_code)
    assert statuses == [202, 202, 202, 429, 429], statuses
