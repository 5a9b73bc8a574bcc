from bot.nlu.normalize import normalise


def test_traditional_becomes_simplified_with_phrases():
    n = normalise("我剛接到電話說我涉嫌洗錢，讓我轉帳到安全帳戶，還要打開螢幕共享")
    assert n.text == "我刚接到电话说我涉嫌洗钱,让我转账到安全账户,还要打开屏幕共享"


def test_full_width_emoji_and_repeated_punctuation():
    n = normalise("  对方让我转１２０００元！！！😱😱  快帮帮我　")
    assert n.text == "对方让我转12000元! 快帮帮我"


def test_offsets_point_into_the_original():
    original = "😀 我轉了３萬"
    n = normalise(original)
    start = n.text.index("3")
    begin, end = n.span(start, start + 2)
    assert original[begin:end] == "３萬"


def test_empty_whitespace_and_binary_input():
    assert normalise("").text == ""
    assert normalise(" \t \n ").text == ""
    binary = normalise("\x00\x01\x02\x03\x04abc\x05\x06\x07")
    assert binary.garbage and binary.text == ""


def test_huge_input_is_cut():
    n = normalise("转账" * 500_000, max_chars=2000)
    assert len(n.text) == 2000 and len(n.offsets) == 2000
