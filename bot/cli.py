"""The command line: a thin layer over the library (``python -m bot --help``)."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
from pathlib import Path

from bot.problems import InvalidFiles


def _settings(args):
    from bot.config import load_settings

    return load_settings(getattr(args, "config", None))


def _understander(args, retrain: bool = False):
    from bot.nlu.understand import Understander

    return Understander(_settings(args), retrain=retrain)


def _stdin_batches():
    """Lines from stdin, batched by what has already arrived (never waits to fill a batch).

    A tool that writes one line and waits for its answer gets it at once; a pipe of
    100,000 lines is processed in large batches. Undecodable bytes become U+FFFD.
    """
    fd = sys.stdin.fileno()
    buffer = b""
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        buffer += chunk
        if b"\n" not in buffer:
            continue
        *lines, buffer = buffer.split(b"\n")
        yield [line.rstrip(b"\r").decode("utf-8", errors="replace") for line in lines]
    if buffer:
        yield [buffer.rstrip(b"\r").decode("utf-8", errors="replace")]


def _text_of(line: str) -> str:
    """A line is plain text, or a JSON object with a "text" key."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            item = json.loads(stripped)
        except ValueError:
            return line
        if isinstance(item, dict):
            text = item.get("text")
            return text if isinstance(text, str) else ""
    return line


def cmd_classify(args) -> int:
    understander = _understander(args)
    out = sys.stdout.buffer
    for batch in _stdin_batches():
        texts = [_text_of(line) for line in batch]
        for result in understander.understand_many(texts, batch_size=max(len(texts), 1)):
            out.write(json.dumps(result.to_json(), ensure_ascii=False).encode("utf-8") + b"\n")
        out.flush()
    return 0


def cmd_train(args) -> int:
    understander = _understander(args, retrain=True)
    info = understander.info
    print(f"trained {info.intents} intents from {info.examples} examples in {info.seconds:.2f}s "
          f"(model {info.fingerprint})")
    return 0


def cmd_evaluate(args) -> int:
    from bot.measure import evaluation

    settings = _settings(args)
    reports, chats = [], []
    if (args.files and not args.predictions) or args.teleantifraud or args.conversations:
        understander = _understander(args)
    for name in args.files:
        cases = evaluation.read_case_files([Path(name)])
        if args.predictions:
            reports.append(evaluation.score_predictions(settings, cases, Path(args.predictions)))
        else:
            reports.append(evaluation.evaluate(understander, cases, name))
            if args.chat:
                from bot.measure.conversations import chat_warnings

                chats.append(chat_warnings(settings, understander, cases))
    if args.cv:
        thresholds = [float(t) for t in args.thresholds.split(",")] if args.thresholds else None
        reports.append(evaluation.cross_validate(settings, args.cv, thresholds=thresholds))
    conversations = None
    if args.conversations:
        from bot.measure import conversations as conversation_eval

        conversations = conversation_eval.evaluate_conversations(settings, understander, Path(args.conversations))
    if not reports and not args.teleantifraud and conversations is None:
        print("nothing to evaluate: give FILE.jsonl, --cv K, --conversations FILE or --teleantifraud DIR",
              file=sys.stderr)
        return 2
    extra = None
    if args.teleantifraud:
        cases = evaluation.teleantifraud_cases(Path(args.teleantifraud), args.limit)
        extra = evaluation.teleantifraud_summary(understander, cases)
    if args.json:
        print(json.dumps({"reports": [r.as_dict() for r in reports], "teleantifraud": extra,
                          "chat_warnings": [{k: {"cases": n, "warned": w} for k, (n, w) in c.items()} for c in chats],
                          "conversations": conversation_eval.summary(conversations) if conversations else None},
                         ensure_ascii=False, indent=2))
    else:
        for index, report in enumerate(reports):
            print(evaluation.format_report(report, args.errors))
            if index < len(chats):
                from bot.measure.conversations import format_chat_warnings

                print(format_chat_warnings(chats[index]))
            print()
        if extra:
            print("== TeleAntiFraud dialogues (caller's first turns)")
            for key, value in extra.items():
                print(f"{key:24s} {value}")
        if conversations is not None:
            print(conversation_eval.format_results(conversations, args.errors))
    return 0


def cmd_bench(args) -> int:
    from bot.measure import bench

    return bench.run(_settings(args), args)


