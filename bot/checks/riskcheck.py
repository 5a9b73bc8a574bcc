"""风险查询: is this phone number, link, bank card or account known, official, or suspicious?

Every value is normalised (digits only for phones and cards, lower-cased host and
path for links) and looked up in the staff's risk list and in residents' reports;
the official list in content/official.yml answers real service numbers and domains
as official; offline heuristics, each named in the answer, flag lookalike domains,
link shorteners, raw IP hosts, abused new TLDs, numbers from abroad, virtual
operators, and 95/96 numbers that are not on the official list. An answer never
says "safe": what is not found is "not found, which does not mean safe".
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bot.problems import InvalidFiles, Problem, display_path
from bot.store import Store, now
from bot.yamlfile import listed, read_yaml

KINDS = ("phone", "url", "bank_card", "account")
KIND_ZH = {"phone": "号码", "url": "网址", "bank_card": "银行卡", "account": "账号"}
VERDICT_ORDER = {"official": 0, "fraud": 1, "suspicious": 2, "unknown": 3}
HOMOGLYPHS = str.maketrans({"0": "o", "1": "l", "3": "e", "5": "s", "$": "s", "@": "a"})


@dataclass(frozen=True)
class Official:
    numbers: dict[str, str] = field(default_factory=dict)  # normalised number → name
    domains: dict[str, tuple[str, str]] = field(default_factory=dict)  # domain → (name, brand)
    shorteners: frozenset[str] = frozenset()
    risky_tlds: frozenset[str] = frozenset()
    virtual_prefixes: tuple[str, ...] = ()


def load_official(path: Path, root: Path | None = None, problems: list[Problem] | None = None) -> Official:
    if not path.exists():
        return Official()
    found: list[Problem] = []
    name = display_path(path, root)
    doc = read_yaml(path, found, root) or {}
    if not isinstance(doc, dict):
        found.append(Problem(name, 1, "expected sections like 'numbers:' and 'domains:'", "文件应包含 numbers、domains 等部分"))
        doc = {}
    numbers, domains = {}, {}
    for item in listed(doc, "numbers", name, found):
        number = normalise("phone", str(item.get("number", ""))) if isinstance(item, dict) else None
        if not number or not item.get("name"):
            found.append(Problem(name, getattr(item, "line", 1), "each number needs number and name",
                                 "每个号码都要写 number 和 name"))
            continue
        numbers[number] = str(item["name"])
    for item in listed(doc, "domains", name, found):
        domain = str(item.get("domain", "")).lower().strip() if isinstance(item, dict) else ""
        if not re.fullmatch(r"[a-z0-9.-]+\.[a-z]{2,}", domain) or not item.get("name"):
            found.append(Problem(name, getattr(item, "line", 1), "each domain needs domain (like icbc.com.cn) and name",
                                 "每个网址都要写 domain（例如 icbc.com.cn）和 name"))
            continue
        domains[domain] = (str(item["name"]), str(item.get("brand") or domain.split(".")[0]).lower())
    shorteners = frozenset(str(s).lower() for s in listed(doc, "shorteners", name, found))
    tlds = frozenset(str(t).lower().lstrip(".") for t in listed(doc, "risky_tlds", name, found))
    prefixes = tuple(str(p) for p in listed(doc, "virtual_prefixes", name, found))
    if problems is not None:
        problems.extend(found)
    elif found:
        raise InvalidFiles(found)
    return Official(numbers, domains, shorteners, tlds, prefixes)


# --- normalisation ----------------------------------------------------------------------------

def infer_kind(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw).strip()
    digits = re.sub(r"[\s\-()+]", "", text)
    if re.search(r"[a-zA-Z]", text) and ("." in text or "/" in text) and " " not in text.strip():
        return "url"
    if digits.isdigit():
        if 16 <= len(digits) <= 19 and not digits.startswith(("0", "86")):
            return "bank_card"
        return "phone"
    return "account"


def normalise(kind: str, raw: str) -> str | None:
    """The lookup key of a value, or None when it is not a value of that kind."""
    text = unicodedata.normalize("NFKC", str(raw)).strip().strip("，。、；：！？,.;:!?\"'“”‘’（）()【】<>《》")
    if kind == "phone":
        international = text.startswith("+") or text.startswith("00")
        digits = re.sub(r"\D", "", text)
        if international:
            digits = digits[2:] if digits.startswith("00") else digits
            if digits.startswith("86"):
                digits, international = digits[2:], False
            else:
                return f"00{digits}" if 6 <= len(digits) <= 15 else None
        if len(digits) == 13 and digits.startswith("86") and digits[2] == "1":
            digits = digits[2:]
        return digits if 3 <= len(digits) <= 15 else None
    if kind == "bank_card":
        digits = re.sub(r"\D", "", text)
        return digits if 12 <= len(digits) <= 19 else None
    if kind == "url":
        candidate = text if re.match(r"^[a-z][a-z0-9+.-]*://", text, re.I) else "http://" + text
        try:
            parts = urlsplit(candidate)
            host = (parts.hostname or "").rstrip(".").lower()
        except ValueError:
            return None
        if not host:
            return None
        try:
            host = host.encode("idna").decode("ascii")  # 工商银行.com → xn--…
        except UnicodeError:
            return None
        host = host.removeprefix("www.")
        path = unquote(parts.path or "").rstrip("/").lower()
        return host + path
    if kind == "account":
        value = re.sub(r"\s", "", text).lower()
        return value or None
    return None


def host_of(value: str) -> str:
    return value.split("/", 1)[0]


def registrable(host: str) -> str:
    """The label a person would recognise: icbc in icbc.com.cn, paypa1 in login.paypa1.com."""
    labels = host.split(".")
    if len(labels) >= 3 and labels[-2] in ("com", "net", "org", "gov", "edu") and len(labels[-1]) == 2:
        return labels[-3]
    return labels[-2] if len(labels) >= 2 else labels[0]


def _distance(a: str, b: str, limit: int = 2) -> int:
    """Levenshtein distance, stopping early above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


