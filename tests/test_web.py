"""The web chat: its JSON API, the no-JavaScript form, and the page in real headless Chromium."""

import json
import urllib.error
import urllib.request

import pytest

from tests.harness import BROWSER_REQUIRED, CHROMIUM, phone_page



def post(url, body: bytes, content_type="application/json"):
    request = urllib.request.Request(url, body, {"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")


def test_api_answers_a_scam_report(web):
    status, body = post(web.url + "/api/messages",
                        json.dumps({"user": "u1", "text": "有人自称公安局的，让我把存款转到安全账户，我正在去银行"}).encode())
    data = json.loads(body)
    assert status == 200 and "值班民警" in body  # UTF-8, not \\u-escaped
    assert data["scam_type"] == "fake_police" and data["risk"] in ("high", "urgent")
    assert isinstance(data["escalation_id"], int) and data["replies"][0]["urgent"] is True


@pytest.mark.parametrize("body,status", [
    (b"not json", 400), (b"[1,2]", 400), (json.dumps({"text": "你好"}).encode(), 400),
    (json.dumps({"user": "u1"}).encode(), 400), (json.dumps({"user": "bad user!", "text": "x"}).encode(), 400),
])
def test_api_rejects_bad_requests_with_a_clear_answer(web, body, status):
    code, text = post(web.url + "/api/messages", body)
    assert code == status and "error" in json.loads(text)


def test_api_floods_get_429_and_huge_bodies_413(web):
    codes = [post(web.url + "/api/messages", json.dumps({"user": "flood", "text": "你好"}).encode())[0]
             for _ in range(14)]
    assert codes[:10] == [200] * 10 and 429 in codes, codes
    try:  # tornado refuses a body over the limit with 400 and closes the connection
        code, _ = post(web.url + "/api/messages", b"x" * 200_000)
        assert code in (400, 413)
    except (ConnectionResetError, urllib.error.URLError):
        pass
    assert post(web.url + "/api/messages", json.dumps({"user": "after", "text": "你好"}).encode())[0] == 200


def test_form_works_without_javascript(web):
    code, html = post(web.url + "/chat", "text=反诈热线是多少".encode(), "application/x-www-form-urlencoded")
    assert code == 200 and 'href="tel:96110"' in html and "全国反诈专线" in html


@pytest.mark.skipif(CHROMIUM is None and not BROWSER_REQUIRED, reason="Debian's chromium is installed by .ci/run")
def test_page_in_headless_chromium(web, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        page = phone_page(p)
        page.goto(web.url + "/")
        assert page.title() == "反诈助手"
        page.fill("#text", "客服说我开通了百万保障，不关闭每个月都要扣费")
        page.click("#go")
        page.wait_for_selector(".msg.bot >> text=冒充电商物流客服", timeout=20_000)
        assert page.locator(".msg.bot a.tel[href='tel:96110']").count() >= 1
        page.click(".msg.bot .buttons button >> nth=0")  # "还在通话"
        page.wait_for_selector(".msg.bot.urgent", timeout=20_000)
        assert "110" in page.inner_text(".msg.bot.urgent")
        page.screenshot(path=str(tmp_path / "web.png"), full_page=True)
        page.click("text=长辈模式（大按钮）")  # 长辈模式: at most four big buttons, then the same escalation
        page.wait_for_selector(".msg.bot >> text=遇到什么事了")
        options = page.locator(".msg.bot").last.locator(".buttons button")
        assert options.count() <= 4
        options.nth(2).click()  # 有人推销保健品、养老投资
        page.wait_for_selector(".msg.bot >> text=您交钱了吗")
        page.locator(".msg.bot").last.locator(".buttons button").nth(0).click()  # 已经交了
        page.wait_for_selector(".msg.bot.urgent >> text=马上打")
        assert page.locator(".msg.bot.urgent a.tel[href='tel:110']").count() >= 1


def test_hotline_links_never_cut_into_a_longer_number(web):
    code, html = post(web.url + "/chat", "text=这个号码 13911012345 是骗子吗".encode(), "application/x-www-form-urlencoded")
    assert code == 200 and "13911012345" in html.replace("<wbr>", "")
    assert 'tel:110">110</a>12345' not in html and 'href="tel:110"' in html  # 110 itself is still a link


@pytest.mark.skipif(CHROMIUM is None and not BROWSER_REQUIRED, reason="Debian's chromium is installed by .ci/run")
def test_the_desk_writes_to_an_escalated_page_and_the_answer_reaches_it(web, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        page = phone_page(p)
        page.goto(web.url + "/")
        page.fill("#text", "有人自称公安局的，让我把存款转到安全账户，我正在去银行的路上")
        page.click("#go")
        page.wait_for_selector(".msg.bot.urgent", timeout=20_000)
        assert "会尽快联系您" not in page.inner_text(".msg.bot.urgent")  # the page is not a way to reach anyone
        escalation = web.store.query("select id from escalations")[0]["id"]
        web.engine.escalations.say(escalation, "您好，我是县反诈中心民警，请先别去银行，打 110 找我们。", "officer")
        desk = page.wait_for_selector(".msg.bot.desk >> text=县反诈中心民警", timeout=20_000)
        assert "值班民警】" in desk.inner_text() and desk.query_selector("a.tel[href='tel:110']")
        page.screenshot(path=str(tmp_path / "desk.png"), full_page=True)
        page.fill("#text", "好的 我回家了")
        page.click("#go")
        page.wait_for_selector(".msg.me >> text=我回家了")
        assert web.wait_rows("select note from escalation_events where action = 'reply'")[0]["note"] == "好的 我回家了"
        page.reload()  # shown once: a page opened again does not repeat what it showed
        page.wait_for_timeout(6_000)
        assert page.locator(".msg.bot.desk").count() == 0


def test_the_inbox_answers_only_well_formed_requests(web):
    for query in ("", "?user=bad%20user", "?user=u1&after=x", "?user=u1&after=-1"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(web.url + "/api/inbox" + query, timeout=10)
        assert refused.value.code == 400
    with urllib.request.urlopen(web.url + "/api/inbox?user=nobody&after=0", timeout=10) as response:
        assert json.loads(response.read()) == {"messages": []}