def cmd_ocr(args) -> int:
    """One JSON object per file: {"file", "text", "lines": [{"text", "box", "score"}], "ms"} (and "error")."""
    from bot.images.reader import Reader, Reading

    reader = Reader.from_settings(_settings(args))
    failed = 0
    for name in args.files:
        try:
            data = Path(name).read_bytes()
        except OSError as exc:
            reading = Reading(error="not_found")
            print(f"{name}: {exc.strerror}", file=sys.stderr)
        else:
            reading = reader.read(data)
        failed += bool(reading.error)
        print(json.dumps(reading.as_json(name), ensure_ascii=False), flush=True)
    return 1 if failed else 0


def cmd_export_rasa(args) -> int:
    from bot.staff.rasa_export import export_project

    written = export_project(_settings(args), Path(args.out_dir))
    for path in written:
        print(path)
    return 0


def _engine(args):
    """The engine for serve / chat / telegram; content the check rejects stops the start (InvalidFiles)."""
    from bot.app import build_engine
    from bot.staff.check import check_before_start

    settings = _settings(args)
    problems = check_before_start(settings)
    if problems:
        print(f"内容检查没有通过（{len(problems)} 个问题），机器人没有启动。运行 python -m bot content check 查看全部问题。\n"
              f"content check failed ({len(problems)} problems): the bot did not start; "
              "run `python -m bot content check` to see them all.", file=sys.stderr)
        raise InvalidFiles(problems[:20])
    return build_engine(settings)


def cmd_chat(args) -> int:
    from bot.channels import terminal

    return terminal.run(_engine(args), args.user, args.json)


def cmd_serve(args) -> int:
    from bot import service

    if args.workers <= 1:
        try:
            return service.run(_settings(args), _engine(args), web=True)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            print(f"端口 {_settings(args).web_port} 已被占用，没有启动。/ not started: {exc}", file=sys.stderr)
            return 2
    from bot.app import open_store
    from bot.staff.check import check_before_start
    from bot.workers import supervise

    settings = _settings(args)
    store = open_store(settings)  # migrated once, here, before any worker starts
    backend = store.backend
    store.close()
    if backend != "postgresql":
        print("多个工作进程需要 PostgreSQL：请设置 BOT_DATABASE_URL（SQLite 只能由一个进程服务）。\n"
              "several workers need PostgreSQL: set BOT_DATABASE_URL (a SQLite file is served by one process)",
              file=sys.stderr)
        return 2
    problems = check_before_start(settings)
    if problems:
        _engine(args)  # reports them as every start does
    try:
        return supervise(args.workers, settings.web_host, settings.web_port,
                         lambda _index, sockets: service.run(settings, _engine(args), web=True, sockets=sockets))
    except OSError as exc:
        print(f"端口 {settings.web_port} 已被占用，没有启动。/ not started: {exc}", file=sys.stderr)
        return 2


def cmd_telegram(args) -> int:
    from bot import service

    return service.run(_settings(args), _engine(args), web=False, telegram_required=True)


def _store(args):
    from bot.app import open_store

    settings = _settings(args)
    return settings, open_store(settings)


def cmd_escalations(args) -> int:
    from bot.desk.escalations import STATUS_ZH, Escalations

    _, store = _store(args)
    rows = Escalations(store).list(args.status, args.limit)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    if not rows:
        print("没有预警 / no escalations" + (f" with status {args.status}" if args.status else ""))
        return 0
    print(f"{'id':>5}  {'created (UTC)':19}  {'risk':7}  {'status':11}  {'scam_type':24}  {'assignee':14}  summary")
    for r in rows:
        print(f"{r['id']:>5}  {r['created_at']:19}  {r['risk'] or '':7}  {r['status']:11}  {r['scam_type'] or '':24}  "
              f"{(r['assignee'] or '')[:14]:14}  {(r['summary'] or '')[:60]}")
    print(f"{len(rows)} shown ({', '.join(f'{k}={v}' for k, v in STATUS_ZH.items())})")
    return 0


