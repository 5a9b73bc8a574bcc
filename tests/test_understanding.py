"""Type, risk and cues on realistic messages (escalation never depends on the type alone)."""

import pytest


def understand(understander, text):
    return understander.understand(text)


@pytest.mark.parametrize("text,scam_type", [
    ("刚才有个自称北京市公安局的人说我涉嫌洗钱，让我把存款转到安全账户", "fake_police"),
    ("在抖音上看到兼职点赞关注截图就给佣金，现在让我垫付做任务", "order_brushing"),
    ("网上贷款说我银行卡号填错了资金被冻结，要先交解冻费才能放款", "fake_loan"),
    ("群里的老师带我们买一个数字货币平台，说稳赚不赔，现在提现要先交税", "fake_investment"),
    ("婚恋网站认识的男朋友从没见过面，让我在他说的平台充值一起赚钱", "romance"),
    ("自称京东客服说我开通了百万保障，不关闭每月扣费，让我下载会议软件", "fake_customer_service"),
    ("对方说我大学时注册过校园贷，要注销不然影响征信", "fake_credit_repair"),
    ("有人加我微信说是我们局长，让我先给合作方转一笔钱", "impersonate_acquaintance"),
    ("孩子在游戏里卖账号，买家让他去一个交易平台，说账户冻结要交保证金", "game_trade"),
    ("朋友圈有人卖很便宜的演唱会门票，让我私下转账，付了钱就不理我了", "fake_shopping"),
    ("有人出800块买我的银行卡，说只是走个账，能卖吗", "bank_card_rental"),
    ("小区门口免费领鸡蛋听健康讲座，后来推销一万多的保健品", "elderly_care_scam"),
])
def test_each_scam_type_is_recognised(understander, text, scam_type):
    assert understand(understander, text).scam_type == scam_type


@pytest.mark.parametrize("text", [
    "今天天气真好，下午去公园打太极",
    "我今天去银行存了五千块定期",
    "给孙子转了两千块学费",
    "社区民警来我们小区宣传反诈，还教我们装了国家反诈中心APP",
    # a bank's own code SMS, and topic words that are no scam sign (皮肤, 垫付, 保健品)
    "【浦发银行】验证码632014，用于快捷支付签约，工作人员不会向您索要，请勿泄露。",
    "我孙子问王者荣耀里那个星元皮肤一般多少钱，他想用压岁钱在游戏里直接充值买",
    "我们公司团建，让员工先垫付车费，回来走公司OA统一报销",
    "我想给我妈买点保健品，药店说的鱼油，一瓶七十多，挺便宜",
])
def test_ordinary_messages_are_not_scams(understander, text):
    result = understand(understander, text)
    assert result.scam_type == "not_scam" and result.risk == "none" and not result.escalate


def test_mid_transfer_caller_on_line_is_urgent(understander):
    result = understand(understander, "自称公安的人还在电话里，让我把存款转到安全账户，我正要去银行")
    assert result.risk == "urgent" and result.escalate
    ids = {c.id for c in result.cues}
    assert {"money_moving", "safe_account", "still_on_call"} <= ids


def test_mid_transfer_to_a_stranger_escalates_even_when_type_is_unclear(understander):
    result = understand(understander, "有个陌生人让我把钱转过去，我现在就在银行柜台排队")
    assert result.escalate
    assert result.scam_type in {"unknown", "fake_police", "fake_customer_service", "impersonate_acquaintance"}


def test_only_a_suspicious_sms_is_not_urgent(understander):
    result = understand(understander, "收到一条短信说我的快递丢了可以理赔，让我点链接，我没点")
    assert not result.escalate
    assert result.risk in {"low", "medium"}


def test_refusal_and_questions_do_not_escalate(understander):
    assert not understand(understander, "对方让我转到安全账户，我没理他直接挂了").escalate
    assert not understand(understander, "安全账户是什么意思").escalate
    assert not understand(understander, "如果有人让我共享屏幕怎么办").escalate


def test_money_already_gone_escalates_with_a_plain_reason(understander):
    result = understand(understander, "刚刚把三万块转给那个客服了，现在联系不上他")
    assert result.escalate and result.risk == "urgent"
    assert any("刚刚转出" in c.label for c in result.cues)


def test_verification_code_and_screen_sharing(understander):
    result = understand(understander, "客服让我开了屏幕共享，我已经把验证码告诉他了")
    assert result.escalate
    assert {"screen_share", "code_given"} <= {c.id for c in result.cues}


