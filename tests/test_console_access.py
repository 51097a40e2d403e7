"""Console sessions and sign-in through the real stack (Nginx, gunicorn, Redis), with plain HTTP clients: a
session lives in Redis and ends at logout, when an admin blocks the operator or sets their password, and when
they change it themselves; a replayed cookie is then refused. Failed sign-ins lock an account only for the
address they came from, so a stranger cannot lock an operator out."""
import re

import pyotp
import requests
from requests.adapters import HTTPAdapter
from test_console import PASSWORD, create_operator

NEW_PASSWORD = "a quite different passphrase"


class FromAddress(HTTPAdapter):
    """Connect from a given local address (127.0.0.x all reach Nginx on 127.0.0.1), so that Nginx, and the app
    behind it, see another client address."""

    def __init__(self, address):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


class Console:
    """One browser's worth of console: a cookie jar, optionally from another client address."""

    def __init__(self, stack, address=None):
        self.base = stack.base_url
        self.http = requests.Session()
        if address:
            self.http.mount("http://", FromAddress(address))

    def token(self, path):
        return re.search(r'name="csrf_token" value="([^"]+)"', self.get(path).text).group(1)

    def get(self, path, **kwargs):
        return self.http.get(self.base + path, allow_redirects=False, timeout=30, **kwargs)

    def post(self, path, data, page=None):
        """A form post with the CSRF token of `page` (the path itself by default)."""
        return self.http.post(self.base + path, data={"csrf_token": self.token(page or path), **data},
                              allow_redirects=False, timeout=30)

    def password_step(self, username, password):
        return self.post("/admin/login", {"username": username, "password": password})

    def sign_in(self, username, secret, password=PASSWORD):
        assert self.password_step(username, password).status_code == 302
        answer = self.post("/admin/login/totp", {"code": pyotp.TOTP(secret).now()})
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/admin/dashboard"), answer.text
        return self

    @property
    def cookie(self):
        return self.http.cookies.get("voxmoji_console")


def signed_in(stack, role, address=None):
    """(console, username, secret) of a new operator signed in."""
    username, secret = create_operator(stack, role)
    return Console(stack, address).sign_in(username, secret), username, secret


def replay(stack, cookie):
    """GET /admin/users with nothing but a saved cookie, from another User-Agent."""
    return requests.get(stack.base_url + "/admin/users", cookies={"voxmoji_console": cookie}, allow_redirects=False,
                        headers={"User-Agent": "curl/8.0 replay"}, timeout=30)


def refused(answer):
    return answer.status_code == 302 and "/admin/login" in answer.headers["Location"]


def test_a_cookie_replayed_after_logout_is_refused(pre_stack):
    console, _username, _secret = signed_in(pre_stack, "finance")
    cookie = console.cookie
    assert replay(pre_stack, cookie).status_code == 200
    assert console.post("/admin/logout", {}, page="/admin/users").status_code == 302
    assert refused(replay(pre_stack, cookie))
    assert refused(console.get("/admin/users"))


def row_action(admin, username, action, **fields):
    """An admin's form on the operators page: block, password or totp, for the operator `username`."""
    page = admin.get("/admin/operators").text
    path = re.search(rf'id="operator-{re.escape(username)}">.*?action="(/admin/operators/\d+/{action})"', page,
                     re.S).group(1)
    return admin.post(path, fields, page="/admin/operators")


def test_blocking_an_operator_ends_their_sessions_at_once(pre_stack):
    admin, _admin_name, _ = signed_in(pre_stack, "admin")
    moderator, username, secret = signed_in(pre_stack, "moderator")
    assert moderator.get("/admin/users").status_code == 200
    assert row_action(admin, username, "block", blocked="1").status_code == 302
    assert refused(moderator.get("/admin/users"))
    assert "已封禁" in admin.get("/admin/operators").text
    assert Console(pre_stack).password_step(username, PASSWORD).status_code == 401  # nor can they sign in again
    assert row_action(admin, username, "block", blocked="0").status_code == 302
    assert refused(moderator.get("/admin/users"))  # unblocking brings no ended session back
    assert admin.get("/admin/users").status_code == 200  # the admin's own session goes on
    assert admin.get("/admin/audit?action=operator_block").text.count(username) >= 1


def test_a_new_password_ends_the_old_sessions(pre_stack):
    admin, _admin_name, _ = signed_in(pre_stack, "admin")
    finance, username, secret = signed_in(pre_stack, "finance")
    saved = finance.cookie
    too_short = finance.post("/admin/password", {"current": PASSWORD, "password": "short", "confirm": "short"})
    assert too_short.status_code == 400 and "至少需要 12 个字符" in too_short.text
    assert replay(pre_stack, saved).status_code == 200
    changed = finance.post("/admin/password", {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert changed.status_code == 302 and changed.headers["Location"].endswith("/admin/dashboard")
    assert refused(replay(pre_stack, saved))  # the cookie from before the change
    assert finance.get("/admin/users").status_code == 200  # the browser that changed it goes on
    later = finance.cookie
    assert row_action(admin, username, "password", password=PASSWORD + "!").status_code == 302
    assert refused(replay(pre_stack, later)) and refused(finance.get("/admin/users"))
    assert Console(pre_stack).password_step(username, NEW_PASSWORD).status_code == 401
    assert Console(pre_stack).password_step(username, PASSWORD + "!").status_code == 302


def test_a_new_totp_secret_ends_the_sessions(pre_stack):
    admin, _admin_name, _ = signed_in(pre_stack, "admin")
    moderator, username, secret = signed_in(pre_stack, "moderator")
    reset = row_action(admin, username, "totp")
    assert reset.status_code == 200 and f"「{username}」的新两步验证密钥" in reset.text
    new_secret = re.search(r'id="new-secret">.*?<code>(\w+)</code>', reset.text).group(1)
    assert new_secret != secret
    assert refused(moderator.get("/admin/users"))
    assert admin.get("/admin/users").status_code == 200


def test_a_stranger_cannot_lock_an_operator_out(pre_stack):
    username, secret = create_operator(pre_stack, "finance")
    stranger = Console(pre_stack, "127.0.0.2")
    for _ in range(6):
        assert stranger.password_step(username, "wrong password!").status_code == 401
    assert stranger.password_step(username, PASSWORD).status_code == 401  # locked from the stranger's address
    assert Console(pre_stack, "127.0.0.3").sign_in(username, secret).get("/admin/users").status_code == 200
    guesser = Console(pre_stack, "127.0.0.4")  # one address trying many accounts is stopped as well
    for number in range(20):
        assert guesser.password_step(f"nobody-{number}", "wrong password!").status_code == 401
    assert guesser.password_step(username, NEW_PASSWORD).status_code == 401
    assert pre_stack.query("SELECT disabled FROM operators WHERE username = :u", u=username)[0]["disabled"] in (0, False)
