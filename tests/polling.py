"""Waiting in tests for something the stack does on its own time (a worker, the sweeper, a heartbeat)."""
import time


def wait_for(predicate, timeout=60, step=0.2):
    """Poll `predicate` until it returns something truthy (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")