def cmd_escalation(args) -> int:
    import getpass

    from bot.desk.escalations import SEEN_WHEN_OPEN, STATUSES, Escalations

    _, store = _store(args)
    escalations = Escalations(store)
    row = escalations.get(args.id)
    if row is None:
        print(f"no escalation #{args.id}", file=sys.stderr)
        return 1
    if args.set:
        if args.set not in STATUSES:
            print(f"unknown status {args.set!r}: use one of {', '.join(STATUSES)}", file=sys.stderr)
            return 2
        row = escalations.set_status(args.id, args.set, f"cli:{getpass.getuser()}", args.note or "")
    if args.say is not None:
        try:
            escalations.say(args.id, args.say, f"cli:{getpass.getuser()}")
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(f"留言已排队，由运行中的服务通过 {row['channel']} 发给居民；居民的回复会出现在这条预警的处理记录里"
              f" / queued for the running service to send on {row['channel']}", file=sys.stderr)
        if row["channel"] in SEEN_WHEN_OPEN:
            print("注意：网页上的居民只有打开聊天页面时才能看到留言，有电话请直接打电话", file=sys.stderr)
    events = store.query("select at, actor, action, status, note from escalation_events where escalation_id = :id"
                         " order by id", {"id": args.id})
    print(json.dumps({**row, "events": events}, ensure_ascii=False, indent=1))
    return 0


def cmd_report(args) -> int:
    from bot.desk import report
    from bot.scams import load_content

    settings, store = _store(args)
    names = {k: v.name for k, v in load_content(settings.content_dir, settings.root).scams.items()}
    result = report.build(store, names, args.since, args.until)
    print(report.format_table(result))
    if args.out:
        out = Path(args.out)
        written = report.write_csv(result, out) + report.write_charts(result, out)
        print("\nwritten: " + ", ".join(str(p) for p in written))
    return 0


def cmd_dashboard(args) -> int:
    from bot.desk import dashboard

    settings = _settings(args)
    if not isinstance(settings.database, Path):
        from bot.app import open_store

        store = open_store(settings)
        print(f"The tables are in PostgreSQL ({store.describe()}); Datasette reads SQLite only.\n"
              "Browse them read-only with psql or any PostgreSQL client, e.g.:\n"
              '  psql "$BOT_DATABASE_URL" -c "select id, created_at, status, scam_type, risk from escalations'
              ' order by id desc limit 20"\n'
              "For figures, `python -m bot report` works on either engine.")
        store.close()
        return 0
    return dashboard.run(settings.database, settings.cache_dir, args.host, args.port)


def cmd_db(args) -> int:
    """``db upgrade``: apply pending migrations; ``db check``: the backend, the migration version, row counts."""
    from bot.app import open_store
    from bot.store import migrations

    store = open_store(_settings(args))  # opening applies what is pending
    try:
        if args.action == "upgrade":
            print(f"{store.backend} {store.describe()}: at {store.version()}")
            return 0
        print(f"backend: {store.backend}\ndatabase: {store.describe()}")
        print(f"migration: {store.version()} ({len(migrations.MIGRATIONS)} known)")
        for name in store.table_names():
            count = store.query(f'select count(*) n from "{name}"')[0]["n"]
            print(f"  {name:<20} {count:>10}")
        return 0
    finally:
        store.close()


def cmd_purge(args) -> int:
    from bot.images.keep import keep_days, purge as purge_pictures
    from bot.store import ago

    settings, store = _store(args)
    days = args.older_than if args.older_than is not None else float(
        (settings.raw.get("privacy") or {}).get("retention_days", 180))
    cutoff = ago(days=days)
    with store.transaction() as db:
        messages = db.execute("delete from messages where created_at < ?", [cutoff]).rowcount
        states = db.execute("delete from conversations where updated_at < ?", [cutoff]).rowcount
    print(f"deleted {messages} messages and {states} conversation states older than {days:g} days")
    # Pictures are kept at most images.keep_days (0, the default: none should be left at all).
    pictures = purge_pictures(settings, store, min(days, keep_days(settings)))
    print(f"deleted {pictures} kept pictures")
    return 0


def cmd_content_check(args) -> int:
    from bot.staff.check import check

    problems = check(_settings(args))
    for problem in problems:
        print(problem)
    if problems:
        print(f"\n{len(problems)} 个问题 / problems — 请按提示修改后再运行 / fix them and run the check again",
              file=sys.stderr)
        return 1
    print("内容检查通过 / content check passed: nlu/, stories/, content/, config.yml")
    return 0


