"""Console sign-in (password, then TOTP), sign-out, and the role guard every page uses. The session itself lives
in Redis (services/backoffice/console_sessions.py): Flask-Login's user id in the cookie is a random session id, so
logging out, blocking the operator or changing their password ends it for every copy of the cookie."""
import time
from functools import wraps

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError
from redis.exceptions import RedisError

from backend.console.blueprint import PAGES, bp, csrf, login_manager
from backend.extensions import db
from backend.models import Operator
from backend.ratelimit import login_limit
from backend.services.backoffice import audit, console_sessions, operators

PENDING_SECONDS = 300  # between the password step and the TOTP step


class SignedIn(UserMixin):
    """The operator of this session (Flask-Login's user); its id, kept in the cookie, is the session's id."""

    def __init__(self, operator, session_id):
        self.id = session_id
        self.operator_id = operator.id
        self.username = operator.username
        self.role = operator.role

    @property
    def actor(self):
        return f"operator:{self.username}"

    def may(self, page):
        return self.role in PAGES[page][1]


@login_manager.user_loader
def load_operator(session_id):
    operator_id = console_sessions.operator_of(session_id)
    operator = db.session.get(Operator, operator_id) if operator_id is not None else None
    return SignedIn(operator, session_id) if operator is not None and not operator.disabled else None


login_manager.login_view = "console.login"
login_manager.login_message = "请先登录"
login_manager.session_protection = "strong"


def page(name):
    """Guard a view: signed in, and the operator's role may open this page (else 403)."""
    def decorate(view):
        @wraps(view)
        @login_required
        def guarded(*args, **kwargs):
            if not current_user.may(name):
                abort(403)
            return view(*args, **kwargs)
        return guarded
    return decorate


@bp.before_request
def check_csrf():
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


@bp.after_request
def security_headers(response):
    media = current_app.config["PUBLIC_BASE_URL"]
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; img-src 'self' data: {media}; media-src 'self' {media}; script-src 'self'; "
        "style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(CSRFError)
def csrf_refused(error):
    return render_template("console/error.html", title="请求被拒绝",
                           message=f"安全令牌（CSRF）缺失或已过期，请刷新页面后重试。（{error.description}）"), 400


@bp.errorhandler(RedisError)
def sessions_unavailable(_error):
    return render_template("console/error.html", title="暂时无法登录",
                           message="会话存储（Redis）暂时不可用，请稍后再试。"), 503


@bp.errorhandler(403)
def forbidden(_error):
    return render_template("console/error.html", title="无权访问", message="你的角色不能打开这个页面。"), 403


@bp.get("/login")
def login():
    return render_template("console/login.html", step="password")


@bp.post("/login")
@login_limit  # per IP, beside the per-account lockout: password spraying across accounts is limited too
def login_password():
    operator = operators.check_password(request.form.get("username", "")[:64], request.form.get("password", "")[:256],
                                        request.remote_addr)
    if operator is None:
        flash(f"用户名或密码错误；从同一网络地址连续失败 {operators.MAX_FAILURES} 次，该账号在此地址锁定 15 分钟。", "error")
        return render_template("console/login.html", step="password"), 401
    session.clear()
    session["pending_operator"], session["pending_at"] = operator.id, time.time()
    return redirect(url_for("console.login_totp"))


@bp.get("/login/totp")
def login_totp():
    if not _pending():
        return redirect(url_for("console.login"))
    return render_template("console/login.html", step="totp")


@bp.post("/login/totp")
@login_limit
def login_totp_check():
    operator = _pending()
    if operator is None:
        return redirect(url_for("console.login"))
    if not operators.check_totp(operator, request.form.get("code", "")[:16], request.remote_addr):
        flash("动态验证码不正确或已使用过；请输入验证器 App 上的新验证码。", "error")
        return render_template("console/login.html", step="totp"), 401
    sign_in(operator)
    audit.record(f"operator:{operator.username}", "console_login", None, ip=request.remote_addr)
    return redirect(url_for("console.dashboard"))


def _pending():
    operator_id, started = session.get("pending_operator"), session.get("pending_at", 0)
    if operator_id is None or time.time() - started > PENDING_SECONDS:
        return None
    operator = db.session.get(Operator, operator_id)
    if operator is None or operator.disabled or operators.locked(operator.username, request.remote_addr):
        return None
    return operator


def sign_in(operator):
    """A fresh session (new cookie contents, a new session in Redis) for the operator."""
    session.clear()
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    login_user(SignedIn(operator, console_sessions.start(operator.id, lifetime)))
    session.permanent = True


@bp.post("/logout")
@login_required
def logout():
    console_sessions.end(current_user.id)
    logout_user()
    session.clear()
    return redirect(url_for("console.login"))


@bp.get("/")
@login_required
def home():
    return redirect(url_for("console.dashboard"))
