"""Login through the real WeChat client against a local server that speaks WeChat's protocol."""
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from backend import create_app
from backend.extensions import db
from backend.models import LedgerEntry, User
from backend.services.wechat import WeChatClient
from stack_process import free_port

APPID, SECRET = "wx0123456789abcdef", "test-app-secret"


class WeChatStandIn(BaseHTTPRequestHandler):
    """jscode2session and stable_token, with WeChat's error codes, selected by the code sent."""

    calls = []

    def _answer(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        WeChatStandIn.calls.append((url.path, query))
        if url.path != "/sns/jscode2session":
            return self._answer({"errcode": 404, "errmsg": "not found"}, 404)
        if query.get("appid") != APPID or query.get("secret") != SECRET or query.get("grant_type") != "authorization_code":
            return self._answer({"errcode": 40013, "errmsg": "invalid appid"})
        code = query.get("js_code", "")
        if code.startswith("good-"):
            return self._answer({"openid": "o_" + code[5:], "session_key": "sk==", "unionid": "u_" + code[5:]})
        if code == "busy":
            return self._answer({"errcode": 45011, "errmsg": "api minute-quota reach limit"})
        if code == "slow":
            time.sleep(4)
            return self._answer({"openid": "o_slow", "session_key": "sk=="})
        if code == "garbage":
            self.send_response(502)
            self.end_headers()
            return self.wfile.write(b"<html>bad gateway</html>")
        return self._answer({"errcode": 40029, "errmsg": "invalid code"})

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        WeChatStandIn.calls.append((self.path, body))
        if self.path == "/cgi-bin/stable_token" and body.get("appid") == APPID and body.get("secret") == SECRET:
            time.sleep(0.2)  # slow enough that concurrent callers would all fetch without the lock
            return self._answer({"access_token": f"token-{len(WeChatStandIn.calls)}", "expires_in": 7200})
        return self._answer({"errcode": 40013, "errmsg": "invalid appid"})

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def wechat():
    server = ThreadingHTTPServer(("127.0.0.1", 0), WeChatStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def app(stack, wechat, tmp_path):
    app = create_app(stack.app_config(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/login.db", DEV_LOGIN=False, WECHAT_APPID=APPID,
        WECHAT_SECRET=SECRET, WECHAT_API_BASE=wechat, WECHAT_TIMEOUT=2.0, LIMIT_LOGIN="1000/minute"))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    WeChatStandIn.calls = []
    return app


def login(app, code):
    return app.test_client().post("/api/v1/auth/login", json={"code": code})


def test_login_creates_the_user_once(app):
    first, second = login(app, "good-alice"), login(app, "good-alice")
    assert first.status_code == second.status_code == 200, first.json
    assert first.json["user"]["id"] == second.json["user"]["id"]
    assert first.json["user"]["balance"] == 37  # the signup grant, once
    with app.app_context():
        user = db.session.query(User).filter_by(openid="o_alice").one()
        assert user.unionid == "u_alice"
        assert db.session.query(LedgerEntry).filter_by(user_id=user.id, kind="grant").count() == 1
    assert WeChatStandIn.calls[0][1]["js_code"] == "good-alice"


def test_concurrent_first_logins_make_one_user(app):
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: login(app, "good-bob"), range(8)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json["user"]["id"] for a in answers}) == 1
    with app.app_context():
        assert db.session.query(User).filter_by(openid="o_bob").count() == 1


@pytest.mark.parametrize("code, status, error_code", [
    ("expired-code", 401, "unauthorized"),
    ("busy", 503, "wechat_unavailable"),
    ("slow", 503, "wechat_unavailable"),
    ("garbage", 503, "wechat_unavailable"),
])
def test_login_errors(app, code, status, error_code):
    response = login(app, code)
    assert response.status_code == status
    assert response.json["error"]["code"] == error_code and response.json["error"]["message"]


def test_wechat_down(stack, tmp_path):
    app = create_app(stack.app_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/down.db", DEV_LOGIN=False,
                                      WECHAT_APPID=APPID, WECHAT_SECRET=SECRET, WECHAT_TIMEOUT=0.5,
                                      WECHAT_API_BASE=f"http://127.0.0.1:{free_port()}"))
    response = login(app, "good-carol")
    assert response.status_code == 503 and response.json["error"]["code"] == "wechat_unavailable"


def test_access_token_is_fetched_once_under_the_lock(app):
    with app.app_context():
        app.extensions["redis"].delete("vm:wechat:access_token")
        client = WeChatClient.from_config(app.config)

        def fetch(_):
            with app.app_context():
                return client.access_token()

        with ThreadPoolExecutor(8) as pool:
            tokens = set(pool.map(fetch, range(8)))
        assert len(tokens) == 1
        assert sum(1 for path, _ in WeChatStandIn.calls if path == "/cgi-bin/stable_token") == 1
        ttl = app.extensions["redis"].ttl("vm:wechat:access_token")
        assert 6000 < ttl <= 6900  # refreshed five minutes before WeChat's expiry
        assert client.access_token(force_refresh=True) != tokens.pop()


def test_dev_login_cannot_be_combined_with_an_appid(wechat):
    with pytest.raises(RuntimeError, match="VOXMOJI_DEV_LOGIN"):
        create_app({"DEV_LOGIN": True, "WECHAT_APPID": APPID, "WECHAT_SECRET": SECRET, "WECHAT_API_BASE": wechat})
