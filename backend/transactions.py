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


def end_read():
    """End the session's read transaction before a slow step (decoding, waiting), so no snapshot pins the
    SQLite write-ahead log meanwhile; rows already loaded are read again when next used."""
    db.session.commit()


def checkpoint():
    """SQLite: fold the write-ahead log into the database and truncate it (beat runs this periodically).
    Returns (busy, log pages, checkpointed pages), or None on other databases."""
    if db.engine.dialect.name != "sqlite":
        return None
    db.session.commit()
    with db.engine.connect() as connection:
        return tuple(connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first())
