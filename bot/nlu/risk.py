"""Turn the cues of a message (and whether it sounds like a scam) into a risk level.

Escalation never depends on the scam type alone: a resident in the middle of a
transfer to a stranger is urgent even when the type is ``unknown``; a resident
who only received a suspicious SMS is not.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.nlu.cues import LEVELS, Cue, CueRules

# Cues that mean money, a code or a card has left: neither "挂了" nor "拦下来了" undoes them.
GONE = {"money_gone", "money_gone_just_now", "code_given", "card_handover"}
# Money on its way out outweighs a "还没转" but not a "拦下来了".
MOVING = {"money_moving", "urgent_situation"}
# Pending demands of the high-pressure schemes (the policy, rule 3): "还没转" does not make them calm, only a
# refusal, a hang-up or a check with the real person does.
PRESSING = {"safe_account", "bail_fee", "large_demand", "secrecy", "isolation", "family_emergency", "boss_transfer",
            "loan_to_pay"}
# Mechanisms that with money leaving make a scam's scene even when the type is unclear (a prize, a sure return).
LURES = {"too_good", "threat_arrest"}
# A story about others ("某业主…先后转账12万元", "我同事去年被骗了") is past unless something is still going on.
ONGOING = {"ongoing", "still_on_call"}
# "被工作人员拦下，但她仍坚持要汇": stopped once, and going on all the same.
INSISTS = {"insists"}


@dataclass(frozen=True)
class Assessment:
    risk: str
    escalate: bool
    cues: tuple[Cue, ...]  # the cues that count, most serious first


def assess(cues: list[Cue], rules: CueRules, scam_like: bool, escalate_from: str = "high",
           asking: bool = False) -> Assessment:
    """Risk of a message from its cues.

    ``scam_like`` says the classifier sees a scam; ``asking`` that the message is a
    general question ("公安局会让人转安全账户吗"), which alone never escalates.
    """
    fired = {c.id for c in cues}
    # A scam's scene: the classifier sees one, a marker cue sets it, or a mechanism (a too-good offer, a fee)
    # comes with money leaving ("刮出来中了个小汽车 … 俺交了一千了").
    context = scam_like or any(rules.by_id[c].marker for c in fired) or bool(fired & (GONE | MOVING) and fired & LURES)
    levels: dict[str, int] = {}
    for cue in cues:
        rule = rules.by_id[cue.id]
        levels[cue.id] = rule.level if context else rule.alone
    risk = 1 if scam_like else 0
    risk = max([risk, *levels.values()])
    for combo in rules.combos:
        if context and all(c in fired for c in combo.when):
            risk = max(risk, combo.level)
    if context and risk >= 3 and any(rules.by_id[c].amplify for c in fired):
        risk = min(risk + 1, len(LEVELS) - 1)  # high → urgent for large sums, the elderly, a live call
    protects = {rules.by_id[c].protect for c in fired}
    if not fired & GONE and ("strong" in protects and not fired & INSISTS
                             or ("weak" in protects and not fired & (MOVING | PRESSING))
                             or (asking and not fired & MOVING)):
        risk = min(risk, 2)
    if "verified" in protects:
        risk = min(risk, 2)  # checked with the real person or body: even money sent went where it was meant to
    if "story" in protects and not fired & ONGOING:
        risk = min(risk, 2)  # someone else's past case: warn, but nothing for the desk to stop
    ordered = tuple(sorted(cues, key=lambda c: -levels.get(c.id, 0)))
    return Assessment(LEVELS[risk], risk >= LEVELS.index(escalate_from), ordered)
