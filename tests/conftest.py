"""Fixtures: the real stack (Redis, gunicorn, Celery worker and beat, Nginx) on a free port under a temp dir."""
import base64
import os
import time

import pytest

from support import Api, Stack, reference_voice, wav_bytes


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("stack")
    os.chmod(root, 0o755)
    stack = Stack(root)
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture
def api(stack, request):
    return Api(stack.base_url, f"user-{request.node.name}-{time.monotonic_ns()}")


@pytest.fixture
def other_api(stack, request):
    return Api(stack.base_url, f"other-{request.node.name}-{time.monotonic_ns()}")


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
