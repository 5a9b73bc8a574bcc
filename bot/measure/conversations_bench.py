"""``python -m bot bench --conversations``: many simultaneous conversations through the engine.

1,000 residents each hold a scripted multi-turn conversation; their turns are
interleaved as they would be on a busy day, all through the real engine and a
real SQLite file (no network). Reports replies per second, per-turn latency and
the memory over time (it must stay flat).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

from bot.config import Settings
from bot.measure.memory import rss_mb

SCRIPTS = [
    ["你好", "刚才有个自称市公安局的打电话，说我名下的银行卡涉嫌洗钱，要配合调查", "没有，我已经挂了", "谢谢"],
    ["抖音上有人拉我进兼职群，说点赞截图就给佣金，现在让我先垫付做任务", "已经转了三万了", "谢谢"],
    ["网上贷款说我银行卡号填错了资金被冻结，要先交解冻费才能放款", "还没交", "反诈热线是多少"],
    ["有个陌生人加我微信让我下载一个软件", "/fake_customer_service", "/deny", "再见"],
    ["今天天气真好，下午去公园打太极", "怎么下载国家反诈中心APP", "谢谢"],
    ["那个警官还在电话里，让我把存款转到安全账户，我现在就在银行柜台", "好的我挂了"],
    ["有人出800块买我的银行卡，说只是走个账，能卖吗", "没有给", "杀猪盘是什么意思"],
    ["小区门口免费领鸡蛋听健康讲座，讲完推销一万多的保健品", "/affirm", "谢谢你"],
]


def run_conversations(settings: Settings, args) -> dict:
    from dataclasses import replace

    from bot.app import build_engine
    from bot.store import Store

    users = getattr(args, "users", 1000)
    rounds = getattr(args, "rounds", 2)
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db", settings.synchronous)
        engine = build_engine(replace(settings, database=Path(tmp) / "bench.db"), store)
        engine.handle("bench", "warmup", "你好")
        latencies, replies, rss = [], 0, []
        started = time.perf_counter()
        for round_index in range(rounds):
            scripts = {f"r{round_index}u{i}": list(rng.choice(SCRIPTS)) for i in range(users)}
            while scripts:
                for user in list(scripts):
                    text = scripts[user].pop(0)
                    t0 = time.perf_counter()
                    result = engine.handle("bench", user, text)
                    latencies.append((time.perf_counter() - t0) * 1000)
                    replies += len(result.replies)
                    if not scripts[user]:
                        del scripts[user]
                rss.append(round(rss_mb(), 1))
        elapsed = time.perf_counter() - started
        escalations = store.query("select count(*) n from escalations")[0]["n"]
        store.close()
    latencies.sort()
    return {
        "conversations": users * rounds,
        "simultaneous": users,
        "turns": len(latencies),
        "replies": replies,
        "escalations": escalations,
        "replies_per_s": round(replies / elapsed, 1),
        "turns_per_s": round(len(latencies) / elapsed, 1),
        "latency_ms_p50": round(statistics.median(latencies), 2),
        "latency_ms_p99": round(latencies[int(0.99 * (len(latencies) - 1))], 2),
        "latency_ms_max": round(latencies[-1], 2),
        "rss_mb_over_time": rss,
    }
