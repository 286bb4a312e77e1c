"""Generator settings: endpoints.yml `generator:`, switchboard.yml `generation:`, the env overrides."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.generation.config import GenerationSettings, parse_generation, parse_generator
from bot.generation.grounding_defaults import MIN_OVERLAP, MIN_SIMILARITY
from bot.settings import load_settings

REPO = Path(__file__).resolve().parents[3]


def test_no_section_means_the_embedded_default() -> None:
    config = parse_generator(None, {}, threads=2)
    assert config is not None and config.kind == "embedded" and config.threads == 2
    assert config.max_tokens == 96 and config.temperature == 0.0


@pytest.mark.parametrize("section", ["none", {"type": "none"}, {"type": "embedded", "max_tokens": 10}])
def test_generation_can_be_turned_off(section: object) -> None:
    off = parse_generator(section, {}) if section != {"type": "embedded", "max_tokens": 10} else None
    assert off is None
    assert parse_generator(section, {"SWITCHBOARD_GENERATOR": "none"}) is None


def test_a_url_means_an_openai_compatible_server() -> None:
    config = parse_generator({"url": "http://gpu:8000/v1", "model": "qwen", "api_key_env": "K", "timeout": "7"},
                             {"K": "secret"})
    assert config is not None and config.kind == "openai" and config.timeout == 7.0 and config.api_key_env == "K"
    assert "secret" not in repr(config)


def test_switching_to_a_gpu_server_is_one_env_setting() -> None:
    config = parse_generator({"type": "embedded"}, {"SWITCHBOARD_GENERATOR_URL": "http://vllm:8000/v1",
                                                     "SWITCHBOARD_GENERATOR_MODEL": "m"})
    assert config is not None and config.kind == "openai" and config.url == "http://vllm:8000/v1"


@pytest.mark.parametrize(
    ("section", "env", "message"),
    [
        ({"url": "ftp://x"}, {}, "http"),
        ({"url": "http://x/v1"}, {}, "model is required"),
        ({"url": "http://x/v1", "model": "m", "api_key_env": "NOPE"}, {}, "NOPE"),
        ({"url": "http://x/v1", "model": "m", "timeout": 0}, {}, "timeout"),
        ({"url": "http://x/v1", "model": "m", "timeout": "soon"}, {}, "generator.timeout must be a number"),
        ({"url": "http://x/v1", "model": "m", "temperature": 3}, {}, "temperature"),
        ({"url": "http://x/v1", "model": "m", "retries": -1}, {}, "retries"),
        ({"url": "http://x/v1", "model": "m", "max_tokens": True}, {}, "must be a number"),
        ({"type": "gpt"}, {}, "one of"),
        ({"flavour": "x"}, {}, "unknown generator settings"),
        ("yes", {}, "mapping"),
        ([1], {}, "mapping"),
    ],
)
def test_bad_generator_settings_get_clear_errors(section: object, env: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_generator(section, env)


def test_generation_settings_default_to_the_calibrated_thresholds() -> None:
    settings = parse_generation(None)
    assert settings == GenerationSettings()
    assert (settings.min_similarity, settings.min_overlap) == (MIN_SIMILARITY, MIN_OVERLAP)
    tuned = parse_generation({"context_k": 2, "grounding": {"min_similarity": 0.7}})
    assert tuned.context_k == 2 and tuned.min_similarity == 0.7


@pytest.mark.parametrize(
    ("section", "message"),
    [({"grounding": {"min_overlap": 2}}, "min_overlap"), ({"context_k": 0}, "context_k"),
     ({"colour": 1}, "unknown generation settings"), ("x", "mapping"), ({"grounding": 3}, "mapping")],
)
def test_bad_generation_settings_get_clear_errors(section: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_generation(section)


def test_the_shop_template_configures_the_embedded_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHBOARD_GENERATOR", raising=False)
    shutil.copytree(REPO / "bot" / "templates" / "shop", tmp_path / "shop", ignore=shutil.ignore_patterns(".switchboard"))
    settings = load_settings(tmp_path / "shop")
    assert settings.generator is not None and settings.generator.kind == "embedded"
    assert "Northwind" in settings.generation.persona
    (tmp_path / "shop" / "endpoints.yml").write_text("generator: none\n")
    assert load_settings(tmp_path / "shop").generator is None
    (tmp_path / "shop" / "endpoints.yml").write_text("generator: {url: 'http://127.0.0.1:9/v1'}\n")
    with pytest.raises(ConfigError, match="model is required"):
        load_settings(tmp_path / "shop")