def cmd_wechat(args) -> int:
    """``wechat menu``: install content/wechat_menu.yml; ``wechat broadcast``: today's warning by mass send."""
    from bot.channels.wechat import WeChatChannel, WeChatConfig, install_menu, load_menu, mass_send
    from bot.dialogue.engine import COMMANDS

    config = WeChatConfig.from_env()
    if config is None or not config.app_id or not config.app_secret:
        print("请设置 WECHAT_TOKEN、WECHAT_APP_ID、WECHAT_APP_SECRET / set WECHAT_TOKEN, WECHAT_APP_ID and "
              "WECHAT_APP_SECRET", file=sys.stderr)
        return 2
    settings = _settings(args)
    if args.action == "menu":
        menu = load_menu(settings.content_dir / "wechat_menu.yml", settings.root, set(COMMANDS))
        if menu is None:
            print("content/wechat_menu.yml is missing", file=sys.stderr)
            return 1
        channel = WeChatChannel(_engine(args), config)
        print(json.dumps(install_menu(channel, menu), ensure_ascii=False))
        return 0
    engine = _engine(args)
    result = mass_send(WeChatChannel(engine, config), engine.actions.hotline_line(), args.date)
    print(json.dumps(result, ensure_ascii=False) if result else f"no alert for {args.date or 'today'}")
    return 0 if result and result.get("status") != "failed" else 1


