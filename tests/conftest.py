import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@pytest.fixture(scope="session")
def settings():
    from bot.config import load_settings

    return load_settings(ROOT / "config.yml")


@pytest.fixture(scope="session")
def understander(settings):
    from bot.nlu.understand import Understander

    return Understander(settings)


@pytest.fixture(scope="session")
def pg_cluster():
    """A throw-away PostgreSQL cluster (skipped where PostgreSQL is not installed, except under
    ``BOT_REQUIRE_POSTGRES=1``, as in CI)."""
    from tests.pgcluster import Cluster

    try:
        cluster = Cluster().start()
    except (FileNotFoundError, RuntimeError) as exc:
        if os.environ.get("BOT_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"PostgreSQL half skipped: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(autouse=True)
def private_spool(tmp_path, monkeypatch):
    """A PostgreSQL store's spool (escalations waiting for the database) is the test's own: one test's
    leftover is never written into another test's database."""
    monkeypatch.setenv("BOT_SPOOL_PATH", str(tmp_path / "escalations.pending"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request, tmp_path):
    """Where a test's store lives: a private SQLite file, then a fresh PostgreSQL database (the same test on
    both engines)."""
    if request.param == "sqlite":
        return tmp_path / "bot.db"
    return request.getfixturevalue("pg_cluster").new_database()


@pytest.fixture()
def engine(settings, understander, db_target):
    """An engine on a private store (SQLite, then PostgreSQL)."""
    from bot.app import build_engine
    from bot.store import Store

    store = Store(db_target)
    engine = build_engine(settings, store, understander)
    yield engine
    engine.close()
    store.close()


@pytest.fixture()
def run_bot(request, tmp_path):
    """Run ``python -m bot ARGS`` in a subprocess with a private database (the test's store when it has one)."""
    import subprocess

    target = request.getfixturevalue("db_target") if "db_target" in request.fixturenames else tmp_path / "bot.db"
    where = {"BOT_DB_PATH": str(tmp_path / "bot.db")}  # and the files beside it (kept pictures, the spool)
    if isinstance(target, str):
        where["BOT_DATABASE_URL"] = target

    def run(*args, input_text: str | bytes | None = None, env: dict | None = None, timeout: float = 120):
        full_env = dict(os.environ, **where, PYTHONIOENCODING="utf-8")
        full_env.update(env or {})
        data = input_text.encode("utf-8") if isinstance(input_text, str) else input_text
        return subprocess.run([PYTHON, "-m", "bot", *args], input=data, capture_output=True,
                              cwd=ROOT, env=full_env, timeout=timeout)

    return run


@pytest.fixture()
def project_copy(tmp_path):
    """A copy of config.yml, nlu/, stories/ and content/ that a test may edit, with its own cache.

    Returns (settings, root). The copy shares the repository's tests/ (held-out set).
    """
    import shutil

    from bot.config import load_settings

    root = tmp_path / "project"
    root.mkdir()
    for name in ("nlu", "stories", "content"):
        shutil.copytree(ROOT / name, root / name)
    config = (ROOT / "config.yml").read_text(encoding="utf-8").replace("cache: .cache", f"cache: {ROOT / '.cache'}")
    (root / "config.yml").write_text(config, encoding="utf-8")
    return load_settings(root / "config.yml"), root


@pytest.fixture()
def fake():
    """The local fake Telegram Bot API server."""
    from tests.fakebot import FakeTelegram

    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture()
def staff_env(monkeypatch):
    """A staff chat and one officer, as the environment configures them."""
    from tests.harness import OFFICER, STAFF_CHAT

    monkeypatch.setenv("STAFF_CHAT_ID", str(STAFF_CHAT))
    monkeypatch.setenv("STAFF_USER_IDS", f"{OFFICER}, 777")


@pytest.fixture()
def web(settings, db_target, understander):
    """The service with the web chat only, on a free port (``web.url``)."""
    from dataclasses import replace

    from tests.harness import RunningBot

    running = RunningBot(replace(settings, web_port=0), None, db_target, understander, web=True).start()
    running.url = f"http://127.0.0.1:{running.service.port}"
    yield running
    running.stop()