def test_traditional_speech_to_text_and_typos(understander):
    traditional = understand(understander, "我剛接到電話說我涉嫌洗錢要我配合資金核查我現在正在去銀行的路上")
    assert traditional.scam_type == "fake_police" and traditional.escalate
    typo = understand(understander, "那个公按局的让我把钱转到安全帐户")
    assert typo.escalate


def test_bad_input_gets_a_defined_answer(understander):
    for text in ["", "   ", "\x00\x01\x02\x03garbage\x04\x05", "🙂🙂🙂", "hello how are you", "a" * 1_000_000]:
        result = understand(understander, text).to_json()
        assert result["scam_type"] in {"not_scam", "unknown"}
        assert result["risk"] == "none" and result["escalate"] is False


# --- The escalation policy (README, "The escalation policy"): judge the mechanism, not the topic ----------

@pytest.mark.parametrize("text", [
    "【京东】您的订单已发货，预计明天送达，请保持电话畅通",
    "快递放驿站了，取件码8-3-1024，记得下班去拿",
    "【工商银行】您尾号2231的卡于11月30日消费128.00元，余额5321.40元",
    "淘宝客服说我买的鞋子商家同意退货了，运费险会赔，在订单页面点退货就行",
    "儿子打电话说过年开车回来，让我们别准备太多菜",
    "派出所通知这周六上午可以去办身份证，记得带户口本",
    "县反诈中心提醒：凡是自称公检法让转到安全账户的都是诈骗，有疑问请拨打96110",
    "闺女说她谈了个对象，是她单位同事，下个月带回家给我们看看",
])
def test_look_alikes_get_no_scam_type(understander, text):
    result = understand(understander, text)
    assert result.scam_type == "not_scam" and not result.escalate, (text, result.scam_type, result.risk)


@pytest.mark.parametrize("text", [
    "俺孙子打电话说在外面跟人打架把人打伤了，要马上赔人家三万，不然就被拘留，俺正要去邮局",
    "有个人说是医院的，我女儿出车祸住院了，要先交两万手术费，让我赶紧转到他卡上",
    "自称检察院的说我涉嫌洗钱要逮捕我，让我先交五万保证金才能取保候审",
    "那个警官说案子保密，不准告诉家里任何人，让我明天一个人去县城的宾馆等他电话",
    "我已经按他说的下载了那个软件，也打开了屏幕共享",
    "QQ上我们王总让我马上给合作方的账户转二十万，说他在开会不方便接电话",
])
def test_pending_high_pressure_demands_escalate(understander, text):
    result = understand(understander, text)
    assert result.escalate and result.scam_type != "not_scam", (text, result.scam_type, result.risk)


def test_a_pasted_scam_text_shows_the_scam_but_only_what_the_resident_did_escalates(understander):
    sms = "【公安局】您名下账户涉嫌洗钱，请于今日内将资金转入国家安全账户配合核查，否则将冻结并依法逮捕。"
    alone = understand(understander, sms + " 这是真的吗")
    assert alone.scam_type == "fake_police" and not alone.escalate
    acted = understand(understander, sms + "\n我刚按他说的转过去了")
    assert acted.scam_type == "fake_police" and acted.escalate


@pytest.mark.parametrize("text,escalates", [
    # the resident's own words around the pasted text say they are in it now
    ("我是廊坊市公安局刑侦支队民警，你涉嫌一起特大洗钱案，此案为机密，不得向任何人透露，包括家人。\n"
     "（对方一直在微信视频，我现在一个人在屋里）", True),
    ("群里的助理跟我说：'姐，您申购的新股中签了，需要认缴8万元，今天下午三点前必须完成认缴。'"
     "我现在账户里只有3万，她让我今天必须补齐", True),
    ("爸，我手机掉水里了，这是我新号，你先帮我转一万给这个账户，我同事急用，晚上回去跟你说。\n我儿子确实在保定出差", True),
    ("客服：您的借款已通过终审，需要您往以下账户转入8000元作为流水证明，户名：刘某某 账号：6217 **** 3321\n"
     "我已经在ATM这了，卡也插进去了", True),
    # … or only ask about it
    ("爸，我手机掉水里了，这是我新号，你先帮我转一万给这个账户，我同事急用，晚上回去跟你说。\n这是真的吗", False),
    ("'限时福利，免费领皮肤，限前100名，扫码登录领取'这个能信吗", False),
])
def test_a_pasted_text_escalates_when_the_residents_own_words_say_they_are_in_it(understander, text, escalates):
    assert understand(understander, text).escalate is escalates, text


