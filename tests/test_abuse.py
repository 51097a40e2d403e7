"""What an attacker of a public mini-program backend tries first, through Nginx: blocked accounts, invalid
Unicode, huge integers, over-long fields, odd methods and Host headers, public diagnostics."""
import base64
import json
import subprocess
import time

import pytest
import requests
from api_client import Api
from media_samples import wav_bytes
from polling import wait_for
from stack_process import REPO

from backend import create_app


def raw_post(stack, path, body, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(stack.base_url + path, data=body.encode() if isinstance(body, str) else body,
                         headers=headers, timeout=30)


def block(stack, user_id, unblock=False):
    args = [str(REPO / ".venv" / "bin" / "flask"), "--app", "backend", "block-user", user_id, "--reason", "abuse test"]
    done = subprocess.run(args + (["--unblock"] if unblock else []), cwd=REPO, env=stack.env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# -- blocked users -----------------------------------------------------------------------------------

def test_a_blocked_users_existing_token_is_refused_on_the_next_request(stack, high_voice):
    api = Api(stack.base_url, f"to-block-{time.monotonic_ns()}")
    login = api.tokens
    assert api.get("/api/v1/me").status_code == 200
    block(stack, api.user["id"])
    for answer in (api.get("/api/v1/me"),
                   api.post("/api/v1/tts", files={"prompt_audio": ("p.wav", wav_bytes(high_voice), "audio/wav")},
                            data={"voice_consent": "true", "text": "被封禁了还想用"})):
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden", answer.text
    refreshed = requests.post(stack.base_url + "/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]},
                              timeout=10)
    assert refreshed.status_code == 401  # the block revoked the refresh tokens too
    assert stack.query("SELECT COUNT(*) AS n FROM jobs WHERE user_id = :u", u=api.user["id"])[0]["n"] == 0
    block(stack, api.user["id"], unblock=True)
    assert api.get("/api/v1/me").status_code == 200


def test_access_tokens_are_short_lived_and_refresh_tokens_single_use(stack):
    code = f"refresh-{time.monotonic_ns()}"
    login = requests.post(stack.base_url + "/api/v1/auth/login", json={"code": code}, timeout=10).json()
    assert login["expires_in"] <= 2 * 3600 and login["refresh_token"] and login["refresh_expires_in"] > 86400
    fresh = requests.post(stack.base_url + "/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]},
                          timeout=10)
    assert fresh.status_code == 200, fresh.text
    tokens = fresh.json()
    assert tokens["user"]["id"] == login["user"]["id"] and tokens["refresh_token"] != login["refresh_token"]
    me = requests.get(stack.base_url + "/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"},
                      timeout=10)
    assert me.status_code == 200
    # A refresh token used twice means someone else has a copy: refused, and the newer one is revoked too.
    replay = requests.post(stack.base_url + "/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]},
                           timeout=10)
    assert replay.status_code == 401 and replay.json()["error"]["field"] == "refresh_token"
    newer = requests.post(stack.base_url + "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]},
                          timeout=10)
    assert newer.status_code == 401
    for junk in ("", "x" * 129, "not-a-token"):
        answer = requests.post(stack.base_url + "/api/v1/auth/refresh", json={"refresh_token": junk}, timeout=10)
        assert answer.status_code == (401 if junk == "not-a-token" else 422), answer.text  # 422: the body's schema


# -- invalid Unicode and huge integers ----------------------------------------------------------------

LONE = '"\\ud800"'


@pytest.mark.parametrize("path, body", [
    ("/api/v1/auth/login", '{"code": %s}' % LONE),
    ("/api/v1/auth/refresh", '{"refresh_token": %s}' % LONE),
    ("/api/v1/tts", '{"text": %s, "voice_id": "v_x"}' % LONE),
    ("/api/v1/tts", '{"text": "hi", "instruct": %s, "mode": "instruct", "voice_id": "v"}' % LONE),
    ("/api/v1/voices", '{"audio": "AAAA", "name": %s}' % LONE),
    ("/api/v1/emoji", '{"template_id": "panda", "text": %s}' % LONE),
    ("/api/v1/emoji", '{%s: 1}' % LONE),
    ("/tts", '{"text": %s, "prompt_audio": "AAAA"}' % LONE),
])
def test_lone_surrogates_are_400(api, stack, path, body):
    token = api.session.headers["Authorization"].split()[1]
    answer = raw_post(stack, path, body, token)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_request" and "Unicode" in answer.json()["error"]["message"]


def test_lone_surrogates_in_a_recharge_are_400(stack):
    answer = raw_post(stack, "/api/v1/admin/recharges", '{"items": [{"user": %s, "amount": 1}], "reason": "x"}' % LONE,
                      "vmk_whatever")
    assert answer.status_code == 400  # refused before anything reads it, even before the key is checked


@pytest.mark.parametrize("query", ["before=9223372036854775808", "before=-1", "before=99999999999999999999999",
                                   "limit=100000000000000000000", "limit=0", "before=1e400"])
def test_huge_or_negative_integers_are_client_errors(api, query):
    answer = api.get(f"/api/v1/me/ledger?{query}")
    assert 400 <= answer.status_code < 500 and answer.json()["error"]["code"] == "invalid_request", answer.text


@pytest.mark.parametrize("query", ["wait=1e400", "wait=nan", "wait=-1", "wait=21", "wait=inf"])
def test_bad_waits_are_client_errors(api, query):
    answer = api.get(f"/api/v1/tasks/t_nothing?{query}")
    assert 400 <= answer.status_code < 500 and answer.status_code != 404, answer.text


@pytest.mark.parametrize("query", ["wait=1e400", "wait=nan", "wait=-1", "wait=21", "wait="])
def test_a_bad_wait_on_a_new_job_is_422_and_makes_nothing(api, query):
    """A job endpoint's query is checked before the job exists: nothing is created, held or charged."""
    balance = api.get("/api/v1/me").json()["user"]["balance"]
    answer = api.post(f"/api/v1/emoji?{query}", json={"template_id": "panda", "text": "等太久"})
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request", answer.text
    assert api.get("/api/v1/tasks").json()["tasks"] == []
    assert api.get("/api/v1/me").json()["user"]["balance"] == balance


# -- lengths checked before any normalisation ------------------------------------------------------------

@pytest.mark.parametrize("field, size", [("instruct", 101), ("instruct", 100_000), ("prompt_text", 501),
                                         ("prompt_text", 1_000_000), ("text", 201), ("text", 2_000_000)])
def test_over_long_tts_fields_are_422_text_too_long(api, high_voice, field, size):
    body = {"text": "你好", "mode": "instruct", "instruct": "悲伤地说",
            "voice_consent": True, "prompt_audio": base64.b64encode(wav_bytes(high_voice)).decode(), field: "㍿" * size}
    started = time.monotonic()
    answer = api.post("/api/v1/tts", json=body)
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["error"]["code"] == "text_too_long" and answer.json()["error"]["field"] == field
    assert time.monotonic() - started < 10  # refused without expanding the text (each ㍿ is 4 characters in NFKC)
    assert str(size) in answer.json()["error"]["message"]


def test_over_long_voice_name_and_caption(api, low_voice_wav):
    voice = api.post("/api/v1/voices", files={"audio": ("a.wav", low_voice_wav, "audio/wav")},
                     data={**api.consent(), "name": "名" * 65})
    assert voice.status_code == 422 and voice.json()["error"]["field"] == "name"
    sticker = api.post("/api/v1/emoji", json={"template_id": "panda", "text": "字" * 201})
    assert sticker.status_code == 422 and sticker.json()["error"]["code"] == "text_too_long"
    ident = api.post("/api/v1/emoji", json={"template_id": "p" * 65})
    assert ident.status_code == 400 and ident.json()["error"]["field"] == "template_id"


def test_recharge_line_with_an_unknown_key_is_422(stack):
    from backend.services.backoffice import api_keys

    with stack.app_context():
        _, key = api_keys.create(f"abuse-{time.monotonic_ns()}")
    answer = requests.post(stack.base_url + "/api/v1/admin/recharges",
                           json={"items": [{"user_id": "u_x", "amount": 5}], "reason": "typo in the key"},
                           headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "k1"}, timeout=10)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "items", answer.text


