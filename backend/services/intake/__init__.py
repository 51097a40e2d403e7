"""Turning a request into a job: parse and check it, pick the engine, fingerprint it, submit it."""
