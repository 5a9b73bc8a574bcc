"""Everything the bot keeps: a SQLite file by default, PostgreSQL when ``BOT_DATABASE_URL`` is set.

Tables: ``users``, ``conversations`` (dialogue state), ``messages`` (full text, purged after the retention
period), ``escalations`` with ``escalation_events`` (the duty desk's queue and its history), ``outbox`` and
``alert_deliveries`` (staff alerts and their delivery per target), outreach (``subscribers``, ``alerts``,
``deliveries``, ``quiz_answers``), visits (``workers``, ``visits``), the risk list (``risk_list``,
``reports``), channels' bookkeeping (``wechat_inbox``, ``wechat_choices``, ``kv``, ``web_inbox``),
``pictures`` and ``leases``. The schema is ``migrations.MIGRATIONS``; ``python -m bot db upgrade`` applies it.
"""

from .clock import ago, now
from .store import StoreError, Store, Tx, database_url

__all__ = ["Store", "StoreError", "Tx", "ago", "database_url", "now"]
