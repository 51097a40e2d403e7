"""The operator console at /admin/: server-rendered pages in Chinese for moderators, finance and admins.

Built on kept libraries: Flask-Login (the operator's session), Flask-WTF (CSRF on every state change),
pyotp (TOTP second factor), argon2-cffi (password hashes). The pages are workflows over the services that
keep the invariants (ledger, moderation, recharges), not generic table editors, so no admin framework sits
between them and the database. Accounts: `flask --app backend create-admin`.
"""
from flask import Blueprint
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

bp = Blueprint("console", __name__, url_prefix="/admin", template_folder="templates", static_folder="static",
               static_url_path="/static")
login_manager = LoginManager()
csrf = CSRFProtect()

# page -> (title, roles that see it); the navigation and every view's guard read this one table
PAGES = {
    "dashboard": ("概览", ("admin", "moderator", "finance")),
    "review": ("审核队列", ("admin", "moderator")),
    "users": ("用户", ("admin", "moderator", "finance")),
    "recharges": ("充值", ("admin", "finance")),
    "audit": ("审计日志", ("admin", "finance")),
    "templates": ("表情模板", ("admin", "moderator")),
    "words": ("敏感词", ("admin", "moderator")),
    "keys": ("API 密钥", ("admin",)),
}


# the view each page's navigation link opens
ENTRY_POINTS = {"dashboard": "dashboard", "review": "review_queue", "users": "users", "recharges": "recharge_form",
                "audit": "audit_log", "templates": "templates_page", "words": "words", "keys": "keys"}
ROLE_NAMES = {"admin": "管理员", "moderator": "审核员", "finance": "财务"}


@bp.context_processor
def navigation():
    return {"pages": PAGES, "entry_points": ENTRY_POINTS, "role_names": ROLE_NAMES}


def init_app(app):
    """Sessions for /admin only (HttpOnly, SameSite=Strict, Secure behind HTTPS), CSRF checked by the console."""
    secure = app.config["PUBLIC_BASE_URL"].startswith("https://")
    app.config.update(SESSION_COOKIE_NAME="voxmoji_console", SESSION_COOKIE_PATH="/admin", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_SECURE=secure, REMEMBER_COOKIE_SECURE=secure, REMEMBER_COOKIE_HTTPONLY=True,
                      PERMANENT_SESSION_LIFETIME=8 * 3600, WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=8 * 3600)
    login_manager.init_app(app)
    csrf.init_app(app)
    from backend.console import access, catalog, money, moderation, overview, people  # noqa: F401 - routes

    app.register_blueprint(bp)
