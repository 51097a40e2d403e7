"""A Hypothesis state machine over the money paths: the ledger explains every balance, always."""
import time

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule, run_state_machine_as_test

from backend import create_app
from backend.celery_tasks import expire_holds
from backend.errors import ApiError
from backend.extensions import db
from backend.models import Job, LedgerEntry, User, new_id
from backend.services.backoffice import recharges
from backend.services.jobs import lifecycle, submission


@pytest.fixture(scope="module")
def app(stack, tmp_path_factory):
    path = tmp_path_factory.mktemp("ledger-machine") / "ledger.db"
    app = create_app(stack.app_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", SIGNUP_GRANT=5))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    return app


def test_ledger_state_machine(app, monkeypatch):
    monkeypatch.setattr(lifecycle, "enqueue", lambda job: True)  # the machine plays the worker itself

    class Money(RuleBasedStateMachine):
        """Submit, succeed, fail, cancel, recharge, expire holds, and deliver twice, in any order."""

        open_jobs = Bundle("open_jobs")
        done_jobs = Bundle("done_jobs")

        def __init__(self):
            super().__init__()
            self.context = app.app_context()
            self.context.push()
            from backend.auth import user_for_openid

            self.user = user_for_openid(f"machine-{time.monotonic_ns()}")
            self.expected_balance = 5
            self.held_costs = {}

        def teardown(self):
            db.session.remove()
            self.context.pop()

        @rule(target=open_jobs, cost=st.integers(1, 4))
        def submit(self, cost):
            available = self.expected_balance - sum(self.held_costs.values())
            try:
                job = submission.submit(self.user, "tts", {"n": new_id("p")}, new_id("k"), "espeak-world", cost)
            except ApiError as error:
                assert error.code == "insufficient_tokens" and available < cost
                return None
            assert available >= cost
            self.held_costs[job.id] = cost
            return job.id

        @rule(target=done_jobs, job_id=consumes(open_jobs))
        def succeed(self, job_id):
            if job_id is None:
                return None
            if lifecycle.finish(job_id, "succeeded", result_path="tts/xx/x.mp3"):
                self.expected_balance -= self.held_costs.pop(job_id)
            return job_id

        @rule(target=done_jobs, job_id=consumes(open_jobs), code=st.sampled_from(["engine_failed", "invalid_request"]))
        def fail(self, job_id, code):
            if job_id is None:
                return None
            if lifecycle.finish(job_id, "failed", error_code=code):
                self.held_costs.pop(job_id)
            return job_id

        @rule(target=done_jobs, job_id=consumes(open_jobs))
        def cancel(self, job_id):
            if job_id is None:
                return None
            job = db.session.get(Job, job_id)
            if lifecycle.cancel(job).status == "canceled":
                self.held_costs.pop(job_id)
            return job_id

        @rule(job_id=done_jobs, outcome=st.sampled_from(["succeeded", "failed"]))
        def deliver_again(self, job_id, outcome):
            """At-least-once delivery: a second finish of a finished job changes nothing."""
            if job_id is not None:
                assert lifecycle.finish(job_id, outcome) is False

        @rule(amount=st.integers(1, 6))
        def recharge(self, amount):
            batch = recharges.Batch([recharges.Line(self.user.id, amount)], "machine")
            result = recharges.apply(batch, new_id("b"), actor="machine")
            assert len(result["succeeded"]) == 1
            self.expected_balance += amount

        @rule()
        def expire(self):
            """Age every open hold past twice the hard limit; the beat task releases them."""
            db.session.execute(sa.update(Job).where(Job.user_id == self.user.id, Job.charge == "held")
                               .values(created_at=sa.text("'2000-01-01 00:00:00'")))
            db.session.commit()
            expire_holds()
            self.held_costs.clear()

        @invariant()
        def ledger_explains_the_user(self):
            db.session.commit()
            user = db.session.get(User, self.user.id)
            db.session.refresh(user)
            deltas, held_deltas = db.session.execute(
                sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.delta), 0),
                          sa.func.coalesce(sa.func.sum(LedgerEntry.held_delta), 0))
                .where(LedgerEntry.user_id == user.id)).one()
            open_holds = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Job.cost), 0))
                                           .where(Job.user_id == user.id, Job.charge == "held"))
            assert user.balance == deltas == self.expected_balance
            assert user.held == held_deltas == open_holds == sum(self.held_costs.values())
            assert user.balance - user.held >= 0
            captures = db.session.execute(
                sa.select(LedgerEntry.job_id, sa.func.count()).where(LedgerEntry.user_id == user.id,
                                                                     LedgerEntry.kind == "capture")
                .group_by(LedgerEntry.job_id)).all()
            assert all(count == 1 for _, count in captures)

    run_state_machine_as_test(Money, settings=settings(
        max_examples=30, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
