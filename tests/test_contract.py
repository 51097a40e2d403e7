"""Schemathesis against the running stack, as an operator would run it: zero server errors, zero
undocumented statuses, zero responses that break their documented schema. Bounded examples per operation
and a fixed seed, so it stays quick and repeatable in CI."""
import subprocess
import time

from api_client import Api
from stack_process import REPO

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 15


def schemathesis(stack, tmp_path, token, *selection):
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "schemathesis"), "run", stack.base_url + "/openapi.json",
         "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES), "--generation-deterministic",
         "--phases", "examples,coverage,fuzzing", "--request-timeout", "60", "--continue-on-failure",
         "-H", f"Authorization: Bearer {token}", "--no-color", *selection],
        cwd=tmp_path, capture_output=True, text=True, timeout=900)
    summary = done.stdout[-8000:]
    assert done.returncode == 0, summary
    assert "Tested: " in summary and "Failures:" not in summary, summary
    return summary


def test_the_user_api_keeps_its_contract(stack, tmp_path):
    token = Api(stack.base_url, f"schemathesis-{time.monotonic_ns()}").tokens["access_token"]
    # DELETE /api/v1/me would end this user's session for every operation after it: it gets its own run
    schemathesis(stack, tmp_path, token, "--exclude-path-regex", "^/api/v1/(admin/|me$)")


def test_deleting_the_account_keeps_its_contract(stack, tmp_path):
    token = Api(stack.base_url, f"schemathesis-erase-{time.monotonic_ns()}").tokens["access_token"]
    summary = schemathesis(stack, tmp_path, token, "--include-path-regex", "^/api/v1/me$")
    assert "Tested: 2" in summary  # GET and DELETE


def test_the_operator_api_keeps_its_contract(stack, tmp_path):
    from backend.services.backoffice import api_keys

    with stack.app_context():
        _, key = api_keys.create(f"schemathesis-{time.monotonic_ns()}")
    summary = schemathesis(stack, tmp_path, key, "--include-path-regex", "^/api/v1/admin/")
    assert "Tested: 1" in summary


def test_the_openai_compatible_speech_keeps_its_contract(stack, tmp_path):
    from backend.services.backoffice import api_keys

    user = Api(stack.base_url, f"schemathesis-speech-{time.monotonic_ns()}").user
    with stack.app_context():
        _, key = api_keys.create(f"schemathesis-speech-{time.monotonic_ns()}", "speech", user["id"])
    summary = schemathesis(stack, tmp_path, key, "--include-path-regex", "^/v1/")
    assert "Tested: 1" in summary


def test_the_user_api_keeps_its_contract_on_postgresql(pg_stack, tmp_path):
    """The same run on the production database, which refuses what SQLite stores (NUL characters, integers beyond
    BIGINT): a class of 500s that only PostgreSQL shows cannot come back unseen."""
    token = Api(pg_stack.base_url, f"schemathesis-pg-{time.monotonic_ns()}").tokens["access_token"]
    schemathesis(pg_stack, tmp_path, token, "--exclude-path-regex", "^/api/v1/(admin/|me$)")
