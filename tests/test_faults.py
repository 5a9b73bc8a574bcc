"""``bench --faults`` as a test, shortened: real server processes on one SQLite file, real HTTP clients.

Every escalation a client was told about must be in the database, and no request may get a 5xx, with two
servers on one file, with staff commands and a terminal chat writing at the same time, across a SIGKILL,
and in a flood from one address (whose staff alerts are merged).
"""

import pytest

from bot.measure import faults


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("faults")


def assert_nothing_lost(figures):
    assert figures["told"] > 0, figures
    assert figures["recorded"] == figures["told"], figures
    assert figures["server_errors"] == 0, figures


def test_two_servers_on_one_file_lose_nothing(settings, workdir):
    assert_nothing_lost(faults.two_servers(settings, workdir, seconds=6))


def test_staff_at_the_terminal_while_serving_lose_nothing(settings, workdir):
    figures = faults.serve_and_staff(settings, workdir, seconds=5)
    assert_nothing_lost(figures)
    assert figures["status_changes"] > 0
    assert figures["status_changes_ok"] == figures["status_changes_recorded"] == figures["status_changes"], figures
    assert figures["chat_process_exit"] == 0 and figures["chat_turns_answered"] == "40/40", figures
    assert figures["chat_escalation_recorded"], figures


def test_kill_9_mid_burst_loses_nothing_it_told(settings, workdir):
    assert_nothing_lost(faults.kill_9(settings, workdir, seconds=2))


def test_a_flood_from_one_address_is_recorded_and_merged(settings, workdir):
    figures = faults.flood(settings, workdir, count=120)
    assert_nothing_lost(figures)
    assert figures["told"] == 120 and figures["staff_alerts"] <= 3 and figures["flood_alerts"] <= 3, figures
