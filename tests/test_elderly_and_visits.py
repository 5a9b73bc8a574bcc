"""长辈模式, grid workers' visits and printable leaflets, end to end (Telegram fake server and terminal)."""

import json
import shutil
import subprocess

import pytest

from bot.outreach import voice
from tests.harness import OFFICER, STAFF_CHAT, RunningBot

WORKER, ELDER, STRANGER = 6161, 5550007, 9999
SPEECH = voice.available()
BROWSER_REQUIRED_TOOLS = __import__("os").environ.get("BOT_REQUIRE_BROWSER") == "1"




def buttons(message):
    return [row[0]["text"] for row in json.loads(message["reply_markup"])["inline_keyboard"]] \
        if message.get("reply_markup") else []


def payloads(message):
    return [row[0]["callback_data"] for row in json.loads(message["reply_markup"])["inline_keyboard"]]


def test_guided_mode_on_telegram_leads_to_the_same_escalation(settings, fake, db_target, understander, staff_env):
    bot = RunningBot(settings, fake, db_target, understander).start()
    try:
        fake.push_message(ELDER, "/start")
        greeting = fake.wait_for(lambda: fake.sent(ELDER))[0]
        assert buttons(greeting) == ["长辈模式（大按钮）"]
        fake.push_callback(ELDER, payloads(greeting)[0])
        first = fake.wait_for(lambda: fake.sent(ELDER)[1:])[0]
        assert len(buttons(first)) <= 4 and "有人自称警察打电话" in buttons(first)
        assert len(first["text"]) <= 20
        fake.push_callback(ELDER, payloads(first)[0])          # 有人自称警察打电话
        step = fake.wait_for(lambda: fake.sent(ELDER)[2:])[0]
        fake.push_callback(ELDER, payloads(step)[0])           # 让我转钱了
        step = fake.wait_for(lambda: fake.sent(ELDER)[3:])[0]
        fake.push_callback(ELDER, payloads(step)[0])           # 已经转了
        urgent = fake.wait_for(lambda: fake.sent(ELDER)[4:])[0]
        assert "马上打 110" in urgent["text"]
        alert = fake.wait_for(lambda: fake.sent(STAFF_CHAT))[0]
        assert "长辈模式" in alert["text"] and "冒充公检法" in alert["text"]
        if SPEECH:
            spoken = fake.wait_for(lambda: fake.sent(ELDER, method="sendVoice"))[0]
            assert 0 < int(spoken["duration"]) <= 30
        before = len(fake.sent(ELDER))
        fake.push_message(ELDER, "刚才又有人说是我孙子，被拘留了要两万块保释金")  # typing takes over
        # A relative's "emergency" with a bail demand is itself a reason to escalate (the policy, rule 3).
        urgent = fake.wait_for(lambda: fake.sent(ELDER)[before:])[0]
        assert "110" in urgent["text"] and "没有发现" not in urgent["text"]
    finally:
        bot.stop()


def test_guided_mode_in_the_terminal(run_bot, tmp_path):
    steps = "长辈模式\n/g:start:2\n/g:elderly_paid:1\n"  # typed as the welcome says; 保健品 → 还没交 → the warning
    replies = [json.loads(line) for line in run_bot("chat", "--json", input_text=steps).stdout.decode().splitlines()]
    assert replies[0]["buttons"][:3] == ["有人自称警察打电话", "有人让我转账", "有人推销保健品、养老投资"]
    assert replies[1]["buttons"] == ["已经交了", "还没交"]
    assert "养老诈骗" in replies[2]["text"] and replies[2]["escalation_id"] is None


def test_a_grid_worker_visit_on_telegram(settings, fake, db_target, understander, staff_env):
    bot = RunningBot(settings, fake, db_target, understander).start()
    try:
        fake.push_message(WORKER, "/visit")
        assert "只供登记的网格员" in fake.wait_for(lambda: fake.sent(WORKER))[0]["text"]
        fake.push_message(OFFICER, f"/addworker {WORKER} 李网格员")
        fake.wait_for(lambda: fake.sent(OFFICER))
        sent = lambda: fake.sent(WORKER)  # noqa: E731

        def step(push, expect_count):
            push()
            try:
                return fake.wait_for(lambda: len(sent()) >= expect_count and sent()[expect_count - 1])
            except AssertionError:
                raise AssertionError([m["text"][:30] for m in sent()]) from None

        step(lambda: fake.push_message(WORKER, "/visit"), 3)
        step(lambda: fake.push_message(WORKER, "东关村三网格"), 4)
        age = step(lambda: fake.push_message(WORKER, "5号院"), 5)
        consent = step(lambda: fake.push_callback(WORKER, payloads(age)[3]), 6)          # 80岁以上
        check = step(lambda: fake.push_callback(WORKER, payloads(consent)[0]), 7)        # 同意
        assert "转账" in check["text"]
        step(lambda: fake.push_callback(WORKER, payloads(check)[0]), 9)                  # 有 → read aloud + follow-up
        follow = sent()[8]
        assert "钱已经转出去了吗" in follow["text"] and "请读给老人听" in sent()[7]["text"]
        step(lambda: fake.push_callback(WORKER, payloads(follow)[0]), 11)                # 是 → escalate
        assert "发现风险" in sent()[9]["text"]
        for index in (10, 11, 12):                                                       # the rest: 没有
            step(lambda: fake.push_callback(WORKER, payloads(sent()[index])[1]), index + 2)
        app = sent()[13]
        assert "APP" in app["text"]
        step(lambda: fake.push_callback(WORKER, payloads(app)[0]), 15)                   # 已安装
        done = step(lambda: fake.push_callback(WORKER, payloads(sent()[14])[0]), 16)     # 已保存
        assert "已记录" in done["text"] and "发现风险" in done["text"]
        visit = fake.wait_for(lambda: bot.store.query("select * from visits where status = 'done'"))[0]
        assert visit["grid"] == "东关村三网格" and visit["age_band"] == "80+" and visit["status"] == "done"
        assert visit["app_installed"] == 1 and visit["hotline_saved"] == 1 and visit["risk_found"] == 1
        escalation = fake.wait_for(lambda: bot.store.query("select * from escalations"))[0]
        assert escalation["source"] == "visit" and str(WORKER) in escalation["contact"]
        alert = fake.wait_for(lambda: fake.sent(STAFF_CHAT))[0]
        assert "联系人" in alert["text"] and "入户走访" in alert["text"]
    finally:
        bot.stop()


