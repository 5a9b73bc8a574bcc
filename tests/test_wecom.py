"""Duty-desk alerts in a WeCom group through its robot: masked, durable, within the robot's limit."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest

from tests.fakewechat import FakeWeComRobot
from tests.harness import RunningBot

URGENT = "自称公安局的人让我把存款转到安全账户，我现在在银行柜台，他的电话是13812345678"


@pytest.fixture()
def robot():
    fake = FakeWeComRobot().start()
    yield fake
    fake.stop()


@pytest.fixture()
def bot(settings, tmp_path, understander, monkeypatch, robot):
    monkeypatch.setenv("WECOM_WEBHOOK_URL", robot.url)
    running = RunningBot(replace(settings, web_port=0), None, tmp_path / "bot.db", understander, web=True).start()
    yield running
    running.stop()


def test_an_alert_reaches_the_group_masked_and_says_how_to_act(bot, robot):
    turn = bot.engine.handle("web", "resident-1", URGENT)
    assert turn.escalation_id
    assert robot.wait_for(lambda: robot.accepted)
    text = robot.accepted[0]
    assert f"#{turn.escalation_id}" in text and "138****5678" in text and "13812345678" not in text
    assert f"python -m bot escalation {turn.escalation_id} --set claimed" in text


def test_a_robot_over_its_limit_for_a_whole_minute_loses_nothing(bot, robot):
    robot.refusing, began = True, time.monotonic()  # errcode 45009 to every post
    ids = [bot.engine.handle("web", f"resident-{i}", URGENT).escalation_id for i in range(3)]
    assert robot.wait_for(lambda: len(robot.posts) >= 2, timeout=10)  # tried, refused, tried again
    time.sleep(max(0.0, 61 - (time.monotonic() - began)))
    assert robot.accepted == []
    robot.refusing = False
    recovered = time.monotonic()
    # backoff 2, 4, 8 … s but never beyond 60 s after "over the limit": everything goes out, none dropped
    assert robot.wait_for(lambda: all(any(f"#{i} " in t for t in robot.accepted) for i in ids), timeout=70)
    assert time.monotonic() - recovered <= 65


def test_a_burst_of_50_reaches_the_group_within_its_limit_with_every_number(bot, robot, monkeypatch):
    monkeypatch.setattr("bot.desk.escalations.FLOOD_ALERT_SECONDS", 2)  # a minute, shortened
    monkeypatch.setattr("bot.channels.wecom.FOLLOW_UP_SECONDS", 1)
    ids = [bot.engine.handle("telegram", f"{5550000 + i}", URGENT).escalation_id for i in range(50)]
    assert len(set(ids)) == 50

    def every_number_arrived():
        seen = {int(n) for t in robot.accepted for n in re.findall(r"#(\d+)", t)}
        return set(ids) <= seen

    assert robot.wait_for(every_number_arrived, timeout=60)
    assert len(robot.accepted) <= 20 and len(robot.posts) == len(robot.accepted)  # never over the limit
