"""The duty desk on Telegram: staff alerts with status buttons, staff commands, delivery loop.

Alerts go to the staff chat (``STAFF_CHAT_ID``). Only staff (``STAFF_USER_IDS``)
may press the buttons 认领 / 已联系 / 已劝阻 / 已被骗 / 联系不上 / 关闭 or run staff
commands; others get a polite refusal, and the attempt is logged. Delivery uses a
bot instance of its own, without the shared rate limiter's pauses, so a failing
staff chat never holds up a resident's reply: a failed alert stays in the outbox
and is retried with backoff, also after a restart.
"""

from __future__ import annotations

import asyncio
import json
import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.channels.telegram import seconds, send_text
from bot.desk.loop import DeliveryLoop
from bot.desk.outbox import BUTTONS, STAFF_KINDS, Desk, alert_text, digest_text, flood_text, queue_lines
from bot.dialogue.engine import Engine
from bot.desk.escalations import SEEN_WHEN_OPEN, STATUS_ZH, STATUSES, UNRESOLVED

log = logging.getLogger(__name__)


def status_buttons(escalation_id: int) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(title, callback_data=f"esc:{escalation_id}:{status}")
               for status, title in BUTTONS.items()]
    return InlineKeyboardMarkup([buttons[i:i + 3] for i in range(0, len(buttons), 3)])


