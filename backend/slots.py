"""A bound on how many requests of a web process do one expensive thing at once (decode a photo, hold a
long-poll): a semaphore per process, sized from the configuration when first used."""
import threading
from contextlib import contextmanager

from flask import current_app


class ProcessSlots:
    """At most config[size_key] holders at once in this process."""

    def __init__(self, size_key):
        self.size_key = size_key
        self._semaphore = None
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, timeout=0.0):
        """Yield True with a slot (waiting up to `timeout` seconds for one), False without."""
        with self._lock:
            if self._semaphore is None:
                self._semaphore = threading.BoundedSemaphore(current_app.config[self.size_key])
        acquired = self._semaphore.acquire(timeout=timeout) if timeout > 0 else self._semaphore.acquire(False)
        try:
            yield acquired
        finally:
            if acquired:
                self._semaphore.release()
