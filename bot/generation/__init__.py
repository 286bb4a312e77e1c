"""Generative fallback: OpenAI-compatible client, embedded CPU model, prompt and grounding check."""