class DeskBot(DeliveryLoop):
    def __init__(self, engine: Engine, desk: Desk, reloader=None, broadcaster=None):
        super().__init__()
        self.engine = engine
        self.desk = desk
        self.reloader = reloader
        self.broadcaster = broadcaster
        self.sender: Bot | None = None
        self._warned_no_chat = False

    # --- wiring -----------------------------------------------------------------------------

    def register(self, app: Application) -> None:
        """Register before the residents' handlers: staff commands must win over the catch-all."""
        app.add_handler(CallbackQueryHandler(self.on_status_button, pattern=r"^esc:\d+:[a-z]+$"))
        app.add_handler(CallbackQueryHandler(self.on_report_button, pattern=r"^rep:\d+:(confirm|reject)$"))
        app.add_handler(CommandHandler("block", self.on_block))
        app.add_handler(CommandHandler("unblock", self.on_unblock))
        app.add_handler(CommandHandler("queue", self.on_queue))
        app.add_handler(CommandHandler("escalation", self.on_escalation))
        app.add_handler(CommandHandler("say", self.on_say))
        app.add_handler(CommandHandler("reload", self.on_reload))
        app.add_handler(CommandHandler("addworker", self.on_add_worker))
        app.add_handler(CommandHandler("alert", self.on_alert))
        app.add_handler(CommandHandler("broadcast", self.on_broadcast))

    async def start(self, app: Application, sender: Bot) -> None:
        self.sender = sender
        if app.job_queue:
            app.job_queue.run_repeating(self.follow_up_job, interval=30, first=1)
        self.start_loop(self.engine.escalations)

    async def stop(self) -> None:
        await self.stop_loop()

    # --- delivery ---------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        sent = 0
        staff_chat = self.desk.settings.staff_chat_id
        if not staff_chat:
            if not self._warned_no_chat:
                log.warning("STAFF_CHAT_ID is not set: %d staff alerts wait in the outbox",
                            await asyncio.to_thread(self.desk.pending))
                self._warned_no_chat = True
            return 0
        for row in await asyncio.to_thread(self.desk.claim, "telegram", 20, STAFF_KINDS):
            try:
                message_id, chat = await self.deliver(row)
            except RetryAfter as exc:
                await asyncio.to_thread(self.desk.failed, row, "429 Too Many Requests", seconds(exc.retry_after))
                continue
            except Forbidden as exc:
                await asyncio.to_thread(self.desk.failed, row, f"forbidden: {exc}")
                continue
            except TelegramError as exc:
                delay = await asyncio.to_thread(self.desk.failed, row, f"{type(exc).__name__}: {exc}")
                log.warning("alert %s for escalation %s not delivered (%s); retry in %.0fs",
                            row["id"], row["escalation_id"], exc, delay)
                continue
            await asyncio.to_thread(self.desk.delivered, row["id"], message_id, chat)
            sent += 1
        return sent

    async def deliver(self, row: dict) -> tuple[int | None, str]:
        if row["kind"] == "report_digest":
            return await self.deliver_digest(row)
        if row["kind"] == "staff_flood":
            names = {k: v.name for k, v in self.engine.content.scams.items()}
            text = flood_text(self.engine.escalations.group(row["escalation_id"]), names, payload=row["payload"])
            if not text:
                return None, ""
            message = await self.sender.send_message(self.desk.settings.staff_chat_id, text[:4000])
            return message.message_id, self.desk.settings.staff_chat_id
        escalation, events = self.desk.escalation(row["escalation_id"])
        if escalation is None:
            return None, ""
        chat = self.desk.settings.staff_chat_id
        names = {k: v.name for k, v in self.engine.content.scams.items()}
        text = alert_text(escalation, events, names, row["kind"])
        markup = status_buttons(escalation["id"]) if escalation["status"] in UNRESOLVED else None
        message = None
        for piece_index, piece in enumerate([text[i:i + 4000] for i in range(0, len(text), 4000)] or [text]):
            message = await self.sender.send_message(chat, piece, reply_markup=markup if piece_index == 0 else None)
        return message.message_id, chat

    async def deliver_digest(self, row: dict) -> tuple[int | None, str]:
        ids = json.loads(row["payload"] or "{}").get("reports", [])
        reports = [r for r in self.engine.risklist.reports(limit=500) if r["id"] in ids]
        if not reports:
            return None, self.desk.settings.staff_chat_id
        buttons = [[InlineKeyboardButton(f"确认 #{r['id']}", callback_data=f"rep:{r['id']}:confirm"),
                    InlineKeyboardButton(f"驳回 #{r['id']}", callback_data=f"rep:{r['id']}:reject")] for r in reports]
        message = await self.sender.send_message(self.desk.settings.staff_chat_id, digest_text(reports)[:4000],
                                                 reply_markup=InlineKeyboardMarkup(buttons))
        return message.message_id, self.desk.settings.staff_chat_id

    async def follow_up_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        if self.desk.schedule_follow_ups():
            self.wake.set()

    # --- staff actions ---------------------------------------------------------------------

    async def refuse(self, update: Update, what: str) -> None:
        user = update.effective_user
        log.warning("refused %s for non-staff user %s", what, user.id if user else None)
        if update.callback_query:
            await update.callback_query.answer("抱歉，只有值班民警可以处理预警。", show_alert=True)
        else:
            await send_text(update.get_bot(), update.effective_chat.id, "抱歉，这个命令只供值班民警使用。")

    @staticmethod
    def actor(update: Update) -> str:
        user = update.effective_user
        return f"{user.full_name}({user.id})" if user else "unknown"

    async def on_status_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if not self.desk.settings.is_staff(query.from_user.id):
            return await self.refuse(update, f"button {query.data}")
        _, escalation_id, status = query.data.split(":")
        try:
            await asyncio.to_thread(self.engine.escalations.set_status, int(escalation_id), status, self.actor(update))
        except (KeyError, ValueError):
            return await query.answer("找不到这条预警，或状态不对。", show_alert=True)
        await query.answer(f"已记录：{STATUS_ZH[status]}")
        await self.refresh(context.bot, int(escalation_id))

    async def refresh(self, bot, escalation_id: int) -> None:
        """Edit every delivered alert of an escalation to show its status and history."""
        escalation, events = self.desk.escalation(escalation_id)
        names = {k: v.name for k, v in self.engine.content.scams.items()}
        text = alert_text(escalation, events, names)[:4000]
        markup = status_buttons(escalation_id) if escalation["status"] in UNRESOLVED else None
        for message in self.desk.alert_messages(escalation_id):
            try:
                await bot.edit_message_text(text, chat_id=message["chat_id"], message_id=message["message_id"],
                                            reply_markup=markup)
            except BadRequest as exc:  # "message is not modified", or too old to edit
                log.info("could not edit alert %s: %s", message["message_id"], exc)

    async def on_queue(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not self.desk.settings.is_staff(update.effective_user.id):
            return await self.refuse(update, "/queue")
        rows = self.engine.store.query(
            "select id, risk, scam_type, status, created_at, group_id from escalations"
            " where status in ('open','claimed','contacted') order by id desc limit 2000")
        names = {k: v.name for k, v in self.engine.content.scams.items()}
        if not rows:
            text = "目前没有待处理的预警。"
        else:
            text = "待处理的预警：\n" + "\n".join(queue_lines(rows, names)[:30])
        await send_text(context.bot, update.effective_chat.id, text)

    async def on_report_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if not self.desk.settings.is_staff(query.from_user.id):
            return await self.refuse(update, f"button {query.data}")
        _, report_id, verdict = query.data.split(":")
        try:
            row = self.engine.risklist.review(int(report_id), verdict == "confirm", self.actor(update))
        except KeyError:
            return await query.answer("找不到这条举报。", show_alert=True)
        await query.answer("已确认，已加入风险库" if verdict == "confirm" else "已驳回")
        await send_text(context.bot, update.effective_chat.id,
                        f"举报 #{report_id}（{row['shown']}）{'已确认为诈骗，加入风险库' if verdict == 'confirm' else '已驳回'}"
                        f" — {self.actor(update)}")

    async def on_block(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/block VALUE [note]: add a number, link, card or account to the risk list as fraud."""
        if not self.desk.settings.is_staff(update.effective_user.id):
            return await self.refuse(update, "/block")
        args = context.args or []
        if not args:
            return await send_text(context.bot, update.effective_chat.id, "用法：/block 号码或网址 [备注]")
        try:
            kind, value = self.engine.risklist.add(None, args[0], "fraud", "telegram", " ".join(args[1:]),
                                                   self.actor(update))
        except ValueError:
            return await send_text(context.bot, update.effective_chat.id, f"“{args[0]}”不像号码、网址或账号。")
        await send_text(context.bot, update.effective_chat.id, f"已加入风险库：{kind} {value}")

    async def on_unblock(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/unblock VALUE: remove it from the risk list."""
        if not self.desk.settings.is_staff(update.effective_user.id):
            return await self.refuse(update, "/unblock")
        args = context.args or []
        if not args:
            return await send_text(context.bot, update.effective_chat.id, "用法：/unblock 号码或网址")
        removed = self.engine.risklist.remove(args[0])
        await send_text(context.bot, update.effective_chat.id,
                        f"已从风险库移除 {args[0]}" if removed else f"风险库里没有 {args[0]}")

    async def on_add_worker(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/addworker USER_ID [name]: register a grid worker (网格员) who may run /visit."""
        if not self.desk.settings.is_staff(update.effective_user.id):
            return await self.refuse(update, "/addworker")
        args = context.args or []
        if not args or not args[0].isdigit():
            return await send_text(context.bot, update.effective_chat.id,
                                   "用法：/addworker 网格员的Telegram用户编号 [姓名或称呼]")
        name = " ".join(args[1:])[:30]
        self.engine.actions.visits.add_worker("telegram", args[0], name, self.actor(update))
        await send_text(context.bot, update.effective_chat.id, f"已登记网格员 {name or args[0]}，对方发 /visit 即可开始走访记录。")

    async def on_reload(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/reload: check, retrain and swap the content while conversations go on."""
        if not self.desk.settings.is_staff(update.effective_user.id):
            return await self.refuse(update, "/reload")
        if self.reloader is None:
            return await send_text(context.bot, update.effective_chat.id, "这个机器人没有开启重新加载。")
        await send_text(context.bot, update.effective_chat.id, "正在检查并重新加载内容，请稍等……")
        report = await self.reloader.reload_async()
        await send_text(context.bot, update.effective_chat.id, report.text())

    async def on_alert(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/alert [YYYY-MM-DD] 标题 (newline) 正文: save the day's warning for subscribers."""
        if not self.desk.settings.is_staff(update.effective_user.id):
            return await self.refuse(update, "/alert")
        from bot.outreach.broadcast import parse_alert_command

        parsed = parse_alert_command(update.effective_message.text or "")
        if parsed is None:
            return await send_text(context.bot, update.effective_chat.id,
                                   "用法：/alert 标题，换行后写正文。可在标题前加日期，例如 /alert 2026-12-01 警惕刷单")
        day, title, body = parsed
        alert = self.engine.subscriptions.add_staff_alert(day, title, body, self.actor(update))
        count = self.engine.subscriptions.count()
        await send_text(context.bot, update.effective_chat.id,
                        f"已保存 {alert.day} 的预警“{alert.title}”，会按时推送给 {count} 位订阅者。"
                        "要马上推送，发 /broadcast。")

    async def on_broadcast(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/broadcast: send today's warning now (each subscriber still gets it only once)."""
        if not self.desk.settings.is_staff(update.effective_user.id):
            return await self.refuse(update, "/broadcast")
        if self.broadcaster is None:
            return await send_text(context.bot, update.effective_chat.id, "没有配置推送。")
        result = await self.broadcaster.run_today()
        if result is None:
            return await send_text(context.bot, update.effective_chat.id, "今天还没有预警内容。请先用 /alert 写一条。")
        await send_text(context.bot, update.effective_chat.id,
                        f"推送完成：“{result['title']}”，本次发送 {result['recipients_this_run']} 人，"
                        f"累计送达 {result.get('sent', 0)} 人，{result.get('blocked', 0)} 人已屏蔽机器人（已移出订阅）。")

    async def on_escalation(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/escalation ID [status] [note …]: show one escalation, or set its status."""
        if not self.desk.settings.is_staff(update.effective_user.id):
            return await self.refuse(update, "/escalation")
        args = context.args or []
        if not args or not args[0].lstrip("#").isdigit():
            return await send_text(context.bot, update.effective_chat.id,
                                   "用法：/escalation 编号 [状态] [备注]，状态可以是 " + "、".join(STATUSES))
        escalation_id = int(args[0].lstrip("#"))
        if len(args) > 1:
            if args[1] not in STATUSES:
                return await send_text(context.bot, update.effective_chat.id, "状态只能是 " + "、".join(STATUSES))
            try:
                await asyncio.to_thread(self.engine.escalations.set_status, escalation_id, args[1], self.actor(update),
                                        " ".join(args[2:]))
            except KeyError:
                return await send_text(context.bot, update.effective_chat.id, f"找不到预警 #{escalation_id}。")
            await self.refresh(context.bot, escalation_id)
        escalation, events = self.desk.escalation(escalation_id)
        if escalation is None:
            return await send_text(context.bot, update.effective_chat.id, f"找不到预警 #{escalation_id}。")
        names = {k: v.name for k, v in self.engine.content.scams.items()}
        await send_text(context.bot, update.effective_chat.id, alert_text(escalation, events, names))

    async def on_say(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/say ID text: write to the resident of an escalation through the bot (their answers come back here)."""
        if not self.desk.settings.is_staff(update.effective_user.id):
            return await self.refuse(update, "/say")
        parts = (update.effective_message.text or "").split(maxsplit=2)
        if len(parts) < 3 or not parts[1].lstrip("#").isdigit():
            return await send_text(context.bot, update.effective_chat.id,
                                   "用法：/say 编号 留言内容（通过机器人发给这条预警的居民）")
        escalation_id = int(parts[1].lstrip("#"))
        escalation = await asyncio.to_thread(self.engine.escalations.get, escalation_id)
        try:
            await asyncio.to_thread(self.engine.escalations.say, escalation_id, parts[2], self.actor(update))
        except KeyError:
            return await send_text(context.bot, update.effective_chat.id, f"找不到预警 #{escalation_id}。")
        except ValueError as exc:
            return await send_text(context.bot, update.effective_chat.id, str(exc).split(" / ")[0])
        hint = "（网页上的居民只有打开聊天页面时才能看到，有电话请直接打电话）" \
            if escalation and escalation["channel"] in SEEN_WHEN_OPEN else ""
        await send_text(context.bot, update.effective_chat.id,
                        f"留言已排队发给预警 #{escalation_id} 的居民{hint}。没送到或者居民回复时，这里会收到更新。")

