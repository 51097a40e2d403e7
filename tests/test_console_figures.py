"""What the console's pages say about jobs and money, on a database of their own (so the figures are exact):
refused input is not a failure on the dashboard, a released or refunded job cost its user nothing, and ledger and
job kinds show in Chinese. The app is the real one (Redis of a running stack for the console's sessions)."""
import re
from datetime import timedelta

import pyotp
import pytest
from flask_migrate import upgrade

from backend import create_app
from backend.extensions import db
from backend.models import Job, User, utcnow
from backend.services.backoffice import operators
from backend.services.jobs import ledger
from backend.transactions import write_transaction
from backend.vocabulary import KIND_LABELS, LEDGER_KIND_LABELS

PASSWORD = "correct horse battery staple"


@pytest.fixture
def console(pre_stack, tmp_path):
    """(app, a test client signed in as an admin) on an empty database."""
    app = create_app(pre_stack.app_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/figures.db"))
    with app.app_context():
        upgrade()
        _operator, secret = operators.create(f"figures-{tmp_path.name}", PASSWORD, "admin")
        username = _operator.username
        db.session.remove()
    client = app.test_client()

    def post(path, **data):
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)
        return client.post(path, data={"csrf_token": token, **data})

    assert post("/admin/login", username=username, password=PASSWORD).status_code == 302
    assert post("/admin/login/totp", code=pyotp.TOTP(secret).now()).status_code == 302
    yield app, client
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def add_job(user_id, kind, status, charge="none", error_code=None, cost=1):
    """A job row as the lifecycle leaves it (its ledger rows written by the ledger service)."""
    with write_transaction():
        job = Job(user_id=user_id, kind=kind, status=status, engine="classic", cost=cost, params={},
                  charge="none" if charge == "none" else "held",
                  cache_key=f"k-{utcnow().timestamp()}-{kind}-{status}-{error_code}", error_code=error_code,
                  created_at=utcnow() - timedelta(minutes=1))
        db.session.add(job)
        db.session.flush()
        if charge != "none":
            ledger.hold(user_id, job.id, cost)
            ledger.settle(job.id, "capture" if charge in ("captured", "refunded") else "release")
        if charge == "refunded":
            ledger.refund(job.id, "withdrawn by moderation")
    return job.id


def test_refused_input_is_not_a_failure_and_refunds_cost_nothing(console):
    app, client = console
    with app.app_context():
        with write_transaction():
            user = User(openid="figures-user")
            db.session.add(user)
        with write_transaction():
            ledger.credit(user.id, 10, "recharge", batch_id="b-figures", note="test")
        user_id = user.id
        for _ in range(5):
            add_job(user_id, "sticker", "succeeded", "captured")
        for _ in range(3):
            add_job(user_id, "sticker", "failed", "released", "no_face_detected")  # photos without a face
        add_job(user_id, "tts", "failed", "released", "invalid_audio")
        add_job(user_id, "sticker", "failed", "released", "engine_failed")  # the service's own failure
        refunded = add_job(user_id, "swap", "blocked", "refunded")
        db.session.remove()
    dashboard = client.get("/admin/dashboard").text
    assert re.search(r'id="failure-rate">10\.0%<', dashboard), dashboard  # 1 of 10 finished, not 5 of 10
    assert "服务失败 1 个" in dashboard and "另有 4 个因输入不合格被拒绝" in dashboard
    assert f"{KIND_LABELS['emoji']} · classic" in dashboard and "sticker · classic" not in dashboard

    page = client.get(f"/admin/users/{user_id}").text
    rows = {job_id: cells for job_id, *cells in re.findall(
        r"<tr><td>[^<]*</td><td>(t_[^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>[^<]*</td><td class=\"num\">(\d+)</td>",
        page)}
    assert len(rows) == 11
    assert rows[refunded] == [KIND_LABELS["swap"], "已撤回", "0"]  # captured, then given back: paid nothing
    paid = sorted(int(cost) for _kind, _status, cost in rows.values())
    assert paid == [0] * 6 + [1] * 5  # the failed (released) jobs cost nothing either
    kinds = set(re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td><td class=\"num\">-?\d+</td>", page))
    assert kinds == {LEDGER_KIND_LABELS[kind] for kind in ("recharge", "hold", "capture", "release", "adjust")}
    for raw in ("hold", "capture", "release", "adjust", "recharge", "sticker", "succeeded"):
        assert f"<td>{raw}</td>" not in page
