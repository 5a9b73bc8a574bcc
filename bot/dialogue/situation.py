"""The situation of a conversation: what the scammer asked for, what the resident has done, who is at risk.

Each turn adds to it from the cues of the message, read against what was asked before:
"告诉了" right after "对方让我把验证码告诉他" means the code was given. The engine keeps
the situation in the conversation's slots, so it survives restarts, and the risk of a
follow-up is judged against it: once money, a code or a card has gone, a later "好的"
does not make the chat calm again, and once a scam is established no reply says
there is no sign of one.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from bot.nlu.cues import Cue
from bot.nlu.understand import Understanding

# What a demand in one message asks for, by cue id.
DEMANDS = {"code_requested": "code", "info_requested": "code", "pay_requested": "money", "upfront_fee": "money",
           "safe_account": "money", "bail_fee": "money", "named_account": "money", "family_emergency": "money",
           "boss_transfer": "money", "loan_to_pay": "money", "download_app": "app", "remote_app": "app",
           "screen_share": "screen", "card_offer": "card"}
# The cue a short "done" answer stands for, by what was asked.
DONE_CUES = {"code": "code_given", "money": "money_gone", "app": "app_installed", "screen": "screen_share",
             "card": "card_handover"}
SHORT = 16  # characters: a follow-up this short is read against the pending demand
DONE = re.compile(r"^(我|俺|都|已经|刚|刚刚|早)*(告诉|说|念|报|读|给|发|输|填|下载|下|装|安装|转|交|付|汇|打|充|寄|开|弄|操作|照做|按他说的做)"
                  r"(了|过|完了|好了|上了)|^(嗯+|是的?|对+|对的|是啊|嗯呢|好像是|应该是|yes|yeah)[啊呀的了。!！,，\s]*$"
                  r"|(?i:\b(already|just)\s+(sent|paid|transferred|gave|wired|told|installed|downloaded)\b)")
NOT_DONE = re.compile(r"(还没|没有|没|不|别|未|拒绝|不敢|不想|犹豫|考虑|no\b|not\b|haven'?t)", re.IGNORECASE)
# A relative (or a villager) as the one the story is about: the person at risk is not the one writing.
_KIN = (r"(妈|爸|奶奶|爷爷|姥姥|姥爷|外婆|外公|婆婆|公公|老伴|老公|老婆|儿媳妇|儿媳|女婿|媳妇|儿子|女儿|闺女|孙子|孙女|孩子|岳母|岳父|父亲|母亲"
        r"|舅舅|侄子|外甥|姨|叔|婶|大爷|大娘|哥|姐|弟|妹|小孩|娃|娘|爹|对象)")
RELATIVE = re.compile(r"^[^，。,]{0,4}(我|俺)(家|们家)?" + _KIN + r"|^[^，。,]{0,4}(孩子|小孩|娃)(拿|用|玩|在|说|被)"
                      r"|邻居|隔壁|对门|楼上的|楼下的|同村的|村里的|独居老人|(我|俺)是[^，。,]{0,10}(网格员|柜员|村干部|社区的|村委会的)|我们村|老人家"
                      r"|有(个|一个|位|一位)(大妈|大爷|大娘|老人|老太太|老大爷|阿姨|村民|居民|储户|顾客)"
                      # later in the message, the relative as the one acting ("想咨询个事 俺爸今年六十八了",
                      # "…这价正常吗 俺爸说是厂家清仓"), not the one named in the scam ("说我儿子出车祸了")
                      # or told ("别告诉我妈", "跟我爸说了")
                      r"|(^|[，。,！？!?\s]|替|帮)(我|俺)(家)?(对象|" + _KIN[1:-1] + r")(?!的?(电话|微信|号))"
                      r"(今年|已经|刚|刚才|最近|这两天|天天|在|说|接|被|让|要|跟人|网上|玩|也|又|非|不听|拿|去|把|转|给人|一个人|[0-9六七八九]+岁?了)")
# … unless the "relative" is the one calling or writing to the resident (a scammer posing as them).
# The kin word right before the contact ("我儿子给我打电话说…", "儿子微信上说他…"); "我闺女说她在网上…" and
# "我爸说有人打电话给他" are about the relative.
POSING = re.compile(_KIN + r"[^，。,说]{0,8}(给我|找我|让我|跟我|问我|给俺|找俺|让俺|跟俺|问俺|打电话|打来"
                    r"|发消息|发微信|发短信|新号|换号|换了号|微信上说|QQ上说|短信里说)(?!" + _KIN + ")")  # not 给俺弟盖房
WRITTEN = re.compile(r"短信|微信|QQ|qq|群里|私信|链接|网站|网页|直播|朋友圈|抖音|快手|小红书|app|APP|App|平台|小程序|公众号|邮件")
CALL = re.compile(r"电话|通话|打来|来电|视频|语音|挂了|挂断|没挂|接了个|接到")
NO_CALL = re.compile(r"(不方便|不能|不让|不肯|没法|没|没有|别|从不|从来不)(接|打|开)?(电话|视频|语音)")
# In a pasted text "电话" is mostly a number to call back ("联系王警官，电话…"); only these say a call happened.
PASTED_CALL = re.compile(r"通话|打来|来电|挂了|挂断|没挂|接了个|接到")
# What the engine puts before a picture's text: everything after it is the other side's words, not the resident's.
PICTURE_MARK = "【截图】"
OWN_PHONE = re.compile(r"(我|俺|本人)(的)?(电话|手机|手机号|号码|联系方式)|(打|联系|回电)(这个|我)|留个?(电话|号)")


@dataclass
class Situation:
    scam_type: str = ""  # the type the conversation settled on
    demanded: str = ""  # the latest demand: money | code | card | app | screen
    paid: bool = False
    amount_paid: float | None = None
    amount_mentioned: float | None = None
    gave_code: bool = False
    installed_app: bool = False
    shared_screen: bool = False
    card_handed: bool = False
    last_amount: float | None = None  # the latest amount named: what a later "转了" with no amount refers to
    app_asked: bool = False  # the other side asked for an app to be installed (money put in later went through it)
    moving: bool = False  # money is being moved now or about to be (on the way to the bank, transferring)
    live_call: bool | None = None  # the scammer is on the line now (None: never said)
    call: bool = False  # a call or video call is mentioned (so "挂断" makes sense)
    pasted: bool = False  # the story began with a pasted SMS or chat: unless a call is mentioned, nobody is on the line
    hung_up: bool = False
    verified: bool = False
    at_risk: str = "self"  # self | relative
    contact: str = ""  # a phone number the resident gave for the desk to call back
    danger: bool = False  # the conversation has reached the escalation level
    suspected: bool = False  # the bot found the story suspicious (warned or asked which scam it is)
    scam_type_seen: bool = False  # who is at risk is read from the messages until the story is told

    @classmethod
    def of(cls, slots: dict) -> "Situation":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in (slots.get("situation") or {}).items() if k in known})

    def save(self, slots: dict) -> None:
        slots["situation"] = asdict(self)

    @property
    def no_call(self) -> bool:
        """No call has been mentioned (an online chat, an app, a pasted text): nobody to hang up on."""
        return not self.call

    @property
    def written_only(self) -> bool:
        """The story came in writing (a pasted SMS or chat) and no call was mentioned since."""
        return self.pasted and not self.call

    @property
    def gone(self) -> bool:
        """Money, a code, a card or the phone has already left the resident's hands."""
        return self.paid or self.gave_code or self.card_handed or self.shared_screen

    def facts(self) -> dict:
        """The facts a conversation test checks (tests/data/conversations.jsonl)."""
        return {"scam_type": self.scam_type or "not_scam", "at_risk": self.at_risk, "paid": self.paid,
                "amount_paid": self.amount_paid, "amount_mentioned": self.amount_mentioned,
                "gave_code": self.gave_code, "installed_app": self.installed_app, "shared_screen": self.shared_screen,
                "card_handed": self.card_handed, "live_call": bool(self.live_call), "hung_up": self.hung_up,
                "verified": self.verified, "contact_given": bool(self.contact)}


