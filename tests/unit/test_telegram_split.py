"""bot/channels/telegram.split_text: Telegram's 4,096 limit counts UTF-16 code units."""

from __future__ import annotations

from bot.channels.telegram import split_text


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_short_text_is_one_piece() -> None:
    assert split_text("hello") == ["hello"]


def test_pieces_fit_join_back_and_break_at_paragraphs() -> None:
    text = "\n\n".join(["word " * 300] * 5)
    pieces = split_text(text)
    assert len(pieces) > 1 and all(units(p) <= 4096 for p in pieces)
    assert "".join(pieces) == text
    assert all(p.endswith("\n\n") for p in pieces[:-1])


def test_emoji_count_twice_and_unbroken_text_is_cut_hard() -> None:
    text = "\U0001F600" * 3000  # 6,000 UTF-16 units, no break anywhere
    pieces = split_text(text)
    assert [units(p) for p in pieces] == [4096, 6000 - 4096]
    assert "".join(pieces) == text
