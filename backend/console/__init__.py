"""The operator console at /admin/: server-rendered pages in Chinese for moderators, finance and admins.

Built on kept libraries: Flask-Login (the operator's session), Flask-WTF (CSRF on every state change),
pyotp (TOTP second factor), argon2-cffi (password hashes). The pages are workflows over the services that
keep the invariants (ledger, moderation, recharges), not generic table editors, so no admin framework sits
between them and the database. Accounts: `flask --app backend create-admin`.
"""
from backend.console.blueprint import bp, csrf, login_manager


def init_app(app):
    """Sessions for /admin only (HttpOnly, SameSite=Strict, Secure behind HTTPS), CSRF checked by the console."""
    secure = app.config["PUBLIC_BASE_URL"].startswith("https://")
    app.config.update(SESSION_COOKIE_NAME="voxmoji_console", SESSION_COOKIE_PATH="/admin", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_SECURE=secure, REMEMBER_COOKIE_SECURE=secure, REMEMBER_COOKIE_HTTPONLY=True,
                      PERMANENT_SESSION_LIFETIME=8 * 3600, WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=8 * 3600)
    login_manager.init_app(app)
    csrf.init_app(app)
    from backend.console import access, moderation, money, overview, people, team, templates  # noqa: F401 - the pages

    app.register_blueprint(bp)
