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


@pytest.fixture()
def engine(settings, understander, tmp_path):
    """An engine on a private SQLite file."""
    from bot.app import build_engine
    from bot.store import Store

    store = Store(tmp_path / "bot.db")
    engine = build_engine(settings, store, understander)
    yield engine
    engine.close()
    store.close()


@pytest.fixture()
def run_bot(tmp_path):
    """Run ``python -m bot ARGS`` in a subprocess with a private database."""
    import subprocess

    def run(*args, input_text: str | bytes | None = None, env: dict | None = None, timeout: float = 120):
        full_env = dict(os.environ, BOT_DB_PATH=str(tmp_path / "bot.db"), PYTHONIOENCODING="utf-8")
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
def web(settings, tmp_path, understander):
    """The service with the web chat only, on a free port (``web.url``)."""
    from dataclasses import replace

    from tests.harness import RunningBot

    running = RunningBot(replace(settings, web_port=0), None, tmp_path / "bot.db", understander, web=True).start()
    running.url = f"http://127.0.0.1:{running.service.port}"
    yield running
    running.stop()