# --- checking ---------------------------------------------------------------------------------

@dataclass
class Finding:
    kind: str
    shown: str  # as the resident wrote it
    value: str  # normalised
    verdict: str = "unknown"  # official | fraud | suspicious | unknown
    reasons: list[str] = field(default_factory=list)
    official_name: str = ""
    reporters: int = 0
    last_report: str = ""
    note: str = ""

    def line(self) -> str:
        what = f"{KIND_ZH[self.kind]} {self.shown}"
        reported = f"（已有 {self.reporters} 人举报，最近一次 {self.last_report[5:10]}）" if self.reporters else ""
        if self.verdict == "official":
            return (f"✅ {what} 是{self.official_name}的官方{'号码' if self.kind == 'phone' else '网址'}。"
                    "但官方客服也不会让您转账、说验证码。")
        if self.verdict == "fraud":
            note = f"（{self.note}）" if self.note else ""
            return f"⛔ {what}：反诈中心已确认是诈骗{KIND_ZH[self.kind]}{note}{reported}。不要接听、不要点开、不要转账。"
        if self.verdict == "suspicious":
            return f"⚠️ {what}：有可疑之处——{'；'.join(self.reasons)}{reported}。不要点开，不要转账，不要填写任何信息。"
        return f"❔ {what}：未在风险库中找到，不代表安全。陌生人让您转账、点链接的，一律不要相信。"