@pytest.mark.parametrize("text", [
    "有人收银行卡 一张给一千 俺把俺那张不用的卡卖给他了 没事吧",  # a negator inside a modifier negates nothing
    "俺接个电话说俺中奖了 中了个小轿车 要俺先交五千块钱的税 俺交了",
    "那个说是淘宝客服的打电话说给俺退钱 让俺扫码 俺扫了咋还扣了俺三千块钱",
    "保定某居民反映，其母亲在'某某数字资产'平台投资，需缴纳'解冻金'，母亲正准备去银行取钱，请求派人劝阻。",
    "那个投资群的老师叫我先充一万进去 说下周就能翻倍 我还没充 他一直催",  # a large pending demand
    "俺收了个快递 里头有个刮刮卡 刮出来中了个小汽车 打电话人家说得先交税 俺交了一千了 还叫俺交",  # a lure and money gone
    "刚才她打电话跟我说，有个“淘宝客服”要给她退款赔偿，让她下了个啥“云会议”，现在还在那儿弄。我让她挂了她不听",
])
def test_what_already_left_or_is_about_to_escalates(understander, text):
    assert understand(understander, text).escalate, text


def test_a_relative_in_trouble_is_an_emergency_but_the_writers_own_need_is_not(understander):
    ids = {c.id for c in understand(understander, "刚才来个电话 声音像俺孙子 说他在外头跟人打架把人打伤了 要赔钱").cues}
    assert "family_emergency" in ids
    ids = {c.id for c in understand(understander, "我急用钱，收到一个短信说“您有一笔20万额度待领取”，我没填").cues}
    assert "family_emergency" not in ids


def test_an_ordinary_bill_paid_first_is_no_fee_before_a_loan(understander):
    assert understand(understander, "我要先交一下水电费").scam_type == "not_scam"
    assert understand(understander, "放款前要先交一笔解冻费").scam_type == "fake_loan"


def test_a_real_word_is_not_read_as_a_misspelling(understander):
    assert "限前100名" in understander.prepare("免费领皮肤，限前100名").text
    assert "验证码" in understander.prepare("把验正码告诉他").text


@pytest.mark.parametrize("text,escalates", [
    ("我朋友说他上个月在网上被骗了六千，还能追回来吗", False),
    ("去年我们楼的刘婶接到假公安电话，被骗了六万，后来报了案", False),
    ("受害人王某于2025年3月接到自称客服的电话，先后转账共计12万元。", False),
    ("今日辖区居民张某接到冒充公安的电话，目前仍在与对方通话，准备去银行转账", True),
    ("我妈正在银行柜台，说要给一个“警察”转钱，我劝不住", True),
])
def test_stories_about_others_escalate_only_while_something_is_going_on(understander, text, escalates):
    assert understand(understander, text).escalate is escalates, text


def test_refused_or_verified_does_not_escalate(understander):
    for text in ("自称公安的让我转钱到安全账户，我直接把电话挂了",
                 "儿子说房贷差两千让我转给他，我跟他视频了，就是他本人，我转到他一直用的卡上了"):
        assert not understand(understander, text).escalate, text


def test_evaluate_prints_figures_per_register(run_bot):
    proc = run_bot("evaluate", "tests/data/blind", "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    import json

    report = json.loads(proc.stdout)["reports"][0]
    assert set(report["registers"]) == {"first_person", "forwarded", "third_person", "narrative",
                                        "dialect_asr", "lookalike"}
    for figures in report["registers"].values():
        assert 0.0 <= figures["macro_f1"] <= 1.0
    assert report["escalation_cases"] >= 100 and report["ordinary_typed"] is not None


def test_evaluate_chat_counts_the_warnings_a_resident_would_see(run_bot, tmp_path):
    cases = tmp_path / "ordinary.jsonl"
    lines = [{"text": "您的快递已到丰巢柜，取件码 3821，请及时取件", "label": "not_scam", "register": "lookalike"},
             {"text": "妈我下周回家，给你带点老家的枣", "label": "not_scam", "register": "lookalike"},
             {"text": "客服说我开通了百万保障，不关闭每个月都要扣费，让我去支付宝里操作", "label": "fake_customer_service",
              "register": "first_person"}]
    import json

    cases.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in lines), encoding="utf-8")
    proc = run_bot("evaluate", str(cases), "--chat", "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    counts = json.loads(proc.stdout)["chat_warnings"][0]
    assert counts["all"] == {"cases": 2, "warned": 0}  # only the ordinary ones are counted, neither warned
