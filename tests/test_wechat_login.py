"""Login through the real WeChat client against a local server that speaks WeChat's protocol."""
from concurrent.futures import ThreadPoolExecutor

import pytest
from stack_process import free_port
from wechat_standin import APPID, PUSH_AES_KEY, PUSH_TOKEN, SECRET, WeChatStandIn

from backend import create_app
from backend.extensions import db
from backend.models import LedgerEntry, User
from backend.services.backoffice.wechat import WeChatClient


@pytest.fixture
def app(wechat_app):
    """The WeChat-configured app (conftest.wechat_app)."""
    return wechat_app


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
                                      WECHAT_APPID=APPID, WECHAT_SECRET=SECRET, WECHAT_PUSH_TOKEN=PUSH_TOKEN,
                                      WECHAT_PUSH_AES_KEY=PUSH_AES_KEY, CONSENT_CHECK="auto", WECHAT_TIMEOUT=0.5,
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