def test_a_visit_in_the_terminal_appears_in_the_report(run_bot, tmp_path):
    answers = ["/visit", "西街社区二网格", "12号楼", "/v:age:2", "/v:consent:0",
               "/v:check_transfer:0", "/v:check_app:0", "/v:check_police:1", "/v:check_police:0",
               "/v:check_health:0", "/v:app:0", "/v:hotline:1"]
    out = run_bot("chat", "--json", input_text="\n".join(answers) + "\n").stdout.decode()
    assert "已记录" in out.splitlines()[-1]
    report = run_bot("report", "--out", str(tmp_path / "report"))
    text = report.stdout.decode()
    assert "入户走访次数" in text and "西街社区二网格" in text
    grid_csv = (tmp_path / "report" / "visits_by_grid.csv").read_text(encoding="utf-8-sig")
    assert "西街社区二网格,西街社区二网格,1,0,0" in grid_csv
    assert "冒充公检法" in (tmp_path / "report" / "visit_topics.csv").read_text(encoding="utf-8-sig")
    assert (tmp_path / "report" / "visits_by_grid.png").exists()


@pytest.mark.skipif(not SPEECH and not BROWSER_REQUIRED_TOOLS, reason="espeak-ng and opus-tools are installed by .ci/run")
def test_spoken_warnings_stay_under_30_seconds(understander):
    for scam in understander.content.scams.values():
        audio, seconds = voice.synthesize(scam.warning)
        assert audio[:4] == b"OggS" and 0 < seconds <= 30, (scam.id, seconds)


@pytest.mark.skipif(shutil.which("pdftotext") is None and not BROWSER_REQUIRED_TOOLS,
                    reason="poppler-utils is installed by .ci/run")
def test_leaflet_pdf_has_the_title_and_renders(run_bot, tmp_path):
    out = tmp_path / "leaflet.pdf"
    proc = run_bot("leaflet", "fake_police", "--out", str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "警惕冒充公检法及政府机关" in text and "96110" in text and "危险信号" in text
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-singlefile", str(out), str(tmp_path / "page")], check=True)
    assert (tmp_path / "page.png").read_bytes()[:4] == b"\x89PNG"
    assert run_bot("leaflet", "no_such_type").returncode == 2


@pytest.mark.skipif(shutil.which("pdffonts") is None and not BROWSER_REQUIRED_TOOLS,
                    reason="poppler-utils is installed by .ci/run")
def test_leaflet_prints_simplified_forms_and_never_points_to_telegram(run_bot, tmp_path, settings):
    from dataclasses import replace

    from bot.outreach.leaflet import qr_target

    out = tmp_path / "leaflet.pdf"
    assert run_bot("leaflet", "fake_police", "--out", str(out)).returncode == 0
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True, check=True).stdout
    assert "NotoSansCJKSC" in fonts and "CJKJP" not in fonts  # 令, 直, 骨 in their Simplified forms
    raw = dict(settings.raw, leaflet={"bot_url": "https://t.me/some_bot"})
    assert qr_target(replace(settings, raw=raw)) == ""
    raw = dict(settings.raw, leaflet={"bot_url": "https://fanzha.example.gov.cn/chat"})
    assert qr_target(replace(settings, raw=raw)) == "https://fanzha.example.gov.cn/chat"


def test_a_visit_answered_by_typing_and_recorded_as_said(run_bot, tmp_path):
    import sqlite3

    typed = ["/visit", "东关村三网格", "5号院", "80岁以上", "同意", "有", "是", "没有", "没有", "没有", "没装上", "已保存"]
    out = run_bot("chat", "--json", input_text="\n".join(typed) + "\n").stdout.decode().splitlines()
    last = json.loads(out[-1])["text"]
    assert "已记录" in last and "反诈APP未安装" in last and "发现风险" in last
    topics = last.split("讲了 ")[1]
    count = int(topics.split(" ")[0])
    assert count == topics.split("（")[1].split("）")[0].count("；") + 1  # as many topics as listed
    db = sqlite3.connect(tmp_path / "bot.db")
    assert db.execute("select age_band, app_installed from visits").fetchone() == ("80+", 0)
    summary = db.execute("select summary from escalations where source = 'visit'").fetchone()[0]
    assert "5号院" in summary  # the desk can find the home
