"""Local servers that speak the real HTTP protocols of the platforms' APIs (Slack Web API,
Telegram Bot API), for tests: they record every call and can be told to fail."""