def cmd_broadcast(args) -> int:
    import asyncio
    from datetime import date

    from telegram import Bot

    from bot.outreach.broadcast import Broadcaster
    from bot.channels.telegram import DEFAULT_BASE_URL, TelegramMessenger
    from bot.service import TelegramConfig

    telegram = TelegramConfig.from_env()
    if telegram is None:
        print("请设置 TELEGRAM_BOT_TOKEN / set TELEGRAM_BOT_TOKEN", file=sys.stderr)
        return 2
    engine = _engine(args)
    settings = _settings(args)
    rate = args.rate or float((settings.raw.get("broadcast") or {}).get("rate_per_second", 30))

    async def main():
        bot = Bot(telegram.token, base_url=telegram.base_url or DEFAULT_BASE_URL)
        async with bot:
            broadcaster = Broadcaster(engine.subscriptions, TelegramMessenger(bot), settings.content_dir,
                                      engine.actions.hotline_line(), rate)
            return await broadcaster.run(args.date or str(date.today()))

    result = asyncio.run(main())
    if result is None:
        print(f"no alert for {args.date or date.today()}: write content/alerts/<date>.yml or use /alert", file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_leaflet(args) -> int:
    from bot.fonts import NoFont
    from bot.outreach import leaflet
    from bot.scams import load_content

    settings = _settings(args)
    scams = load_content(settings.content_dir, settings.root).scams
    if args.scam_id not in scams:
        print(f"unknown scam type {args.scam_id!r}: use one of {', '.join(sorted(scams))}", file=sys.stderr)
        return 2
    out = Path(args.out or f"leaflet-{args.scam_id}.pdf")
    try:
        leaflet.render(scams[args.scam_id], settings, out)
    except NoFont as exc:
        print(exc, file=sys.stderr)
        return 1
    print(out)
    return 0


def cmd_reports(args) -> int:
    import getpass

    from bot.checks.risklist import RiskList

    _, store = _store(args)
    risk = RiskList(store)
    for report_id, confirm in [(i, True) for i in args.confirm or []] + [(i, False) for i in args.reject or []]:
        try:
            row = risk.review(report_id, confirm, f"cli:{getpass.getuser()}")
        except KeyError:
            print(f"no report #{report_id}", file=sys.stderr)
            return 1
        print(f"#{report_id} {row['kind']} {row['shown']}: {row['status']}")
    if args.confirm or args.reject:
        return 0
    rows = risk.reports(args.status, args.limit)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    for r in rows:
        print(f"#{r['id']:<5} {r['created_at']}  {r['status']:9}  {r['kind']:9}  {r['shown'][:30]:30}  "
              f"{r['reporters']} 人举报  {(r['summary'] or '')[:40]}")
    print(f"{len(rows)} reports" + (f" with status {args.status}" if args.status else ""))
    return 0


def cmd_risklist(args) -> int:
    import getpass

    from bot.checks.risklist import RiskList

    _, store = _store(args)
    risk = RiskList(store)
    if args.action == "import":
        result = risk.import_csv(Path(args.file), f"cli:{getpass.getuser()}")
        for line in result.skipped:
            print(line, file=sys.stderr)
        print(f"imported {result.imported} values ({result.duplicates} duplicates merged, "
              f"{len(result.skipped)} bad rows skipped)")
        return 0 if result.imported or not result.skipped else 1
    if args.action == "export":
        text = risk.export_csv()
        if args.file:
            Path(args.file).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    if args.action == "add":
        try:
            kind, value = risk.add(args.kind, args.file, args.verdict, "cli", args.note or "", f"cli:{getpass.getuser()}")
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(f"{kind} {value}: {args.verdict}")
        return 0
    removed = risk.remove(args.file, args.kind)
    print(f"removed {removed}")
    return 0 if removed else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="反诈助手 — anti-fraud outreach bot")
    parser.add_argument("--config", help="config file (default: $BOT_CONFIG or ./config.yml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (to stderr)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("classify", help="classify stdin lines (text or JSON with \"text\"), one JSON object per line")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("chat", help="talk to the bot in the terminal (each stdin line is a message)")
    p.add_argument("--user", default="local", help="who is talking (keeps the conversation apart)")
    p.add_argument("--json", action="store_true", help="one JSON object per reply")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("serve", help="web chat on 127.0.0.1:8080, and Telegram when TELEGRAM_BOT_TOKEN is set")
    p.add_argument("--workers", type=int, default=1,
                   help="processes sharing the port (PostgreSQL only: BOT_DATABASE_URL); one that dies is restarted")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("telegram", help="the Telegram bot only (long polling, or webhook: TELEGRAM_WEBHOOK_URL)")
    p.set_defaults(func=cmd_telegram)

    p = sub.add_parser("escalations", help="list the duty desk's queue")
    p.add_argument("--status", help="only this status (open, claimed, contacted, dissuaded, lost, unreachable, closed)")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_escalations)

    p = sub.add_parser("escalation", help="show one escalation, or set its status")
    p.add_argument("id", type=int)
    p.add_argument("--set", metavar="STATUS", help="new status (same rules as the staff buttons)")
    p.add_argument("--note", help="a note for the record")
    p.add_argument("--say", metavar="TEXT", help="write to the resident through the bot (Telegram, WeChat, the web page);"
                   " their answers appear in the record and reach the desk")
    p.set_defaults(func=cmd_escalation)

    p = sub.add_parser("report", help="figures for the centre's report: table, CSV and PNG charts")
    p.add_argument("--since", help="first day, YYYY-MM-DD (default: 90 days ago)")
    p.add_argument("--until", help="last day, YYYY-MM-DD (default: today)")
    p.add_argument("--out", help="write CSV files and PNG charts to this folder")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("dashboard", help="browse the database in Datasette (read-only, canned queries)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001)
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("db", help="the database: apply migrations (upgrade) or show backend, version, rows (check)")
    p.add_argument("action", choices=["upgrade", "check"])
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("purge", help="delete message texts older than the retention period")
    p.add_argument("--older-than", type=float, metavar="DAYS", help="default: config.yml privacy.retention_days")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("broadcast", help="send the day's alert to every subscriber once (Telegram)")
    p.add_argument("--date", help="the alert's day, YYYY-MM-DD (default: today)")
    p.add_argument("--rate", type=float, help="messages per second (default: config broadcast.rate_per_second)")
    p.set_defaults(func=cmd_broadcast)

    p = sub.add_parser("wechat", help="the WeChat official account: install the menu, or mass-send today's warning")
    p.add_argument("action", choices=["menu", "broadcast"])
    p.add_argument("--date", help="with broadcast: the alert's day, YYYY-MM-DD (default: today)")
    p.set_defaults(func=cmd_wechat)

    p = sub.add_parser("reports", help="residents' reports of numbers, links and accounts; --confirm/--reject")
    p.add_argument("--status", help="new, confirmed or rejected")
    p.add_argument("--confirm", type=int, nargs="*", metavar="ID", help="confirm: the value joins the risk list")
    p.add_argument("--reject", type=int, nargs="*", metavar="ID")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reports)

    p = sub.add_parser("risklist", help="the risk list: import FILE.csv | export [FILE] | add VALUE | remove VALUE")
    p.add_argument("action", choices=["import", "export", "add", "remove"])
    p.add_argument("file", nargs="?", help="the CSV file (import/export), or the value (add/remove)")
    p.add_argument("--kind", choices=["phone", "url", "bank_card", "account"], help="default: guessed from the value")
    p.add_argument("--verdict", default="fraud", choices=["fraud", "suspicious", "official"])
    p.add_argument("--note")
    p.set_defaults(func=cmd_risklist)

    p = sub.add_parser("leaflet", help="a printable one-page A4 leaflet for a scam type")
    p.add_argument("scam_id")
    p.add_argument("--out", help="PDF file (default: leaflet-SCAM_ID.pdf)")
    p.set_defaults(func=cmd_leaflet)

    p = sub.add_parser("content", help="outreach staff's tools: 'content check'")
    content_sub = p.add_subparsers(dest="content_command", required=True)
    c = content_sub.add_parser("check", help="validate nlu/, stories/, content/ and config.yml")
    c.set_defaults(func=cmd_content_check)

    p = sub.add_parser("train", help="retrain the classifier from nlu/ and content/ now")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="per-type scores, escalation recall, CV and public-data checks")
    p.add_argument("files", nargs="*", help="JSONL files (or folders of them) with text, label and optional "
                                            "escalate (must|either|never) and register")
    p.add_argument("--cv", type=int, metavar="K", help="also run K-fold cross-validation on nlu/")
    p.add_argument("--thresholds", metavar="T1,T2", help="with --cv: escalation figures at these urgency thresholds")
    p.add_argument("--teleantifraud", metavar="DIR", help="also measure on the TeleAntiFraud dialogues in DIR")
    p.add_argument("--limit", type=int, default=None, help="sample at most this many TeleAntiFraud dialogues")
    p.add_argument("--predictions", metavar="FILE",
                   help="score another system's predictions for FILE.jsonl instead (e.g. tools/rasa_predict.py)")
    p.add_argument("--chat", action="store_true",
                   help="with FILE: also run each ordinary message through the chat and count the warnings")
    p.add_argument("--conversations", metavar="FILE",
                   help="run whole conversations (JSONL, see bot/measure/conversations.py) through the engine")
    p.add_argument("--errors", action="store_true", help="list every misclassified case")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("bench", help="training, load, latency, throughput and memory figures")
    p.add_argument("--messages", type=int, default=5000, help="messages to classify (default 5000)")
    p.add_argument("--conversations", type=int, nargs="?", const=-1, default=None, metavar="N",
                   help="instead: N simultaneous multi-turn conversations through the whole engine (default"
                        " --users); with --workers, through the whole service over HTTP")
    p.add_argument("--workers", default=None, metavar="1,2,4",
                   help="with --conversations: run `serve --workers N` for each N and load it over HTTP")
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite",
                   help="with --workers: the store (postgresql: the database BOT_DATABASE_URL names)")
    p.add_argument("--concurrency", type=int, default=32, help="with --workers: requests in flight (default 32)")
    p.add_argument("--rate", type=float, default=0,
                   help="with --workers: send this many requests a second instead of as fast as answered")
    p.add_argument("--users", type=int, default=1000, help="simultaneous conversations (default 1000)")
    p.add_argument("--risklist", type=int, default=0, metavar="ROWS",
                   help="instead: import ROWS risk-list values from CSV and time lookups (e.g. 1000000)")
    p.add_argument("--reload", action="store_true",
                   help="instead: reload (with retraining) while messages keep coming; count failures")
    p.add_argument("--stream", type=int, default=0, metavar="N",
                   help="instead: pipe N lines through 'classify' and sample its memory (e.g. 100000)")
    p.add_argument("--reloads", type=int, default=0, metavar="N",
                   help="instead: reload N times (content unchanged) and compare RSS after 1 and after N")
    p.add_argument("--faults", action="store_true",
                   help="instead: escalations recorded vs told with two servers on one file, staff at the terminal,"
                        " kill -9 mid-burst and a flood from one address (exit 1 if any is lost)")
    p.add_argument("--ocr", action="store_true",
                   help="instead: character accuracy on generated screenshots, time per phone screenshot on one "
                        "core and the memory the OCR engine adds")
    p.add_argument("--seconds", type=float, default=60, help="with --faults: how long the two servers run")
    p.add_argument("--flood", type=int, default=500, help="with --faults: escalations in the flood (default 500)")
    p.add_argument("--rounds", type=int, default=2, help="how many times to run them all (default 2)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("ocr", help="read the text in screenshots or photos offline: one JSON object per file")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_ocr)

    p = sub.add_parser("export-rasa", help="write a Rasa 3.x project from nlu/, stories/ and content/")
    p.add_argument("out_dir")
    p.set_defaults(func=cmd_export_rasa)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except InvalidFiles as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the database is down or refuses us: say which, without a stack trace
        from bot.redact import mask
        from bot.store import StoreError, database_url

        if not isinstance(exc, StoreError):
            raise

        where = mask(str(getattr(exc, "orig", None) or exc).splitlines()[0])
        print(f"数据库连不上，命令没有执行：{where}\n"
              f"the database is not reachable ({database_url(_settings(args).database).split('@')[-1]}):"
              f" the command did nothing. Check BOT_DATABASE_URL and that PostgreSQL is running.", file=sys.stderr)
        return 3
