"""Built-in secrets run only in the explicit dev mode; anything that looks like production refuses to start."""
import os
import stat
import subprocess
import sys

import pytest
from stack_process import REPO, TEST_MEDIA_SECRET, TEST_SECRET

from backend import create_app
from backend.config import DEV_SECRETS

STRONG = {"SECRET_KEY": TEST_SECRET, "MEDIA_SECRET": TEST_MEDIA_SECRET}
PRODUCTION_LOOKS = [
    {"WECHAT_APPID": "wx0123456789abcdef", "WECHAT_SECRET": "app-secret", "WECHAT_PUSH_TOKEN": "push-token",
     "WECHAT_PUSH_AES_KEY": "a" * 43},
    {"ENV": "prod"},
    {"ENV": "Production"},
    {"ENV": "PRODUCTION"},
    {"ENV": ""},  # unset: only the explicit dev mode may use built-in secrets
    {"ENV": "development", "PUBLIC_BASE_URL": "https://stickers.example.com"},
    {"ENV": "development", "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u:p@db.example.com/voxmoji"},
]


@pytest.mark.parametrize("looks", PRODUCTION_LOOKS, ids=lambda looks: ",".join(f"{k}={v}" for k, v in looks.items()))
@pytest.mark.parametrize("secrets", ["missing", "built-in", "short"])
def test_production_looking_config_refuses_weak_secrets(looks, secrets):
    values = {"missing": {"SECRET_KEY": "", "MEDIA_SECRET": ""},
              "built-in": dict(DEV_SECRETS),
              "short": {"SECRET_KEY": "s" * 31, "MEDIA_SECRET": "m" * 31}}[secrets]
    with pytest.raises(RuntimeError, match="VOXMOJI_SECRET_KEY|VOXMOJI_MEDIA_SECRET") as refused:
        create_app({"DEV_LOGIN": False, "SQLALCHEMY_DATABASE_URI": "sqlite://", **looks, **values})
    assert any(why in str(refused.value) for why in ("bytes", "not set", "built-in dev secret"))


@pytest.mark.parametrize("looks", PRODUCTION_LOOKS[:4], ids=["wechat", "prod", "Production", "PRODUCTION"])
def test_production_with_strong_secrets_starts(looks):
    app = create_app({"DEV_LOGIN": False, "SQLALCHEMY_DATABASE_URI": "sqlite://", **looks, **STRONG})
    assert app.config["SECRET_KEY"] == TEST_SECRET


def test_short_secret_refused_even_in_dev_mode():
    with pytest.raises(RuntimeError, match="VOXMOJI_SECRET_KEY has 5 bytes"):
        create_app({"ENV": "development", "SECRET_KEY": "short", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_explicit_dev_mode_may_use_built_in_secrets():
    app = create_app({"ENV": "development", "SECRET_KEY": "", "MEDIA_SECRET": "", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["SECRET_KEY"] == DEV_SECRETS["SECRET_KEY"]


@pytest.mark.parametrize("looks", [
    {"PUBLIC_BASE_URL": "https://stickers.example.com"},
    {"ENV": "", "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u:p@127.0.0.1/voxmoji"},
    {"ENV": "production"},
    {"WECHAT_APPID": "wx0123456789abcdef", "WECHAT_SECRET": "app-secret", "WECHAT_PUSH_TOKEN": "push-token"},
], ids=["public-url", "postgres-env-unset", "production", "wechat"])
def test_dev_login_is_refused_whenever_the_stack_looks_public(looks):
    """F11: the dev login (any code is a user) refuses a public URL, and PostgreSQL without the explicit dev mode."""
    with pytest.raises(RuntimeError, match="VOXMOJI_DEV_LOGIN=1"):
        create_app({"DEV_LOGIN": True, "ENV": "development", "SQLALCHEMY_DATABASE_URI": "sqlite://", **STRONG, **looks})


def test_dev_login_refused_by_the_running_stack_with_a_public_url(tmp_path):
    done = _stack_command("nginx", {"VOXMOJI_DEV_LOGIN": "1", "VOXMOJI_ENV": "development", "VOXMOJI_SECRET_KEY":
                                    TEST_SECRET, "VOXMOJI_MEDIA_SECRET": TEST_MEDIA_SECRET,
                                    "PUBLIC_BASE_URL": "https://stickers.example.com"}, tmp_path)
    assert done.returncode != 0 and "VOXMOJI_DEV_LOGIN=1" in done.stderr and "stickers.example.com" in done.stderr


def _stack_command(service, env, tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("VOXMOJI_", "WECHAT_"))}
    environ.update({"VOXMOJI_VAR_DIR": str(tmp_path), **env})
    return subprocess.run([sys.executable, "-m", "backend.stack", service], cwd=REPO, env=environ,
                          capture_output=True, text=True, timeout=120)


def test_stack_service_refuses_to_start_with_wechat_and_default_secrets(tmp_path):
    """What a deployment would run: the web service, and the Nginx service (it needs only the media secret,
    which it renders: the nginx image is given no other), exit with the message."""
    wechat = {"WECHAT_APPID": "wx0123456789abcdef", "WECHAT_SECRET": "s"}
    for service, missing in (("web", "VOXMOJI_SECRET_KEY"), ("nginx", "VOXMOJI_MEDIA_SECRET")):
        done = _stack_command(service, wechat, tmp_path)
        assert done.returncode != 0
        assert f"{missing} is not set" in done.stderr and "WeChat credentials are set" in done.stderr, service


def test_make_run_generates_and_keeps_random_secrets(tmp_path):
    done = _stack_command("prepare", {}, tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "secrets.env"
    first = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in first.splitlines() if line and not line.startswith("#"))
    assert set(values) == {"VOXMOJI_SECRET_KEY", "VOXMOJI_MEDIA_SECRET"}
    assert all(len(v) >= 32 for v in values.values()) and values["VOXMOJI_SECRET_KEY"] != values["VOXMOJI_MEDIA_SECRET"]
    assert _stack_command("prepare", {}, tmp_path).returncode == 0
    assert path.read_text() == first  # kept, not regenerated
    media_secret = values["VOXMOJI_MEDIA_SECRET"].strip()
    assert media_secret in (tmp_path / "nginx" / "nginx.conf").read_text()