class Checker:
    def __init__(self, store: Store, official: Official):
        self.store = store
        self.official = official

    def check(self, items: list[tuple[str, str]], limit: int = 10) -> list[Finding]:
        """Findings for up to ``limit`` distinct (kind, value) items, most worrying first."""
        findings, seen = [], set()
        for kind, shown in items:
            value = normalise(kind, shown)
            if value is None or (kind, value) in seen:
                continue
            seen.add((kind, value))
            findings.append(self._one(kind, shown.strip(), value))
            if len(findings) >= limit:
                break
        return sorted(findings, key=lambda f: VERDICT_ORDER[f.verdict])

    def _one(self, kind: str, shown: str, value: str) -> Finding:
        finding = Finding(kind, shown, value)
        if kind == "phone" and value in self.official.numbers:
            finding.verdict, finding.official_name = "official", self.official.numbers[value]
            return finding
        if kind == "url":
            host = host_of(value)
            for domain, (name, _) in self.official.domains.items():
                if host == domain or host.endswith("." + domain):
                    finding.verdict, finding.official_name = "official", name
                    return finding
        listed = self._listed(kind, value)
        if listed:
            finding.note = listed.get("note") or ""
            finding.verdict = "fraud" if listed["verdict"] == "fraud" else "suspicious"
            if listed["verdict"] == "suspicious":
                finding.reasons.append("在反诈中心的可疑名单中" + (f"（{finding.note}）" if finding.note else ""))
        reports = self.store.query(
            "select count(distinct chat_id) n, max(created_at) last from reports where kind = :k and value = :v"
            " and status != 'rejected'", {"k": kind, "v": value})[0]
        finding.reporters, finding.last_report = reports["n"], reports["last"] or ""
        heuristics = self._heuristics(kind, value)
        finding.reasons.extend(heuristics)
        if finding.verdict == "unknown" and (heuristics or finding.reporters):
            finding.verdict = "suspicious"
            if not heuristics:
                finding.reasons.append("有群众举报过")
        return finding

    def _listed(self, kind: str, value: str) -> dict | None:
        keys = [value] + ([host_of(value)] if kind == "url" and "/" in value else [])
        placeholders = ", ".join(f":v{i}" for i in range(len(keys)))
        rows = self.store.query(
            f"select verdict, note from risk_list where kind = :k and value in ({placeholders})"
            " and (expires_at is null or expires_at > :now)"
            " order by case verdict when 'fraud' then 0 when 'suspicious' then 1 else 2 end limit 1",
            {"k": kind, "now": now(), **{f"v{i}": key for i, key in enumerate(keys)}})
        return rows[0] if rows else None

    def _heuristics(self, kind: str, value: str) -> list[str]:
        reasons = []
        if kind == "phone":
            if value.startswith("00"):
                reasons.append("境外号码（+86 以外）")
            elif len(value) == 11 and value.startswith("1") and value[:3] in self.official.virtual_prefixes:
                reasons.append(f"{value[:3]} 开头是虚拟运营商号段，常被用来诈骗")
            elif re.fullmatch(r"9[56]\d{3,4}", value):
                reasons.append("95/96 开头的短号，但不在官方号码名单里")
            elif re.fullmatch(r"[48]00\d{7}", value):
                reasons.append("400/800 号码，查不到属于哪家正规单位")
        elif kind == "url":
            host = host_of(value)
            try:
                ipaddress.ip_address(host.split(":")[0])
                reasons.append("网址是一串数字（IP 地址），正规单位不会这样")
            except ValueError:
                pass
            if any(label.startswith("xn--") for label in host.split(".")):
                reasons.append("国际化域名，可能在模仿中文或正规网址")
            if host in self.official.shorteners or any(host.endswith("." + s) for s in self.official.shorteners):
                reasons.append("短链接，看不到真正的网址")
            tld = host.rsplit(".", 1)[-1]
            if tld in self.official.risky_tlds:
                reasons.append(f"用的是不常见的域名后缀 .{tld}")
            reasons.extend(self._lookalike(host))
        return reasons

    def _lookalike(self, host: str) -> list[str]:
        label = registrable(host)
        plain = label.translate(HOMOGLYPHS).replace("rn", "m").replace("vv", "w")
        words = set(re.split(r"[-.]", host)) | {label, plain}
        for domain, (name, brand) in self.official.domains.items():
            if len(brand) < 3:
                continue
            if brand in words or any(brand in w and w != brand for w in words if len(brand) >= 4):
                return [f"网址里有“{brand}”（{name}），但不是{name}的官方网址 {domain}"]
            limit = 1 if len(brand) < 7 else 2
            if plain != brand and len(brand) >= 4 and _distance(plain, brand, limit) <= limit:
                return [f"和{name}的官方网址 {domain} 只差一两个字母，是仿冒网址"]
        return []


def format_findings(findings: list[Finding], more: int = 0) -> str:
    lines = ["查询结果："] + [f.line() for f in findings]
    if more:
        lines.append(f"（还有 {more} 个没有列出，请分几次发给我）")
    return "\n".join(lines)


def items_of(understanding) -> list[tuple[str, str]]:
    """The (kind, text) of every checkable entity in a message (accounts keep the text after the label)."""
    return [(e.type, e.text) for e in understanding.entities if e.type in KINDS]