# -- Nginx: methods, Host, headers ---------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/app.js", "/media/tts/ab/x.mp3", "/shared/errors.js"])
def test_nginx_answers_405_with_allow(stack, path):
    answer = requests.post(stack.base_url + path, data=b"x", timeout=10)
    assert answer.status_code == 405 and answer.headers["Allow"] == "GET, HEAD"
    assert answer.json()["error"]["code"] == "method_not_allowed"


def test_the_api_answers_405_with_allow(stack):
    answer = requests.put(stack.base_url + "/api/v1/me", timeout=10)
    assert answer.status_code == 405 and "GET" in answer.headers["Allow"]


@pytest.mark.parametrize("path", ["/docs", "/api/v1/me/", "/backend", "/media"])
def test_host_header_is_never_reflected(stack, path):
    answer = requests.get(stack.base_url + path, headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
                          allow_redirects=False, timeout=10)
    assert "evil.example" not in answer.headers.get("Location", "") and "evil.example" not in answer.text


def test_h5_page_security_headers(stack):
    page = requests.get(stack.base_url + "/", timeout=10)
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"


def test_media_sends_no_wildcard_cors(api, stack):
    task = api.wait_task(api.post("/api/v1/emoji", json={"template_id": "panda", "text": "跨域"}).json()["task_id"])
    media = requests.get(task["image_url"], headers={"Origin": "https://evil.example"}, timeout=10)
    assert media.status_code == 200 and "Access-Control-Allow-Origin" not in media.headers


