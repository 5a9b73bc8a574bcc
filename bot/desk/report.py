"""``python -m bot report``: the figures the centre reports, as a table, CSV files and charts.

Conversations, warnings given per scam type, escalations by risk and outcome, the
dissuasion rate (dissuaded / escalated), the median time from escalation to claim,
new users and subscribers. Dates are UTC days; ``--until`` is inclusive.
"""

from __future__ import annotations

import csv
import glob
import json
import logging
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from bot.desk.outbox import RISK_ZH
from bot.desk.escalations import STATUS_ZH, STATUSES
from bot.store import Store

log = logging.getLogger(__name__)


@dataclass
class Table:
    name: str  # file name without .csv
    title: str
    columns: list[str]
    rows: list[list]


@dataclass
class Report:
    since: str
    until: str
    summary: list[tuple[str, str, object]] = field(default_factory=list)  # (key, 中文, value)
    tables: list[Table] = field(default_factory=list)

    def value(self, key: str):
        return next(v for k, _, v in self.summary if k == key)


def _bounds(since: str | None, until: str | None) -> tuple[str, str, str, str]:
    end = date.fromisoformat(until) if until else date.today()
    start = date.fromisoformat(since) if since else end - timedelta(days=90)
    return (f"{start} 00:00:00", f"{end + timedelta(days=1)} 00:00:00", str(start), str(end))


def _minutes(start: str, end: str) -> float:
    fmt = "%Y-%m-%d %H:%M:%S"
    return (datetime.strptime(end, fmt) - datetime.strptime(start, fmt)).total_seconds() / 60


def build(store: Store, scam_names: dict[str, str], since: str | None = None, until: str | None = None) -> Report:
    """Compute the report for [since, until] from the database."""
    lo, hi, start, end = _bounds(since, until)
    q = lambda sql: store.query(sql, {"lo": lo, "hi": hi})  # noqa: E731
    report = Report(start, end)
    conversations = q("select count(distinct key) n from messages where direction = 'in'"
                      " and created_at >= :lo and created_at < :hi")[0]["n"]
    messages_in = q("select count(*) n from messages where direction = 'in' and created_at >= :lo and created_at < :hi")[0]["n"]
    new_users = q("select count(*) n from users where first_seen >= :lo and first_seen < :hi")[0]["n"]
    warnings = {r["scam_type"]: r["n"] for r in q(
        "select scam_type, count(*) n from messages where direction = 'out' and intent = 'action_warn'"
        " and created_at >= :lo and created_at < :hi group by scam_type")}
    escalations = q("select * from escalations where created_at >= :lo and created_at < :hi")
    dissuaded = sum(1 for e in escalations if e["status"] == "dissuaded")
    claim_minutes = [_minutes(e["created_at"], e["claimed_at"]) for e in escalations if e["claimed_at"]]
    subscribers = store.query("select count(*) n from subscribers where active = 1")[0]["n"]
    pushed = q("select count(*) n from deliveries where status = 'sent' and at >= :lo and at < :hi")[0]["n"]
    quiz = q("select count(*) n, coalesce(sum(correct), 0) c from quiz_answers where at >= :lo and at < :hi")[0]
    report.summary = [
        ("conversations", "会话数", conversations),
        ("messages_in", "群众消息数", messages_in),
        ("new_users", "新用户", new_users),
        ("warnings", "发出警示", sum(warnings.values())),
        ("escalations", "推送值班预警", len(escalations)),
        ("dissuaded", "成功劝阻", dissuaded),
        ("dissuasion_rate", "劝阻率", round(dissuaded / len(escalations), 4) if escalations else 0.0),
        ("median_minutes_to_claim", "预警到认领（分钟，中位数）",
         round(statistics.median(claim_minutes), 1) if claim_minutes else None),
        ("subscribers", "预警订阅人数", subscribers),
        ("alerts_delivered", "推送预警条数", pushed),
        ("quiz_answers", "小测验答题数", quiz["n"]),
        ("quiz_correct_rate", "小测验答对率", round(quiz["c"] / quiz["n"], 4) if quiz["n"] else None),
    ]
    visits = q("select * from visits where status = 'done' and started_at >= :lo and started_at < :hi")
    report.summary += [
        ("visits", "入户走访次数", len(visits)),
        ("residents_reached", "走访覆盖老人（同意记录）", sum(1 for v in visits if v["consent"])),
        ("apps_installed", "走访中安装反诈APP", sum(1 for v in visits if v["app_installed"])),
        ("hotlines_saved", "走访中保存96110", sum(1 for v in visits if v["hotline_saved"])),
        ("visit_escalations", "走访发现风险并预警", sum(1 for v in visits if v["escalation_id"])),
    ]
    by_type = {}
    for e in escalations:
        by_type[e["scam_type"]] = by_type.get(e["scam_type"], 0) + 1
    types = sorted(set(warnings) | set(by_type), key=lambda t: -(warnings.get(t, 0) + by_type.get(t, 0)))
    report.tables.append(Table("by_scam_type", "各类诈骗的警示和预警", ["scam_type", "名称", "警示", "预警"],
                               [[t, scam_names.get(t, t or "不明"), warnings.get(t, 0), by_type.get(t, 0)] for t in types]))
    report.tables.append(Table("escalations_by_status", "预警处理结果", ["status", "结果", "数量"],
                               [[s, STATUS_ZH[s], sum(1 for e in escalations if e["status"] == s)] for s in STATUSES]))
    report.tables.append(Table("escalations_by_risk", "预警风险等级", ["risk", "等级", "数量"],
                               [[r, RISK_ZH[r], sum(1 for e in escalations if e["risk"] == r)]
                                for r in ("urgent", "high", "medium")]))
    grids: dict[str, list[dict]] = {}
    for visit in visits:
        grids.setdefault(visit["grid"] or "未填写", []).append(visit)
    report.tables.append(Table("visits_by_grid", "各网格入户走访", ["grid", "网格", "走访", "安装APP", "发现风险"],
                               [[g, g, len(v), sum(x["app_installed"] for x in v), sum(x["risk_found"] for x in v)]
                                for g, v in sorted(grids.items(), key=lambda kv: -len(kv[1]))]))
    topics: dict[str, int] = {}
    for visit in visits:
        for topic in json.loads(visit["topics"] or "[]"):
            topics[topic] = topics.get(topic, 0) + 1
    report.tables.append(Table("visit_topics", "走访讲解的话题", ["topic", "话题", "次数"],
                               [[t, t, n] for t, n in sorted(topics.items(), key=lambda kv: -kv[1])]))
    return report


