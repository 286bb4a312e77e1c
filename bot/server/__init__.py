"""The HTTP server: typed app keys, middlewares, the Rasa-compatible HTTP API."""
