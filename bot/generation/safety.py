"""Guards around the model: instruction-like text in a customer message or a support log, and
answers that leak the prompt's rules or follow an injected instruction."""

from __future__ import annotations

import re

# Phrasings of prompt-injection attempts (English; lower-cased text, any spacing).
_PATTERNS: dict[str, str] = {
    "override": r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(instructions?|rules|prompts?|guidelines|directions|programming|guardrails)\b",
    "reveal": r"\b(system|hidden|initial|original|secret|developer)\s+(prompt|instructions?|message|rules)\b|\byour\s+(prompt|instructions|programming|guidelines)\b|\b(repeat|print|output|recite)\b.{0,30}\b(above|everything|verbatim|word for word)\b",
    "role": r"\b(you are now|from now on|act as|pretend (to be|you are)|roleplay|role-play|new persona|you're now|switch to)\b",
    "mode": r"\b(developer|dan|jailbreak|god|sudo|admin|debug|unrestricted)\s+mode\b|\bjailbreak\b|\bdo anything now\b",
    "fence": r"(</?\s*(notes|question|conversation|system|instructions?)\s*>|\[/?(inst|system)\]|<\|im_(start|end)\|>|^\s*(system|assistant)\s*:)",
    "new_rules": r"\b(new|updated|real|actual) (instructions?|rules|task|system prompt)\b",
}
_COMPILED = {name: re.compile(rx, re.IGNORECASE | re.MULTILINE) for name, rx in _PATTERNS.items()}


def injection(text: str) -> str | None:
    """The name of the first injection pattern the text matches, or None."""
    for name, rx in _COMPILED.items():
        if rx.search(text):
            return name
    return None


def _shingles(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def leaks(answer: str, secret: str, *, n: int = 6) -> bool:
    """Does the answer repeat any run of `n` words of the secret text (the persona and rules)?"""
    return bool(_shingles(answer, n) & _shingles(secret, n))
