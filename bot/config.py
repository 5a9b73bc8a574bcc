"""Settings from ``config.yml``, with secrets and overrides from the environment.

Environment variables always win over the file:
``BOT_CONFIG`` (which config file), ``BOT_DB_PATH`` (the SQLite database), ``BOT_DATABASE_URL`` (PostgreSQL
instead, a libpq URL such as ``postgresql://bot@127.0.0.1:5432/fanzha``; the password from ``PGPASSWORD`` or
``~/.pgpass``, or in the URL).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bot.problems import InvalidFiles, Problem
from bot.yamlfile import load_yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Settings:
    root: Path
    centre_name: str = "县公安局反电诈中心"
    hotlines: dict[str, str] = field(default_factory=lambda: {"police": "110", "antifraud": "96110", "local": ""})
    nlu_dir: Path = Path("nlu")
    stories_dir: Path = Path("stories")
    content_dir: Path = Path("content")
    cache_dir: Path = Path(".cache")
    database: Path | str = Path("var/bot.db")  # a SQLite file, or a PostgreSQL URL
    spool: Path | None = None  # PostgreSQL: where escalations wait while the database is down
    max_chars: int = 2000
    classifier: dict = field(default_factory=dict)
    intent_types: dict[str, str] = field(default_factory=dict)
    question_intents: list[str] = field(default_factory=list)
    urgency: dict = field(default_factory=lambda: {"urgent_intent": "urgent", "calm_intent": "not_urgent",
                                                   "threshold": 0.5})
    min_type_confidence: float = 0.25
    escalate_from: str = "high"
    session_expiry_minutes: float = 1440.0
    synchronous: str = "NORMAL"
    web_host: str = "127.0.0.1"
    web_port: int = 8080  # SQLite: NORMAL survives a killed process; FULL also a power cut
    large_amount: float = 10000.0
    raw: dict = field(default_factory=dict)

    @property
    def files_dir(self) -> Path:
        """Where files beside the database live (kept pictures): the SQLite file's folder, also when the
        tables are in PostgreSQL."""
        return Path(self.spool).parent if self.spool else Path(self.database).parent


def _section(doc: dict, key: str) -> dict:
    value = doc.get(key) or {}
    return value if isinstance(value, dict) else {}


def load_settings(path: Path | None = None) -> Settings:
    """Read settings from ``path`` (default: ``$BOT_CONFIG`` or the project's config.yml)."""
    path = Path(path or os.environ.get("BOT_CONFIG") or PROJECT_ROOT / "config.yml").resolve()
    root = path.parent
    doc = load_yaml(path, root) if path.exists() else {}
    if not isinstance(doc, dict):
        raise InvalidFiles([Problem(path.name, 1, "config must be a mapping of sections", "配置文件格式不对")])
    centre, paths, nlu, risk, dialogue = (_section(doc, k) for k in ("centre", "paths", "nlu", "risk", "dialogue"))
    hotlines = {"police": "110", "antifraud": "96110", "local": ""}
    hotlines.update({k: str(v or "") for k, v in (_section(centre, "hotlines")).items()})

    def resolve(key: str, default: str) -> Path:
        return (root / str(paths.get(key) or default)).resolve()

    database: Path | str = (Path(os.environ["BOT_DB_PATH"]) if os.environ.get("BOT_DB_PATH")
                            else resolve("database", "var/bot.db"))
    spool = None
    if os.environ.get("BOT_DATABASE_URL", "").strip():
        spool = Path(database).with_name("escalations.pending")  # beside where the SQLite file would be
        database = os.environ["BOT_DATABASE_URL"].strip()
    return Settings(
        root=root,
        centre_name=str(centre.get("name") or "县公安局反电诈中心"),
        hotlines=hotlines,
        nlu_dir=resolve("nlu", "nlu"),
        stories_dir=resolve("stories", "stories"),
        content_dir=resolve("content", "content"),
        cache_dir=resolve("cache", ".cache"),
        database=database,
        spool=spool,
        max_chars=int(nlu.get("max_chars", 2000)),
        classifier=dict(nlu.get("classifier") or {}),
        intent_types={str(k): str(v) for k, v in (nlu.get("intent_types") or {}).items()},
        question_intents=[str(i) for i in nlu.get("question_intents") or []],
        urgency={"urgent_intent": "urgent", "calm_intent": "not_urgent", "threshold": 0.5,
                 **(nlu.get("urgency") or {})},
        min_type_confidence=float(nlu.get("min_type_confidence", 0.25)),
        escalate_from=str(risk.get("escalate_from", "high")),
        session_expiry_minutes=float(dialogue.get("session_expiry_minutes", 1440)),
        synchronous=str(_section(doc, "storage").get("synchronous", "NORMAL")).upper(),
        web_host=os.environ.get("BOT_WEB_HOST") or str(_section(_section(doc, "channels"), "web").get("host", "127.0.0.1")),
        web_port=int(os.environ.get("BOT_WEB_PORT") or _section(_section(doc, "channels"), "web").get("port", 8080)),
        large_amount=float(risk.get("large_amount", 10000)),
        raw=doc,
    )