# A handover arranged ("约好明天下午在学校门口交"): after a card was asked for, the card is about to go.
ARRANGED = re.compile(r"(约好|约了|说好|定好|讲好)(了)?[^，。？?]{0,12}(交|给|送|拿|寄|取|见面)")


def follow_up_cue(situation: Situation, text: str) -> str | None:
    """The cue a short answer stands for: "告诉了" after a code was asked for is ``code_given``."""
    short = text.strip()
    if situation.demanded == "card" and ARRANGED.search(short):
        return "card_handover"
    if not situation.demanded or len(short) > SHORT or NOT_DONE.search(short) or not DONE.search(short):
        return None
    return DONE_CUES.get(situation.demanded)


def _amounts(u: Understanding) -> list[tuple[float, int]]:
    """The sums of money the understanding found, with where each starts in the message."""
    return [(e.value, e.start) for e in u.entities if e.type == "amount" and isinstance(e.value, float)]


# A price or a sum written as a bare number ("14pro才1500", "第二单要3800", "买一个19800的床垫", "2600两箱").
PRICED = re.compile(r"(才|要|卖|售价|价格|价钱|只要|仅|值|花了?|收了?|差|欠|买了?一?[个台套盒瓶箱件]|一共|总共|共)\s*"
                    r"(\d{3,7})(?![\d年月日号点:：.-])|(?<![\d.])(\d{3,7})(?=[两一二三四五六七八九十]?[箱盒瓶台件套个]|的)")


