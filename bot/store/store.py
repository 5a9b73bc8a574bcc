"""The store: one interface, two engines (SQLite by default, PostgreSQL when ``BOT_DATABASE_URL`` is set).

Code that keeps something opens a transaction and works on the ``Tx`` it gets::

    with store.transaction() as db:
        new_id = db["escalations"].insert({...}).last_pk
        db.execute("update outbox set delivered_at = ? where id = ?", [stamp, row_id])
        rows = db.query("select * from escalations where status = :s", {"s": "open"})

SQL is written once, in the subset both engines speak (``on conflict``, no SQLite-only functions); parameters
are ``?`` (a list) or ``:name`` (a dict). Rows come back as dicts.

SQLite: one connection shared by the threads of a process, behind a lock. Several processes may write to one
file (``serve``, a second ``serve``, staff running ``escalation --set``): every write takes the write lock when
it begins (``BEGIN IMMEDIATE``), so SQLite's busy timeout applies and a writer waits its turn instead of failing
half-way with "database is locked"; still busy after the timeout, it is retried with backoff before giving up.

PostgreSQL: a bounded pool of connections per process, each with a statement time-out; transactions run in
parallel, and ``Tx.lock`` serialises what must not run concurrently (one conversation's turns) with a
transaction-level advisory lock, across processes and machines.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import sqlite3
import threading
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import MetaData, Table, bindparam, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ResourceClosedError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import Float, Integer, String

from . import migrations
from .clock import now

log = logging.getLogger(__name__)
BUSY_TIMEOUT_MS = 30_000
LOCK_RETRIES = 4  # BEGIN IMMEDIATE attempts after the busy timeout expired (each waits the timeout again)
POOL_SIZE = 8  # PostgreSQL connections per process (BOT_DB_POOL_SIZE)
STATEMENT_TIMEOUT_MS = 15_000  # PostgreSQL: a statement running longer is cancelled (BOT_DB_STATEMENT_TIMEOUT_MS)
CONNECT_TIMEOUT_S = 3  # PostgreSQL down: fail fast, the resident gets "请稍后再试" and the hotlines

# What a failing database raises, whichever engine: callers catch this, never a driver's own class.
StoreError = (SQLAlchemyError, sqlite3.Error)


def _is_busy(exc: BaseException) -> bool:
    text_ = str(exc).lower()
    return "locked" in text_ or "busy" in text_


def database_url(target: str | Path) -> str:
    """A path (SQLite) or a libpq URL (``postgresql://user@host:5432/db``) as SQLAlchemy's URL."""
    value = str(target)
    if value.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + value.split("://", 1)[1]
    if value.startswith(("postgresql+", "sqlite:")):
        return value
    return "sqlite://" if value == ":memory:" else f"sqlite:///{value}"


class Inserted:
    __slots__ = ("last_pk",)

    def __init__(self, last_pk):
        self.last_pk = last_pk


class TableOps:
    """The few row operations the bot uses, on one table (named after sqlite-utils', which the store used
    before it had two engines)."""

    def __init__(self, tx: Tx, table: Table):
        self.tx, self.table = tx, table

    def _row(self, row: dict) -> dict:
        out = {}
        columns = self.table.c
        for key, value in row.items():
            if isinstance(value, (dict, list, tuple)):
                value = json.dumps(value, ensure_ascii=False)
            elif isinstance(value, bool):
                value = int(value)
            elif isinstance(value, (int, float)) and key in columns and isinstance(columns[key].type, String):
                value = str(value)
            elif isinstance(value, str) and key in columns and isinstance(columns[key].type, (Integer, Float)):
                value = _number(value, float if isinstance(columns[key].type, Float) else int)
            out[key] = value
        return out

    def insert(self, row: dict) -> Inserted:
        result = self.tx.conn.execute(_insert(self.table), self._row(row))
        key = result.inserted_primary_key
        return Inserted(key[0] if key is not None and len(key) == 1 else tuple(key or ()))

    def insert_all(self, rows) -> None:
        """Insert many rows (one statement per set of columns: rows may name different columns)."""
        batches: dict[tuple, list[dict]] = {}
        for row in rows:
            row = self._row(row)
            batches.setdefault(tuple(sorted(row)), []).append(row)
        for batch in batches.values():
            self.tx.conn.execute(_insert(self.table), batch)

    def upsert(self, row: dict, pk) -> None:
        """Insert the row, or update the given columns of the row with the same key."""
        keys = (pk,) if isinstance(pk, str) else tuple(pk)
        row = self._row(row)
        self.tx.conn.execute(_upsert(self.table, keys, tuple(sorted(row))), row)

    def update(self, pk_value, changes: dict) -> None:
        self.tx.conn.execute(_update(self.table), {**self._row(changes), "_pk": pk_value})


# Statements built once per shape and reused: SQLAlchemy's compiled cache then does the rest (a turn runs
# a dozen of them; building each afresh cost more than running it on SQLite).

@functools.lru_cache(maxsize=256)
def _insert(table: Table):
    return table.insert()


@functools.lru_cache(maxsize=256)
def _update(table: Table):
    (column,) = table.primary_key.columns
    return table.update().where(column == bindparam("_pk"))


@functools.lru_cache(maxsize=512)
def _upsert(table: Table, keys: tuple[str, ...], columns: tuple[str, ...]):
    """``insert … on conflict (keys) do update set c = excluded.c`` as text, the same on both engines (the
    dialects' own on-conflict constructs were compiled afresh on every call)."""
    name = lambda column: '"' + column.replace('"', '""') + '"'  # noqa: E731 ("user", "key" are keywords)
    changes = [c for c in columns if c not in keys]
    action = ("do update set " + ", ".join(f"{name(c)} = excluded.{name(c)}" for c in changes) if changes
              else "do nothing")
    return text(f"insert into {name(table.name)} ({', '.join(map(name, columns))})"
                f" values ({', '.join(':' + c for c in columns)})"
                f" on conflict ({', '.join(map(name, keys))}) {action}")


@functools.lru_cache(maxsize=2048)
def _text(statement: str):
    return text(statement)


def _number(value: str, kind):
    """A numeric string as the number a number column needs (PostgreSQL will not cast it); other text as is."""
    try:
        return kind(value)
    except ValueError:
        return value


def _named(sql: str, params) -> tuple[str, dict]:
    """``?`` placeholders (with a list) as ``:_0, :_1 …`` (with a dict), the form both engines take."""
    if params is None:
        return sql, {}
    if isinstance(params, dict):
        return sql, {k: _param(v) for k, v in params.items()}
    statement, count = _placeholders(sql)
    if count != len(params):
        raise ValueError(f"{count} placeholders, {len(params)} parameters: {sql[:80]}")
    return statement, {f"_{i}": _param(v) for i, v in enumerate(params)}


@functools.lru_cache(maxsize=2048)
def _placeholders(sql: str) -> tuple[str, int]:
    parts = sql.split("?")
    out = parts[0]
    for i, part in enumerate(parts[1:]):
        out += f":_{i}" + part
    return out, len(parts) - 1


def _param(value):
    """A bool as 0/1: the columns are integers, and PostgreSQL will not take a boolean for one."""
    return int(value) if isinstance(value, bool) else value


class Tx:
    """One transaction: tables by name, SQL with parameters."""

    def __init__(self, store: Store, conn: Connection):
        self.store, self.conn, self.backend = store, conn, store.backend

    def __getitem__(self, name: str) -> TableOps:
        return TableOps(self, self.store.table(name))

    def execute(self, sql: str, params=None):
        statement, values = _named(sql, params)
        return self.conn.execute(_text(statement), values)

    def executemany(self, sql: str, rows) -> None:
        rows = list(rows)
        if rows:
            statement, _ = _named(sql, rows[0])
            self.conn.execute(_text(statement), [_named(sql, r)[1] for r in rows])

    def query(self, sql: str, params=None) -> list[dict]:
        return [dict(r) for r in self.execute(sql, params).mappings()]

    def lock(self, key: str) -> None:
        """Hold ``key`` until this transaction ends: other transactions asking for it wait (PostgreSQL's
        transaction-level advisory lock). On SQLite every write transaction holds the file's write lock
        already, so there is nothing more to take."""
        if self.backend == "postgresql":
            self.conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": _lock_id(key)})



def _lock_id(key: str) -> int:
    """A stable signed 64-bit number for a lock's name (the same in every process)."""
    high, low = zlib.crc32(key.encode()), zlib.crc32(key.encode()[::-1] + b"\x01")
    value = (high << 32) | low
    return value - (1 << 64) if value >= 1 << 63 else value


class Store:
    """A thread-safe handle on the bot's database (a SQLite file, or PostgreSQL)."""

    def __init__(self, target: Path | str, synchronous: str = "NORMAL", busy_timeout_ms: int = BUSY_TIMEOUT_MS,
                 spool_path: Path | None = None, pool_size: int | None = None,
                 statement_timeout_ms: int | None = None):
        self.url = make_url(database_url(target))
        self.backend = "postgresql" if self.url.get_backend_name() == "postgresql" else "sqlite"
        self.path: Path | None = None
        self.lock = threading.RLock()  # SQLite: the one connection, one thread at a time
        self._local = threading.local()  # the transaction this thread is in (nested calls become savepoints)
        self._tables: dict[str, Table] = {}
        self._locks = None  # PostgreSQL: the conversation locks' own pool, made on first use
        self._closed = False
        if self.backend == "sqlite":
            self.path = Path(self.url.database or ":memory:")
            self._open_sqlite(synchronous, busy_timeout_ms)
        else:
            self._open_postgresql(pool_size, statement_timeout_ms)
        self.spool_path = spool_path or self._default_spool()
        self.upgrade()

    def __repr__(self) -> str:
        return f"Store({self.describe()})"

    def describe(self) -> str:
        return str(self.path) if self.backend == "sqlite" else self.url.render_as_string(hide_password=True)

    def _default_spool(self) -> Path | None:
        """Where escalations wait when the database cannot be written (None: in memory)."""
        if self.backend == "sqlite":
            return None if str(self.path) == ":memory:" else self.path.with_name(self.path.name + ".pending")
        return Path(os.environ.get("BOT_SPOOL_PATH") or "var/escalations.pending")

    # --- engines -------------------------------------------------------------------------------

    def _open_sqlite(self, synchronous: str, busy_timeout_ms: int) -> None:
        memory = str(self.path) == ":memory:"
        if not memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(self.url, poolclass=StaticPool,
                                    connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000})

        @event.listens_for(self.engine, "connect")
        def _connect(dbapi, _record):
            dbapi.isolation_level = None  # the store says when a transaction begins (below), not the driver
            self._retry(lambda: dbapi.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}"))
            if not memory:
                self._retry(lambda: dbapi.execute("PRAGMA journal_mode=wal"))
            dbapi.execute(f"PRAGMA synchronous={synchronous}")

        @event.listens_for(self.engine, "begin")
        def _begin(conn):
            statement = "BEGIN IMMEDIATE" if conn.info.get("write", True) else "BEGIN"
            dbapi = conn.connection.dbapi_connection
            self._retry(lambda: dbapi.execute(statement))

        self._conn = self.engine.connect()

    def _open_postgresql(self, pool_size: int | None, statement_timeout_ms: int | None) -> None:
        size = pool_size or int(os.environ.get("BOT_DB_POOL_SIZE") or POOL_SIZE)
        timeout = statement_timeout_ms or int(os.environ.get("BOT_DB_STATEMENT_TIMEOUT_MS") or STATEMENT_TIMEOUT_MS)
        self.engine = create_engine(
            self.url, pool_size=size, max_overflow=0, pool_timeout=10, pool_pre_ping=True, pool_recycle=1800,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "fanzha-bot",
                          "options": f"-c statement_timeout={int(timeout)} -c lock_timeout={int(timeout)}"})
        self._conn = None

    def _retry(self, step):
        for attempt in range(LOCK_RETRIES + 1):
            try:
                return step()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or attempt == LOCK_RETRIES:
                    raise
                log.warning("database busy (%s); retrying", exc)
                time.sleep(0.05 * 2 ** attempt + random.random() * 0.05)

    # --- schema -------------------------------------------------------------------------------

    def upgrade(self) -> list[str]:
        """Apply pending migrations (once, however many processes start together)."""
        with self.transaction() as tx:
            tx.lock("fanzha-bot:migrations")
            names = migrations.upgrade(tx.conn)
        if names:
            log.info("database %s: applied %s", self.describe(), ", ".join(names))
        self._tables.clear()
        return names

    def table(self, name: str) -> Table:
        found = self._tables.get(name)
        if found is None:
            with self._connection() as conn:
                found = Table(name, MetaData(), autoload_with=conn)
            self._tables[name] = found
        return found

    def table_names(self) -> list[str]:
        with self._connection() as conn:
            return sorted(inspect(conn).get_table_names())

    def version(self) -> str:
        rows = self.query(f"select name from {migrations.VERSION_TABLE}")
        names = {r["name"] for r in rows}
        return max((fn.__name__ for fn in migrations.MIGRATIONS if fn.__name__ in names), default="none")

    # --- transactions ---------------------------------------------------------------------------

    @contextmanager
    def _connection(self):
        current = getattr(self._local, "tx", None)
        if current is not None:
            yield current.conn
        elif self.backend == "sqlite":
            with self.lock:
                conn = self._open_connection()
                conn.info["write"] = False
                yield conn
                if conn.in_transaction():
                    conn.commit()
        else:
            self._check_open()
            with self.engine.connect() as conn:
                yield conn

    @contextmanager
    def transaction(self, write: bool = True):
        """One atomic unit: everything inside commits together or not at all; nested calls are savepoints.

        SQLite takes the write lock at BEGIN (IMMEDIATE) when ``write``, so another process's write makes this
        one wait (busy timeout, then retries) rather than fail between its read and its write.
        """
        current: Tx | None = getattr(self._local, "tx", None)
        if current is not None:
            with current.conn.begin_nested():
                yield current
            return
        if self.backend == "sqlite":
            with self.lock:
                conn = self._open_connection()
                conn.info["write"] = write
                yield from self._run(conn)
        else:
            self._check_open()
            with self.engine.connect() as conn:
                yield from self._run(conn)

    def _open_connection(self) -> Connection:
        self._check_open()
        return self._conn

    def _check_open(self) -> None:
        if self._closed:  # a late timer (a spool retry) after close(): a store error its caller handles
            raise ResourceClosedError("the store is closed")

    def _run(self, conn: Connection):
        tx = Tx(self, conn)
        self._local.tx = tx
        try:
            with conn.begin():
                yield tx
        finally:
            self._local.tx = None

    def query(self, sql: str, params=None) -> list[dict]:
        with self.transaction(write=False) as tx:
            return tx.query(sql, params)

    @contextmanager
    def conversation_lock(self, key: str):
        """One conversation's turns one at a time, in whichever process (or machine) they arrive.

        PostgreSQL: a session-level advisory lock on a connection of a pool of its own (so a turn waiting for
        the lock never holds a connection its own writes need); released at the end of the turn, or by the
        server when the process dies. SQLite: the process's own lock (the caller's) is all there is. A lock the
        database cannot give (it is down) is not waited for: the resident's answer matters more than order.
        """
        if self.backend != "postgresql":
            yield
            return
        conn = None
        try:
            conn = self._lock_engine().connect()
            conn.execute(text("select pg_advisory_lock(:k)"), {"k": _lock_id("conversation:" + key)})
            conn.commit()
        except StoreError as exc:
            log.warning("conversation lock not taken (%s); the turn goes on", exc.__class__.__name__)
            if conn is not None:
                conn.invalidate()
                conn.close()
            conn = None
        try:
            yield
        finally:
            if conn is not None:
                try:
                    conn.execute(text("select pg_advisory_unlock(:k)"), {"k": _lock_id("conversation:" + key)})
                    conn.commit()
                except StoreError:
                    conn.invalidate()  # the session (and its lock) ends with the connection
                finally:
                    conn.close()

    # --- leases: what one worker at a time may do ------------------------------------------------

    def take_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew the lease ``name`` for ``seconds``; True when ``holder`` has it now.

        One conditional upsert: it wins when the lease is free, expired, or already ``holder``'s. A holder that
        dies stops renewing, and the lease passes to the next worker that asks once it has expired.
        """
        stamp = time.time()
        with self.transaction() as db:
            taken = db.execute(
                "insert into leases (name, holder, expires_at, taken_at) values (:n, :h, :e, :t)"
                " on conflict(name) do update set holder = excluded.holder, expires_at = excluded.expires_at,"
                " taken_at = case when leases.holder = excluded.holder then leases.taken_at else excluded.taken_at end"
                " where leases.holder = excluded.holder or leases.expires_at < :now",
                {"n": name, "h": holder, "e": stamp + seconds, "t": now(), "now": stamp})
            return taken.rowcount == 1

    def give_up_lease(self, name: str, holder: str) -> None:
        """Let the next worker have ``name`` at once (a clean stop), if ``holder`` still has it."""
        with self.transaction() as db:
            db.execute("update leases set expires_at = 0 where name = :n and holder = :h", {"n": name, "h": holder})

    def _lock_engine(self):
        with self.lock:
            if self._locks is None:
                self._locks = create_engine(self.url, pool_size=self.engine.pool.size(), max_overflow=0,
                                            pool_timeout=30, pool_pre_ping=True,
                                            connect_args={"connect_timeout": CONNECT_TIMEOUT_S,
                                                          "application_name": "fanzha-bot-locks"})
            return self._locks

    def close(self) -> None:
        with self.lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self.engine.dispose()
            if self._locks is not None:
                self._locks.dispose()

    # --- conversations -------------------------------------------------------------------

    def record_quiz_answer(self, channel: str, chat_id: str, question_id: str, correct: bool) -> None:
        with self.transaction() as db:
            db["quiz_answers"].insert({"channel": channel, "chat_id": str(chat_id), "question_id": question_id,
                                       "correct": int(correct), "at": now()})

    def load_state(self, key: str) -> dict | None:
        rows = self.query("select state from conversations where key = :key", {"key": key})
        return json.loads(rows[0]["state"]) if rows else None

    def save_turn(self, key: str, channel: str, user_id: str, state: dict, messages: list[dict]) -> None:
        """Save the dialogue state, the turn's messages and the user's last visit in one transaction."""
        stamp = now()
        with self.transaction() as db:
            db.execute("insert into users (key, channel, user_id, first_seen, last_seen) values (?, ?, ?, ?, ?)"
                       " on conflict(key) do update set last_seen = excluded.last_seen",
                       [key, channel, str(user_id), stamp, stamp])
            db["conversations"].upsert({"key": key, "channel": channel, "user_id": str(user_id),
                                        "state": json.dumps(state, ensure_ascii=False), "updated_at": stamp},
                                       pk="key")
            db["messages"].insert_all({"key": key, "channel": channel, "user_id": str(user_id), "created_at": stamp,
                                       **message} for message in messages)
