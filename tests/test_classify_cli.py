"""The ``classify`` contract: one JSON object per input line, in order, UTF-8, never a crash."""

import json

KEYS = {"scam_type", "confidence", "risk", "escalate", "cues", "entities"}
RISKS = {"none", "low", "medium", "high", "urgent"}


def test_classify_answers_every_line_in_order(run_bot):
    lines = [
        "刚才有个自称北京市公安局的人说我涉嫌洗钱，让我把存款转到安全账户，我正要去银行",
        json.dumps({"text": "今天去菜市场买了两斤排骨"}, ensure_ascii=False),
        "",
        "   ",
        json.dumps({"no_text": 1}),
        "{not json at all",
        "我剛接到電話說我涉嫌洗錢，讓我轉帳到安全帳戶",
        "🙂🙂🙂",
        "hello, is anyone there?",
        "転" * 1_000_000,
    ]
    raw = "\n".join(lines).encode("utf-8") + b"\n" + b"\x00\x01\xff\xfe binary \x02\x03\n"
    proc = run_bot("classify", input_text=raw)
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode("utf-8").splitlines()
    assert len(out) == len(lines) + 1
    results = [json.loads(line) for line in out]
    for result in results:
        assert set(result) == KEYS
        assert result["risk"] in RISKS and 0.0 <= result["confidence"] <= 1.0
    assert results[0]["scam_type"] == "fake_police" and results[0]["escalate"] is True
    assert "安全账户" in out[0]  # Chinese is written as is, not \u-escaped
    assert results[1]["scam_type"] == "not_scam"
    for blank in results[2:6] + results[7:]:
        assert blank["escalate"] is False
    assert results[6]["scam_type"] == "fake_police"
    org = [e for e in results[0]["entities"] if e["type"] == "organization"][0]
    assert lines[0][org["start"]:org["end"]] == org["text"] == "北京市公安局"


def test_classify_streams_many_lines(run_bot):
    base = ["有人出800块买我的银行卡", "给孙子转了两千块学费", "客服让我开了屏幕共享"]
    lines = [f"{base[i % 3]} {i}" for i in range(3000)]
    proc = run_bot("classify", input_text="\n".join(lines) + "\n")
    assert proc.returncode == 0
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(out) == 3000
    assert [o["scam_type"] for o in out[:3]] == ["bank_card_rental", "not_scam", "fake_customer_service"]
    assert all(o["scam_type"] == "bank_card_rental" for o in out[::3])


def test_logs_go_to_stderr_only(run_bot):
    proc = run_bot("-v", "classify", input_text="你好\n")
    assert len(proc.stdout.decode().splitlines()) == 1
    json.loads(proc.stdout.decode())