SENT = re.compile(r"(转|汇|付|交|充|打)(了|过去|过|给)")  # the resident's side sent it (not "每月都给了": paid to them)
HOTLINE = re.compile(r"^(110|114|119|120|122|12\d{3}|9[56]\d{3})$")  # 96110, 12345: numbers to call, not sums


def _priced(text: str) -> list[float]:
    numbers = (m.group(2) or m.group(3) for m in PRICED.finditer(text))
    return [float(n) for n in numbers if not HOTLINE.match(n)]


# A total paid ("一共充进去五万五了", "前前后后转了六万二", "一共三千二").
TOTAL = re.compile(r"(一共|总共|前前后后|前后|加起来|合计|总计)")


def _total(u: Understanding, text: str) -> float | None:
    """The amount right after a word for "in all", when money went."""
    marks = [m.end() for m in TOTAL.finditer(text)]
    if not marks:
        return None
    found = _amounts(u)
    after = [value for value, start in found for mark in marks if 0 <= start - mark <= 8]
    return max(after) if after else None


# A further payment on top of one already made ("又转了三千", "再交了2000", "又加了三万").
AGAIN = re.compile(r"(又|再|还|另外|接着)(给他|给她|给对方)?(转|交|付|汇|充|打|投|加)(了|过)")


def _further(u: Understanding, text: str) -> list[float]:
    """The amounts right after each "又转了"-like verb of the message."""
    found = _amounts(u)
    return [value for m in AGAIN.finditer(text) for value, start in found if 0 <= start - m.end() <= 4]
# A bare number right after a money verb is an amount too ("垫了3000", "一共2400", "sent 5000").
BARE_AMOUNT = re.compile(r"(转|垫|付|交|充|汇|打|给|投|出|扣|划|花|少|一共|共|总共|sent|paid|transferred|deposited)了?\s*(?:[^\d\s]{0,4}\s*)?(\d{2,8})(?!\d)")


def _nearest_amount(u: Understanding, cue: Cue) -> float | None:
    """The amount closest to the words that said money went ("垫了3000 … 要再充5000" → 3000)."""
    text = u.text or ""
    found = _amounts(u)
    found += [(float(m.group(2)), m.start(2)) for m in BARE_AMOUNT.finditer(text)
              if not any(start <= m.start(2) < start + 8 for _, start in found)]
    if not found:
        return None
    # Entity offsets point into the original text and cue offsets into the normalised one; both keep the
    # order of the message, so the amount closest to the cue's words is the one paid.
    position = text.find(cue.evidence[:4]) if cue.evidence else -1
    if position < 0:
        return max(value for value, _ in found)
    return min(found, key=lambda item: abs(item[1] - position))[0]


