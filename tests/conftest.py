"""Fixtures: the real stack (Redis, gunicorn, Celery worker and beat, Nginx) on a free port under a temp dir."""
import base64
import os
import time

import pytest
from api_client import Api
from media_samples import reference_voice, wav_bytes
from stack_process import Stack

# In-process apps built by tests run in the explicit dev mode unless a test says otherwise.
os.environ.setdefault("VOXMOJI_ENV", "development")
# The container image tests build images and run compose.yaml with podman: `make test` (and `make test-images`)
# installs it and sets VOXMOJI_IMAGE_TESTS; a bare `pytest` leaves them out.
collect_ignore = [] if os.environ.get("VOXMOJI_IMAGE_TESTS") else ["images"]


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    with Stack(tmp_path_factory.mktemp("stack")) as stack:
        yield stack


@pytest.fixture(scope="session")
def pg_stack(tmp_path_factory):
    """The same stack on PostgreSQL (a throwaway cluster unless VOXMOJI_TEST_POSTGRES_URL is set)."""
    from postgres import postgres_url

    url, cluster = postgres_url()
    try:
        with Stack(tmp_path_factory.mktemp("pg-stack"), DATABASE_URL=url) as stack:
            yield stack
    finally:
        if cluster is not None:
            cluster.stop()


@pytest.fixture(scope="session")
def wechat():
    """A local server speaking WeChat's server protocol (tests/wechat_standin.py); its base URL."""
    from wechat_standin import serve

    with serve() as url:
        yield url


def _wechat_stack(root, wechat, policy):
    """The stack as a WeChat mini-program runs it: real logins and media moderation through the stand-in."""
    from wechat_standin import APPID, PUSH_AES_KEY, PUSH_TOKEN, SECRET

    return Stack(root, services=("redis", "web", "worker", "nginx"), VOXMOJI_DEV_LOGIN="0", WECHAT_APPID=APPID,
                 WECHAT_SECRET=SECRET, WECHAT_PUSH_TOKEN=PUSH_TOKEN, WECHAT_PUSH_AES_KEY=PUSH_AES_KEY, WECHAT_API_BASE=wechat,
                 WECHAT_TIMEOUT="3",
                 VOXMOJI_MODERATION=policy, VOXMOJI_CONSENT_CHECK="auto")  # a public stack: consent is checked


@pytest.fixture(scope="session")
def post_stack(tmp_path_factory, wechat):
    """A WeChat stack with VOXMOJI_MODERATION=post (deliver, withdraw on a risky verdict)."""
    with _wechat_stack(tmp_path_factory.mktemp("moderated-post"), wechat, "post") as stack:
        yield stack


@pytest.fixture(scope="session")
def pre_stack(tmp_path_factory, wechat):
    """A WeChat stack with VOXMOJI_MODERATION=pre (results wait in `reviewing` until they pass)."""
    with _wechat_stack(tmp_path_factory.mktemp("moderated-pre"), wechat, "pre") as stack:
        yield stack


@pytest.fixture
def wechat_app(stack, wechat, tmp_path):
    """An in-process app with WeChat credentials, talking to the stand-in, on a database of its own."""
    from flask_migrate import upgrade
    from wechat_standin import APPID, PUSH_AES_KEY, PUSH_TOKEN, SECRET, WeChatStandIn

    from backend import create_app
    from backend.extensions import db

    app = create_app(stack.app_config(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/wechat.db", DEV_LOGIN=False, WECHAT_APPID=APPID,
        WECHAT_SECRET=SECRET, WECHAT_PUSH_TOKEN=PUSH_TOKEN, WECHAT_PUSH_AES_KEY=PUSH_AES_KEY, WECHAT_API_BASE=wechat,
        CONSENT_CHECK="auto", WECHAT_TIMEOUT=2.0, LIMIT_LOGIN="1000/minute"))
    with app.app_context():
        upgrade()
        db.session.remove()
    WeChatStandIn.calls = []
    return app


@pytest.fixture(scope="session")
def mellotron_dir(tmp_path_factory):
    """mellotron-zh's files converted from the installed ttskit and phkit wheels (what `make mellotron` does)."""
    from backend.engines.mellotron_weights import convert

    return convert(tmp_path_factory.mktemp("mellotron-zh"))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 server (SeaweedFS) on free ports, shared by the tests that need one."""
    from s3server import S3Server

    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_stack(tmp_path_factory, s3_server):
    """The stack with its media in an S3 bucket (VOXMOJI_MEDIA_STORAGE=s3) instead of a local directory."""
    stack = Stack(tmp_path_factory.mktemp("s3-stack"), **s3_server.env("voxmoji-media"))
    stack.run_python("-m", "flask", "--app", "backend", "media", "prepare-bucket")
    with stack:
        yield stack


@pytest.fixture(params=["local", "s3"])
def media_stack(request):
    """Run a test on the stack with local media and on the stack with media in S3."""
    return request.getfixturevalue("stack" if request.param == "local" else "s3_stack")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_stack(request):
    """Run a test on the SQLite stack and on the PostgreSQL stack."""
    return request.getfixturevalue("stack" if request.param == "sqlite" else "pg_stack")


@pytest.fixture
def api(stack, request):
    return Api(stack.base_url, f"user-{request.node.name[:80]}-{time.monotonic_ns()}")


@pytest.fixture
def other_api(stack, request):
    return Api(stack.base_url, f"other-{request.node.name[:80]}-{time.monotonic_ns()}")


@pytest.fixture(scope="session")
def low_voice():
    return reference_voice(110.0, formant_shift=0.92)


@pytest.fixture(scope="session")
def high_voice():
    return reference_voice(220.0, formant_shift=1.12)


@pytest.fixture(scope="session")
def low_voice_wav(low_voice):
    return wav_bytes(low_voice)


@pytest.fixture(scope="session")
def high_voice_b64(high_voice):
    return base64.b64encode(wav_bytes(high_voice)).decode()
