"""SQLite's write-ahead log can always be folded back: no request holds a read transaction while it waits."""
import sqlite3
import threading
import time

from api_client import Api
from polling import wait_for


def test_held_long_polls_do_not_pin_the_write_ahead_log(stack):
    holder = Api(stack.base_url, f"wal-holder-{time.monotonic_ns()}")
    stack.stop("worker")  # the job stays queued, so every wait lasts its full time
    try:
        task = holder.post("/api/v1/emoji", json={"template_id": "panda", "text": "等待中的检查点"}).json()
        url = f"/api/v1/tasks/{task['task_id']}?wait=15"
        waits = [threading.Thread(target=holder.get, args=(url,), daemon=True) for _ in range(2)]
        for thread in waits:
            thread.start()
        wait_for(lambda: stack.waits_held(holder.user["id"]) == 2, timeout=30)
        for n in range(20):  # writes while the waits are held: new users, grants, ledger rows
            Api(stack.base_url, f"wal-writer-{n}-{time.monotonic_ns()}")
        assert all(thread.is_alive() for thread in waits)  # the waits are still being held
        connection = sqlite3.connect(stack.root / "voxmoji.db", timeout=15)
        try:
            busy, log_pages, checkpointed = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            connection.close()
        assert busy == 0 and log_pages == checkpointed == 0, (busy, log_pages, checkpointed)
        assert (stack.root / "voxmoji.db-wal").stat().st_size == 0
        for thread in waits:
            thread.join(timeout=30)
    finally:
        stack.start("worker")
        stack.wait_ready()


def test_beat_checkpoints_the_log(stack):
    """The sweeper (every 2 s in the tests) truncates the log; its result is logged by the worker."""
    Api(stack.base_url, f"wal-beat-{time.monotonic_ns()}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "'wal_checkpoint': (0," in (stack.root / "worker.log").read_text():
            return
        time.sleep(0.5)
    raise AssertionError("no successful wal_checkpoint(TRUNCATE) in the worker log")