def update(situation: Situation, u: Understanding, cues: list[Cue], scam_type: str | None, danger: bool) -> None:
    """Add what this message says to the situation."""
    ids = {c.id for c in cues}
    text = u.text or ""
    if scam_type and (not situation.scam_type or situation.scam_type == "unknown"):
        situation.scam_type = scam_type
    amounts = [value for value, _ in _amounts(u)]
    amounts += [a for a in _priced(text) if all(abs(a - b) >= 0.5 for b in amounts)]
    paid = None
    if ids & {"money_gone", "money_gone_just_now"}:
        cue = next(c for c in cues if c.id in ("money_gone", "money_gone_just_now"))
        paid = _nearest_amount(u, cue)
    if amounts:  # the largest sum named, paid or not (the desk's summary shows both when they differ)
        situation.amount_mentioned = max([situation.amount_mentioned or 0.0, *amounts])
    if scam_type and scam_type != "not_scam" or danger:  # an ordinary request ("装个反诈APP") is no demand
        for cue in cues:
            if cue.id in DEMANDS:
                situation.demanded = DEMANDS[cue.id]
    if ids & {"money_gone", "money_gone_just_now"}:
        situation.paid = True
        total = _total(u, text)
        if total:
            situation.amount_paid = max(situation.amount_paid or 0.0, total)  # "一共充进去五万五了"
        elif paid and situation.amount_paid and AGAIN.search(text):
            # "已经转了两千" … "又转了三千": 5,000 in all; "后来又充了两万 上礼拜又加了三万": both
            situation.amount_paid += sum(_further(u, text)) or paid
        elif paid:
            situation.amount_paid = max(situation.amount_paid or 0.0, paid)
        elif situation.amount_paid is None and situation.last_amount and len(text.strip()) <= 2 * SHORT \
                and SENT.search(text):
            situation.amount_paid = situation.last_amount  # "2600两箱的茅台…" then "俺爸已经转了"
    if amounts:
        situation.last_amount = amounts[-1]
    if situation.amount_paid and (situation.amount_mentioned or 0) < situation.amount_paid:
        situation.amount_mentioned = situation.amount_paid  # the largest sum named includes what was paid in steps
    if "code_given" in ids:
        situation.gave_code = True
    if "card_handover" in ids:
        situation.card_handed = True
    if "screen_share" in ids:
        situation.shared_screen = situation.installed_app = True
    if ids & {"download_app", "remote_app"}:
        situation.app_asked = True
    if "app_installed" in ids or (situation.app_asked and ids & {"money_gone", "money_gone_just_now"}):
        situation.installed_app = True  # "在上面充了1800" after "让我下一个星耀优选app": the app is on the phone
    if ids & {"money_moving", "urgent_situation"} and not situation.paid:
        situation.moving = True
    if "still_on_call" in ids:
        situation.live_call = True
    if "stopped" in ids:
        situation.hung_up, situation.live_call, situation.moving = True, False, False
        if re.search(r"关了|关掉|卸载|删了", text):
            situation.shared_screen = False  # "好我关了": stopped sharing (what was seen stays seen)
    if "verified" in ids:
        situation.verified = True
    own = NO_CALL.sub("", text.split(PICTURE_MARK, 1)[0])  # "他在开会不方便打电话", "不方便视频": no call
    if (PASTED_CALL if u.voice >= 0.5 else CALL).search(own):
        situation.call = True
    if not situation.scam_type_seen and (scam_type or ids) and (u.voice >= 0.5 or WRITTEN.search(text)):
        situation.pasted = True  # the story came in writing (an SMS, a chat, an app), not on the phone
    relative = RELATIVE.search(text)
    posing = POSING.search(text)
    # "俺爸今年六十八了 … 俺爸刚才给俺打电话说他现在就去银行": the relative is told of first, so the call is theirs.
    if situation.at_risk == "self" and not situation.scam_type_seen and relative \
            and (not posing or relative.end() <= posing.start()):
        situation.at_risk = "relative"
    situation.scam_type_seen = situation.scam_type_seen or bool(scam_type or ids)
    phones = [e for e in u.entities if e.type == "phone"]
    if phones and OWN_PHONE.search(text):
        situation.contact = phones[-1].text
    situation.danger = situation.danger or danger
