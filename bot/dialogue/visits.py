"""Door-to-door visits by grid workers (网格员入户走访), on behalf of an elderly resident.

``/visit`` walks the worker through content/visit.yml: village and grid, a household
label, the resident's age band and consent, then a checklist in plain words with the
warning to read aloud for every "有", and a follow-up question that escalates exactly
like a resident's chat (with the worker as the contact). It ends with whether the
国家反诈中心 app was installed and 96110 saved, and stores the visit in ``visits``.
No identity data beyond what the worker types; names are never asked for.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from bot.dialogue.responses import Button, Reply, fill
from bot.store import now

if TYPE_CHECKING:
    from bot.dialogue.context import ActionKit, TurnContext

PAYLOAD = re.compile(r"^/v:([a-z0-9_]+):(\d)$")
YES_NO = (("有", "1"), ("没有", "0"))


def typed_choice(text: str, titles: list[str]) -> int | None:
    """Which button a typed answer means: its number ("2"), its words, or the longest button title it contains."""
    text = text.strip().rstrip("。.!！")
    if text.isdigit() and 1 <= int(text) <= len(titles):
        return int(text) - 1
    if text in titles:
        return titles.index(text)
    inside = [(len(t), i) for i, t in enumerate(titles) if t and t in text]
    return max(inside)[1] if inside else None


class Visits:
    def __init__(self, actions: "ActionKit"):
        self.actions = actions

    @property
    def store(self):
        return self.actions.engine.store

    # --- who may visit ------------------------------------------------------------------------

    def is_worker(self, channel: str, user_id: str) -> bool:
        if channel == "terminal":
            return True  # the terminal runs on the centre's own machine
        configured = {str(i) for i in (self.actions.engine.settings.raw.get("grid") or {}).get("workers") or []}
        from bot.desk.outbox import DeskSettings

        if str(user_id) in configured or DeskSettings.from_settings(self.actions.engine.settings).is_staff(user_id):
            return True
        return bool(self.store.query("select 1 from workers where channel = :c and user_id = :u",
                                     {"c": channel, "u": str(user_id)}))

    def add_worker(self, channel: str, user_id: str, name: str, added_by: str) -> None:
        with self.store.transaction() as db:
            db["workers"].upsert({"channel": channel, "user_id": str(user_id), "name": name, "grid": "",
                                  "added_by": added_by, "added_at": now()}, pk=("channel", "user_id"))

    # --- the walk -----------------------------------------------------------------------------

    def start(self, ctx: "TurnContext") -> None:
        chart = ctx.brain.visit
        if chart is None:
            return self.actions.utter("utter_help", ctx)
        if not self.is_worker(ctx.channel, ctx.user_id):
            ctx.replies.append(Reply("入户走访功能只供登记的网格员使用。请联系反诈中心登记（/addworker）。",
                                     kind="action_visit"))
            return
        with self.store.transaction() as db:
            visit_id = db["visits"].insert({"worker": f"{ctx.channel}:{ctx.user_id}", "worker_channel": ctx.channel,
                                            "date": now()[:10], "started_at": now(), "status": "in_progress",
                                            "topics": "[]", "answers": "{}", "risk_found": 0}).last_pk
        ctx.tracker.extra["visit"] = {"id": visit_id, "step": chart.start, "answers": {}, "topics": [],
                                      "check": None, "phase": "intake"}
        ctx.replies.append(Reply(f"开始第 {visit_id} 号走访记录。随时发 /cancel 可以取消。", kind="action_visit"))
        ctx.replies.append(self.ask(ctx, chart.start))
        ctx.tracker.extra["visit"]["buttons"] = [(b.title, b.payload) for b in ctx.replies[-1].buttons]

    def ask(self, ctx: "TurnContext", step_id: str) -> Reply:
        step = ctx.brain.visit.steps[step_id]
        return Reply(step.text, [Button(c.title, f"/v:{step.id}:{i}") for i, c in enumerate(step.buttons)],
                     kind="action_visit")

    def answer(self, ctx: "TurnContext") -> None:
        """A typed answer (intake) or a button (any phase)."""
        chart, state = ctx.brain.visit, ctx.tracker.extra.get("visit")
        if not state or chart is None:
            ctx.replies.append(Reply("没有进行中的走访。发 /visit 开始新的走访。", kind="action_visit"))
            return
        text = ctx.understanding.text.strip()
        match = PAYLOAD.match(text)
        if not match and state.get("buttons"):
            chosen = typed_choice(text, [title for title, _ in state["buttons"]])
            if chosen is not None:  # "80岁以上", "2" or "没装上" typed instead of pressed
                text = state["buttons"][chosen][1]
                match = PAYLOAD.match(text)
        try:
            return self._answer(ctx, state, chart, text, match)
        finally:
            last = ctx.replies[-1] if ctx.replies else None
            state["buttons"] = [(b.title, b.payload) for b in last.buttons] if last and last.buttons else []

    def _answer(self, ctx, state, chart, text, match) -> None:
        if state["phase"] == "intake":
            return self._intake(ctx, state, chart, text, match)
        if not match:
            ctx.replies.append(Reply("请点下面的按钮回答。发 /cancel 可以取消这次走访。", kind="action_visit"))
            return
        key, value = match.group(1), match.group(2) == "1"
        if state["phase"] == "check":
            return self._checked(ctx, state, chart, key, value)
        if state["phase"] == "follow":
            return self._followed(ctx, state, chart, key, value)
        return self._finish(ctx, state, chart, key, value)

    def _intake(self, ctx, state, chart, text, match) -> None:
        step = chart.steps[state["step"]]
        if step.input:
            if match or not text or text.startswith("/"):
                ctx.replies.append(self.ask(ctx, step.id))
                return
            state["answers"][step.input] = text[:60]
            next_step = step.next
        else:
            if not match or match.group(1) != step.id or int(match.group(2)) >= len(step.buttons):
                ctx.replies.append(self.ask(ctx, step.id))
                return
            choice = step.buttons[int(match.group(2))]
            if step.field:
                state["answers"][step.field] = choice.value
            if choice.outcome == "abort":
                self._save(state, status="aborted")
                ctx.tracker.extra.pop("visit", None)
                ctx.replies.append(Reply("老人不同意，走访已取消，只记录了“未同意”。谢谢您！", kind="action_visit"))
                return
            next_step = choice.next
        if next_step in chart.steps:
            state["step"] = next_step
            ctx.replies.append(self.ask(ctx, next_step))
            return
        state["phase"], state["check"] = "check", 0
        ctx.replies.append(self._check_question(chart, 0))

    def _check_question(self, chart, index: int) -> Reply:
        item = chart.checklist[index]
        return Reply(f"请问老人：{item.question}", [Button(t, f"/v:{item.id}:{v}") for t, v in YES_NO],
                     kind="action_visit")

    def _checked(self, ctx, state, chart, key, value) -> None:
        item = chart.checklist[state["check"]]
        if key != item.id:
            ctx.replies.append(self._check_question(chart, state["check"]))
            return
        if item.label not in state["topics"]:
            state["topics"].append(item.label)
        state["answers"][item.id] = value
        if value:
            scam = ctx.brain.content.scams.get(item.scam_type or "")
            if scam:
                flags = "\n".join(f"· {f}" for f in scam.red_flags[:3])
                ctx.replies.append(Reply(f"请读给老人听：\n{fill(scam.warning, self.actions.values(ctx.brain, ctx.tracker))}"
                                         f"\n{flags}", kind="action_visit", voice=True))
            state["phase"] = "follow"
            ctx.replies.append(Reply(f"再问一句：{item.follow_up}", [Button("是", f"/v:{item.id}:1"),
                                                                  Button("不是", f"/v:{item.id}:0")],
                                     kind="action_visit"))
            return
        self._next_check(ctx, state, chart)

    def _followed(self, ctx, state, chart, key, value) -> None:
        item = chart.checklist[state["check"]]
        state["answers"][f"{item.id}_follow"] = value
        if value:
            state["risk"] = True
            self._escalate(ctx, state, item)
        self._next_check(ctx, state, chart)

    def _next_check(self, ctx, state, chart) -> None:
        state["check"] += 1
        if state["check"] < len(chart.checklist):
            state["phase"] = "check"
            ctx.replies.append(self._check_question(chart, state["check"]))
            return
        state["phase"] = "finish_app"
        ctx.replies.append(Reply(chart.finish.get("app", "国家反诈中心APP装好了吗？"),
                                 [Button("已安装", "/v:app:1"), Button("没装上", "/v:app:0")], kind="action_visit"))

    def _finish(self, ctx, state, chart, key, value) -> None:
        if state["phase"] == "finish_app" and key == "app":
            state["answers"]["app_installed"] = value
            state["phase"] = "finish_hotline"
            ctx.replies.append(Reply(chart.finish.get("hotline", "96110 存进手机了吗？"),
                                     [Button("已保存", "/v:hotline:1"), Button("没有", "/v:hotline:0")],
                                     kind="action_visit"))
            return
        if state["phase"] == "finish_hotline" and key == "hotline":
            state["answers"]["hotline_saved"] = value
            self._save(state, status="done")
            ctx.tracker.extra.pop("visit", None)
            topics = "；".join(state["topics"]) or "无"
            ctx.replies.append(Reply(
                f"第 {state['id']} 号走访已记录：{state['answers'].get('grid', '')} {state['answers'].get('household', '')}，"
                f"讲了 {len(state['topics'])} 个话题（{topics}），反诈APP{'已安装' if state['answers'].get('app_installed') else '未安装'}。"
                f"{'发现风险，已通知值班民警。' if state.get('risk') else '未发现风险。'}谢谢您！", kind="action_visit"))

    def _escalate(self, ctx, state, item) -> None:
        answers = state["answers"]
        worker = f"网格员 {ctx.channel}:{ctx.user_id}"
        opened = self.actions.engine.escalations.open_or_update(
            channel=ctx.channel, chat_id=f"visit-{state['id']}", scam_type=item.scam_type or "unknown",
            risk="urgent", cues=[item.question, item.follow_up + " 是"], amount=None,
            summary=f"入户走访 {answers.get('grid', '')} {answers.get('household', '')}（{answers.get('age_band', '')}岁）："
                    f"{item.question}有；{item.follow_up}是",
            contact=worker, source="visit")
        state["escalation_id"] = opened.id
        ctx.escalation_id = opened.id
        ctx.replies.append(Reply(f"⚠️ 发现风险！请马上帮老人拨打 {self.actions.values(ctx.brain, ctx.tracker)['police']}，"
                                 "不要再转账，挂断对方电话。值班民警已收到预警，会联系您。", urgent=True,
                                 kind="action_escalate"))

    def _save(self, state, status: str) -> None:
        answers = state["answers"]
        with self.store.transaction() as db:
            db["visits"].update(state["id"], {
                "grid": answers.get("grid"), "household": answers.get("household"),
                "age_band": answers.get("age_band"), "consent": int(answers.get("consent") == "yes"),
                "topics": json.dumps(state["topics"], ensure_ascii=False),
                "answers": json.dumps(answers, ensure_ascii=False),
                "app_installed": int(bool(answers.get("app_installed"))),
                "hotline_saved": int(bool(answers.get("hotline_saved"))),
                "risk_found": int(bool(state.get("risk"))), "escalation_id": state.get("escalation_id"),
                "status": status, "finished_at": now()})

    def cancel(self, ctx: "TurnContext") -> None:
        state = ctx.tracker.extra.pop("visit", None)
        ctx.tracker.extra.pop("guided", None)
        if state:
            self._save(state, status="cancelled")
        ctx.replies.append(Reply("已取消。" if state else "好的。", kind="action_cancel"))
