"""Waiting in tests for something the stack does on its own time (a worker, the sweeper, a heartbeat)."""
import time


def outlast_refresh(interval=1.0):
    """Let one documented refresh interval pass: each web process re-reads the word list and the fleet at most
    `interval` seconds after the last time it did, measured on its own clock, so past that bound every process
    sees the change whatever the load. This waits on a bound the code guarantees, not on a guess at how long
    the stack takes to do something."""
    time.sleep(interval * 1.2)


def wait_for(predicate, timeout=60, step=0.2):
    """Poll `predicate` until it returns something truthy (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")