# -- diagnostics -------------------------------------------------------------------------------------------

def test_readyz_details_only_for_operators(stack):
    app = create_app(stack.app_config())
    client = app.test_client()
    public = client.get("/readyz", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert public.status_code == 200 and public.json == {"success": True, "ready": True}
    assert "workers" not in json.dumps(public.json)
    local = requests.get(stack.base_url + "/readyz", timeout=10).json()
    assert local["workers"] and local["routing"]["tts"]["chosen"] == "espeak-world"


# -- one user cannot stall the web tier ------------------------------------------------------------------

def test_forty_held_waits_leave_the_web_tier_serving(stack):
    """Long-polls are capped per user (2) and per process (4): 40 parallel waits of one user on a job that
    cannot finish hold at most 2; the rest are answered at once, and everyone else is served meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    holder = Api(stack.base_url, f"stall-{time.monotonic_ns()}")
    bystander = Api(stack.base_url, f"bystander-{time.monotonic_ns()}")
    stack.stop("worker")
    try:
        task = holder.post("/api/v1/emoji", json={"template_id": "panda", "text": "永远排队"}).json()

        def wait(_):
            started = time.monotonic()
            answer = holder.get(f"/api/v1/tasks/{task['task_id']}?wait=6")
            return answer.status_code, answer.json()["status"], time.monotonic() - started

        with ThreadPoolExecutor(40) as pool:
            pending = pool.map(wait, range(40))
            wait_for(lambda: stack.waits_held(holder.user["id"]) >= 2, timeout=30)  # the user's waits are held
            assert requests.get(stack.base_url + "/healthz", timeout=10).status_code == 200
            assert bystander.get("/api/v1/me", timeout=10).status_code == 200
            waits = list(pending)
    finally:
        stack.start("worker")
        stack.wait_ready()
    assert all(status == 200 and shown == "queued" for status, shown, _ in waits)
    held = [seconds for _, _, seconds in waits if seconds >= 5]
    assert 1 <= len(held) <= 2, sorted(seconds for _, _, seconds in waits)


def test_a_192_khz_8_channel_recording_is_downmixed(api):
    import numpy as np
    from media_samples import wav_bytes as encode

    rate, seconds = 192000, 2.0
    t = np.arange(int(rate * seconds)) / rate
    channels = np.stack([0.3 * np.sin(2 * np.pi * (150 + 20 * c) * t) for c in range(8)], axis=1).astype(np.float32)
    data = encode(channels, rate)
    assert len(data) > 6_000_000  # 2 s of 8 x 192 kHz, still under the 10 MB limit
    answer = api.post("/api/v1/voices", files={"audio": ("wide.wav", data, "audio/wav")}, data=api.consent())
    assert answer.status_code == 201, answer.text
    assert abs(answer.json()["voice"]["duration"] - seconds) < 0.05


def test_six_parallel_worst_case_photos_stay_under_the_memory_ceiling(api, stack):
    """Six 6000x6600 RGBA PNGs (~160 KB each, under the 40 MP limit) at once: each web process decodes one
    photo at a time, reduced right after decoding, and gives the buffers back; it used to reach 3 GB."""
    import io
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    from PIL import Image
    from process_stats import child_pids, rss_mb

    pixels = np.full((6600, 6000, 4), (250, 240, 230, 255), np.uint8)
    pixels[::97, :, :3] = 30
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG", compress_level=9)
    body = {"face_consent": True, "image": base64.b64encode(buffer.getvalue()).decode(), "style": "cutout"}
    with ThreadPoolExecutor(6) as pool:  # six new requests (their captions differ): each is queued
        answers = list(pool.map(lambda n: api.post("/api/v1/emoji", json={**body, "text": f"大图{n}"}, timeout=120),
                                range(6)))
    assert [answer.status_code for answer in answers] == [202] * 6, [a.text[:200] for a in answers]
    peaks = [rss_mb(pid, "VmHWM") for pid in child_pids(stack.processes["web"].pid)]
    assert peaks and max(peaks) < 800, peaks
