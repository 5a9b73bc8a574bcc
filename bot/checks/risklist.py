"""The staff-maintained risk list and residents' reports (举报).

``python -m bot risklist import FILE.csv`` reads ``kind,value,verdict,source,note,expires_at``
(``kind`` may be empty: it is inferred), normalises and de-duplicates values, reports bad rows
by line number and imports the rest in one transaction. A report confirmed by staff adds
its value to the list as fraud.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from bot.redact import mask
from bot.checks.riskcheck import KINDS, infer_kind, normalise
from bot.store import Store, now

VERDICTS = ("fraud", "suspicious", "official")
COLUMNS = ("kind", "value", "verdict", "source", "note", "expires_at")


@dataclass
class ImportResult:
    imported: int = 0
    duplicates: int = 0
    skipped: list[str] = field(default_factory=list)  # "FILE:LINE: why"


class RiskList:
    def __init__(self, store: Store):
        self.store = store

    def add(self, kind: str | None, raw: str, verdict: str = "fraud", source: str = "staff", note: str = "",
            added_by: str = "", expires_at: str | None = None) -> tuple[str, str]:
        kind = kind or infer_kind(raw)
        value = normalise(kind, raw)
        if kind not in KINDS or value is None or verdict not in VERDICTS:
            raise ValueError(f"cannot add {raw!r} as {kind}/{verdict}")
        with self.store.transaction() as db:
            db.execute(
                "insert into risk_list (kind, value, verdict, source, note, added_by, added_at, expires_at)"
                " values (?, ?, ?, ?, ?, ?, ?, ?) on conflict(kind, value) do update set verdict = excluded.verdict,"
                " source = excluded.source, note = excluded.note, added_by = excluded.added_by,"
                " added_at = excluded.added_at, expires_at = excluded.expires_at",
                [kind, value, verdict, source, note, added_by, now(), expires_at])
        return kind, value

    def remove(self, raw: str, kind: str | None = None) -> int:
        kinds = [kind] if kind else list(KINDS)
        removed = 0
        with self.store.transaction() as db:
            for k in kinds:
                value = normalise(k, raw)
                if value is not None:
                    removed += db.execute("delete from risk_list where kind = ? and value = ?", [k, value]).rowcount
        return removed

    def import_csv(self, path: Path, added_by: str = "import") -> ImportResult:
        result = ImportResult()
        rows: dict[tuple[str, str], tuple] = {}
        stamp = now()
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "value" not in reader.fieldnames:
                result.skipped.append(f"{path.name}:1: the header must name the columns, at least 'value' "
                                      f"({','.join(COLUMNS)})")
                return result
            for number, row in enumerate(reader, start=2):
                raw = (row.get("value") or "").strip()
                kind = (row.get("kind") or "").strip().lower() or (infer_kind(raw) if raw else "")
                verdict = (row.get("verdict") or "fraud").strip().lower()
                value = normalise(kind, raw) if kind in KINDS and raw else None
                if kind not in KINDS:
                    result.skipped.append(f"{path.name}:{number}: unknown kind {kind!r} (use {', '.join(KINDS)})")
                elif value is None:
                    result.skipped.append(f"{path.name}:{number}: {raw!r} is not a valid {kind}")
                elif verdict not in VERDICTS:
                    result.skipped.append(f"{path.name}:{number}: unknown verdict {verdict!r} (use {', '.join(VERDICTS)})")
                else:
                    if (kind, value) in rows:
                        result.duplicates += 1
                    rows[(kind, value)] = (kind, value, verdict, (row.get("source") or "import").strip(),
                                           (row.get("note") or "").strip(), added_by, stamp,
                                           (row.get("expires_at") or "").strip() or None)
        with self.store.transaction() as db:
            db.executemany(
                "insert into risk_list (kind, value, verdict, source, note, added_by, added_at, expires_at)"
                " values (?, ?, ?, ?, ?, ?, ?, ?) on conflict(kind, value) do update set verdict = excluded.verdict,"
                " source = excluded.source, note = excluded.note, added_by = excluded.added_by,"
                " added_at = excluded.added_at, expires_at = excluded.expires_at", list(rows.values()))
        result.imported = len(rows)
        return result

    def export_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS + ("added_by", "added_at"))
        for row in self.store.query("select * from risk_list order by kind, value"):
            writer.writerow([row[c] or "" for c in COLUMNS + ("added_by", "added_at")])
        return out.getvalue()

    # --- residents' reports ---------------------------------------------------------------------

    def report(self, items: list[tuple[str, str]], channel: str, chat_id: str, summary: str) -> list[int]:
        """Store a resident's report of each (kind, text) value; returns the report ids."""
        ids = []
        with self.store.transaction() as db:
            for kind, shown in items:
                value = normalise(kind, shown)
                if value is None:
                    continue
                ids.append(db["reports"].insert({"kind": kind, "value": value, "shown": shown, "channel": channel,
                                                 "chat_id": str(chat_id), "summary": mask(summary)[:400],
                                                 "status": "new", "created_at": now()}).last_pk)
        return ids

    def reports(self, status: str | None = None, limit: int = 100) -> list[dict]:
        sql = ("select r.*, (select count(distinct chat_id) from reports x where x.kind = r.kind and x.value = r.value"
               " and x.status != 'rejected') as reporters from reports r")
        if status:
            return self.store.query(sql + " where r.status = :s order by r.id desc limit :n", {"s": status, "n": limit})
        return self.store.query(sql + " order by r.id desc limit :n", {"n": limit})

    def review(self, report_id: int, confirm: bool, actor: str) -> dict:
        """Confirm (adds the value to the risk list as fraud) or reject a report."""
        rows = self.store.query("select * from reports where id = :id", {"id": report_id})
        if not rows:
            raise KeyError(report_id)
        row = rows[0]
        status = "confirmed" if confirm else "rejected"
        with self.store.transaction() as db:
            db.execute("update reports set status = ?, reviewed_by = ?, reviewed_at = ? where kind = ? and value = ?"
                       " and status = 'new'", [status, actor, now(), row["kind"], row["value"]])
            db.execute("update reports set status = ?, reviewed_by = ?, reviewed_at = ? where id = ?",
                       [status, actor, now(), report_id])
        if confirm:  # normalised values normalise to themselves
            self.add(row["kind"], row["value"], "fraud", f"report #{report_id}", "群众举报，经核实", actor)
        return {**row, "status": status}
