"""The bot_uttered payloads of Rasa's socket.io channel."""

from __future__ import annotations

from bot.channels.socketio import to_socketio


def test_buttons_become_quick_replies() -> None:
    assert to_socketio({"text": "Pick one", "buttons": [{"title": "Yes", "payload": "/affirm"}]}) == [
        {"text": "Pick one", "quick_replies": [{"content_type": "text", "title": "Yes", "payload": "/affirm"}]}]


def test_a_persons_message_carries_their_name_for_the_widget() -> None:
    assert to_socketio({"text": "Hi, Ann here.", "agent": "Ann"}) == [{"text": "Hi, Ann here.",
                                                                       "metadata": {"agent": "Ann"}}]
    assert to_socketio({"text": "Hello from the bot."}) == [{"text": "Hello from the bot."}]
