"""``python -m bot dashboard``: browse the database in Datasette, read-only, with canned queries.

Datasette opens the file with ``mode=ro``; no writable queries are configured.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

CANNED_QUERIES = {
    "open_queue": {
        "title": "待处理的预警（值班台）",
        "sql": "select id, created_at, risk, scam_type, status, assignee, amount, summary from escalations"
               " where status in ('open', 'claimed', 'contacted')"
               " order by case risk when 'urgent' then 0 when 'high' then 1 else 2 end, id",
    },
    "weekly_report": {
        "title": "每周统计",
        "sql": "select strftime('%Y-%W', created_at) as week, count(*) as escalations,"
               " sum(status = 'dissuaded') as dissuaded, sum(status = 'lost') as lost,"
               " round(1.0 * sum(status = 'dissuaded') / count(*), 3) as dissuasion_rate,"
               " round(avg((julianday(claimed_at) - julianday(created_at)) * 1440), 1) as avg_minutes_to_claim"
               " from escalations group by week order by week desc",
    },
    "warnings_by_type": {
        "title": "各类诈骗的警示次数",
        "sql": "select scam_type, count(*) as warnings from messages where direction = 'out'"
               " and intent = 'action_warn' group by scam_type order by warnings desc",
    },
}


def metadata(db_path: Path) -> dict:
    name = db_path.stem
    return {
        "title": "反诈助手数据（只读）",
        "description": "值班台预警、统计。个人信息已在预警摘要中脱敏。",
        "databases": {name: {"queries": CANNED_QUERIES}},
    }


def command(db_path: Path, metadata_path: Path, host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "datasette", "serve", str(db_path), "--metadata", str(metadata_path),
            "--host", host, "--port", str(port), "--setting", "sql_time_limit_ms", "5000",
            "--setting", "allow_download", "off"]


def run(db_path: Path, cache_dir: Path, host: str = "127.0.0.1", port: int = 8001) -> int:
    """Replace this process with Datasette, so stopping the command stops Datasette."""
    from bot.store import Store

    Store(db_path).close()  # create the tables (and apply migrations) if the bot never ran
    cache_dir.mkdir(parents=True, exist_ok=True)
    meta = cache_dir / "datasette-metadata.json"
    meta.write_text(json.dumps(metadata(db_path), ensure_ascii=False), encoding="utf-8")
    print(f"Datasette: http://{host}:{port}/  (Ctrl+C stops it)", flush=True)
    args = command(db_path, meta, host, port)
    os.execv(args[0], args)
    return 0  # not reached
