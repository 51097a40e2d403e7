"""Copies of database rows kept outside the database (in a process, or as JSON in Redis), and joined back to a
request's session without a query. A copy holds the column values it was made with; the columns it lacks load
from the database when first used. Whoever keeps copies decides when they are stale."""
import functools
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state

from backend.extensions import db


def copy_of(row, names=None):
    """The row's column values (all, or `names`)."""
    return {column.key: getattr(row, column.key) for column in row.__table__.columns
            if names is None or column.key in names}


def as_json(value):
    """json.dumps's `default` for a copy: datetimes as ISO strings (attach reads them back)."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def attach(model, columns):
    """A persistent `model` instance with these column values (as copy_of made them, or read back from JSON),
    in this request's session: the instance the session already has for that row, else one made as if loaded,
    with no query. The columns the copy lacks load when first used."""
    mapper = sa.inspect(model)
    key = mapper.identity_key_from_primary_key([columns[column.key] for column in mapper.primary_key])
    present = db.session.identity_map.get(key)
    if present is not None:
        return present
    instance = detached(model, columns)
    db.session.add(instance)
    return instance


def detached(model, columns):
    """A `model` instance made from a copy as if loaded, outside any session: for reading a copy that holds
    every column the reader uses (nothing can load later)."""
    instance = sa.inspect(model).class_manager.new_instance()
    dates = _datetime_columns(model)
    instance_state(instance).dict.update(
        {name: datetime.fromisoformat(value) if isinstance(value, str) and name in dates else value
         for name, value in columns.items()})
    make_transient_to_detached(instance)  # its identity from the primary key, no pending changes
    return instance


@functools.cache
def _datetime_columns(model):
    """The names of the model's datetime columns (a copy read back from JSON holds them as ISO strings)."""
    return frozenset(column.key for column in model.__table__.columns if isinstance(column.type, sa.DateTime))