def format_table(report: Report) -> str:
    lines = [f"反诈助手统计 {report.since} 至 {report.until}", ""]
    width = max(len(zh) for _, zh, _ in report.summary) + 2
    for key, zh, value in report.summary:
        shown = "—" if value is None else (f"{value:.1%}" if key.endswith("_rate") else value)
        lines.append(f"{zh:<{width}}{shown}")
    for table in report.tables:
        lines += ["", table.title]
        lines += ["  " + "  ".join(str(c) for c in row[1:]) for row in table.rows if any(row[2:])]
    return "\n".join(lines)


def write_csv(report: Report, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / "summary.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as handle:  # with BOM: opens right in Excel
        writer = csv.writer(handle)
        writer.writerow(["metric", "指标", "value"])
        writer.writerows([[k, zh, "" if v is None else v] for k, zh, v in report.summary])
    written.append(path)
    for table in report.tables:
        path = out / f"{table.name}.csv"
        with path.open("w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            writer.writerow(table.columns)
            writer.writerows(table.rows)
        written.append(path)
    return written


def cjk_font() -> str | None:
    """A font that has Chinese glyphs (Debian's fonts-noto-cjk, or any installed one), for matplotlib."""
    from matplotlib import font_manager

    for path in sorted(glob.glob("/usr/share/fonts/**/*CJK*.tt[cf]", recursive=True)) + \
            sorted(glob.glob("/usr/share/fonts/**/wqy*.tt[cf]", recursive=True)):
        try:
            font_manager.fontManager.addfont(path)
        except (OSError, RuntimeError):
            continue
    for preferred in ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "Source Han Sans SC",
                      "Noto Serif CJK SC"):
        if any(f.name == preferred for f in font_manager.fontManager.ttflist):
            return preferred
    return None


def write_charts(report: Report, out: Path) -> list[Path]:
    """PNG bar charts with Chinese labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    font = cjk_font()
    if font:
        matplotlib.rcParams["font.sans-serif"] = [font] + list(matplotlib.rcParams["font.sans-serif"])
    else:
        log.warning("no CJK font found (apt-get install fonts-noto-cjk): Chinese labels will not render")
    matplotlib.rcParams["axes.unicode_minus"] = False
    out.mkdir(parents=True, exist_ok=True)
    written = []
    charts = ((report.tables[0], 2, "各类诈骗警示次数"), (report.tables[1], 2, "预警处理结果"),
              (report.tables[3], 2, "各网格入户走访次数"))
    for table, index, title in charts:
        rows = [r for r in table.rows if r[index]] or table.rows[:1]
        labels = [str(r[1]) for r in rows]
        values = [r[index] for r in rows]
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.6), dpi=120)
        ax.barh(labels[::-1], values[::-1], color="#b3261e")
        ax.set_title(f"{title}（{report.since} 至 {report.until}）")
        ax.set_xlabel("次数")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for y, v in enumerate(values[::-1]):
            ax.text(v, y, f" {v}", va="center")
        fig.tight_layout()
        path = out / f"{table.name}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
