"""Extensions created at module level and bound to the app in create_app."""
import os
import threading
from pathlib import Path

import redis
import sqlalchemy as sa
from flask import current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

MIGRATIONS_DIR = str(Path(__file__).resolve().parent / "migrations")
WAL_SIZE_LIMIT = 64 * 1024 * 1024


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate(directory=MIGRATIONS_DIR)


def _is_sqlite(dbapi_connection):
    return type(dbapi_connection).__module__.startswith("sqlite3")


@sa.event.listens_for(sa.Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """WAL lets readers and one writer work together; busy_timeout waits instead of failing."""
    if _is_sqlite(dbapi_connection):
        # The driver's own transaction handling is off; SQLAlchemy's "begin" event below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # The write-ahead log is folded back every ~4 MB (1000 pages) when no reader pins it, and truncated
        # to at most 64 MB afterwards; beat also runs wal_checkpoint(TRUNCATE) (tasks.sweep_jobs).
        cursor.execute("PRAGMA wal_autocheckpoint=1000")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cursor.close()


@sa.event.listens_for(sa.Engine, "begin")
def _sqlite_begin(connection):
    """SQLite: BEGIN IMMEDIATE for write transactions (take the write lock up front, waiting for it,
    instead of failing when a read transaction later tries to write), plain BEGIN otherwise."""
    if connection.dialect.name == "sqlite":
        immediate = connection.get_execution_options().get("sqlite_immediate")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def init_redis(app):
    """One connection pool per process, shared by every request and task."""
    app.extensions["redis"] = redis.Redis.from_url(
        app.config["REDIS_URL"], socket_timeout=30, socket_connect_timeout=5, health_check_interval=30
    )
    app.extensions["redis_by_thread"] = threading.local()


def get_redis():
    """The current app's Redis client for this thread: one connection of the process's pool that the thread
    keeps (a command needs no checkout from the pool; pub/sub and pipelines still take their own)."""
    mine = current_app.extensions["redis_by_thread"]
    if getattr(mine, "pid", None) != os.getpid():  # new thread, or a forked child: never a parent's socket
        shared = current_app.extensions["redis"]
        try:  # taking the connection connects: with Redis down, the shared client fails when it is used instead
            mine.client = redis.Redis(connection_pool=shared.connection_pool, single_connection_client=True)
        except redis.RedisError:
            return shared
        mine.pid = os.getpid()
    return mine.client
