"""Write transactions that are safe under concurrency on SQLite and PostgreSQL."""
from contextlib import contextmanager

from backend.extensions import db


@contextmanager
def write_transaction():
    """Run the block in one transaction that starts by taking the write lock on SQLite.

    Any read transaction the session had open is ended first, so the block sees the
    latest committed state. Commits on success, rolls back on error.
    """
    db.session.commit()
    db.session.connection(execution_options={"sqlite_immediate": True})
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
