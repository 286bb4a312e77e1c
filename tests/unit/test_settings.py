"""bot/settings.py: settings from switchboard.yml, endpoints.yml and the environment."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import Settings, load_settings, read_yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "bot" / "templates" / "shop"
ENV_VARS = (
    "SWITCHBOARD_DATABASE_URL",
    "SWITCHBOARD_API_TOKEN",
    "SWITCHBOARD_TORCH_THREADS",
    "SWITCHBOARD_ACTION_ENDPOINT",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A minimal bot project: a domain and nothing else."""
    root = tmp_path / "bot"
    root.mkdir()
    (root / "domain.yml").write_text("intents: [greet]\n", encoding="utf-8")
    return root


def write(path: Path, text: str) -> None:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def test_template_defaults():
    settings = load_settings(TEMPLATE)
    assert settings.project == TEMPLATE.resolve()
    assert settings.database_url == f"sqlite+aiosqlite:///{TEMPLATE.resolve() / '.switchboard' / 'bot.db'}"
    assert settings.api_token is None
    # the shop's thresholds are "auto": calibrated by `switchboard train` (bot/routes.py)
    assert settings.nlu_threshold is None and settings.retrieval_threshold is None
    assert settings.retrieval_threshold_foreign is None and settings.generation.min_context_score is None
    assert settings.calibration.target_foreign_rate == 0.02
    assert settings.retrieval_k == 3
    assert settings.history_window == 30
    assert settings.max_message_chars == 4000
    assert settings.torch_threads == 1
    assert settings.action_endpoint is None
    assert settings.actions_package == "actions"
    assert settings.cors_origins == ("http://127.0.0.1:5005", "http://localhost:5005")
    assert settings.domain_file == TEMPLATE.resolve() / "domain.yml"
    assert settings.data_dir == TEMPLATE.resolve() / "data"
    assert settings.nlu_model_dir == TEMPLATE.resolve() / ".switchboard" / "models" / "nlu"
    assert settings.knowledge_dir == TEMPLATE.resolve() / ".switchboard" / "models" / "knowledge"
    assert settings.raw["endpoints"]["tracker_store"]["type"] == "sql"


def test_project_with_only_a_domain_gets_built_in_defaults(project):
    settings = load_settings(project)
    assert settings.database_url == f"sqlite+aiosqlite:///{project.resolve() / '.switchboard' / 'bot.db'}"
    assert (settings.nlu_threshold, settings.retrieval_threshold, settings.retrieval_k) == (
        Settings.nlu_threshold,
        Settings.retrieval_threshold,
        Settings.retrieval_k,
    )
    assert settings.raw == {"settings": {}, "endpoints": {}}


def test_values_from_switchboard_yml(project):
    write(
        project / "switchboard.yml",
        """
        nlu: {threshold: 0.45, entity_families: strict}
        retrieval: {threshold: -0.2, k: 5}
        engine:
          history_window: 12
          max_message_chars: 500
          torch_threads: 3
          actions_package: my_actions
        server:
          api_token: from-file
          cors_origins: [https://shop.example]
        """,
    )
    settings = load_settings(project)
    assert settings.nlu_threshold == 0.45
    assert settings.nlu_entity_families == "strict"
    assert settings.retrieval_threshold == -0.2
    assert settings.retrieval_k == 5
    assert settings.history_window == 12
    assert settings.max_message_chars == 500
    assert settings.torch_threads == 3
    assert settings.actions_package == "my_actions"
    assert settings.api_token == "from-file"
    assert settings.cors_origins == ("https://shop.example",)


def test_endpoints_env_default_expansion(project, monkeypatch):
    monkeypatch.delenv("SB_TEST_DB", raising=False)
    monkeypatch.delenv("SB_TEST_ACTIONS", raising=False)
    write(
        project / "endpoints.yml",
        """
        tracker_store:
          type: sql
          url: ${SB_TEST_DB:-postgresql+asyncpg://bot@db:5432/switchboard}
        action_endpoint:
          url: "http://${SB_TEST_ACTIONS:-localhost}:5055/webhook"
          timeout: 4
        """,
    )
    settings = load_settings(project)
    assert settings.database_url == "postgresql+asyncpg://bot@db:5432/switchboard"
    assert settings.action_endpoint == "http://localhost:5055/webhook"
    assert settings.action_timeout == 4.0

    monkeypatch.setenv("SB_TEST_DB", "sqlite+aiosqlite:///elsewhere.db")
    monkeypatch.setenv("SB_TEST_ACTIONS", "actions.internal")
    settings = load_settings(project)
    assert settings.database_url == "sqlite+aiosqlite:///elsewhere.db"
    assert settings.action_endpoint == "http://actions.internal:5055/webhook"


def test_unset_env_without_default_expands_to_empty(project, monkeypatch):
    monkeypatch.delenv("SB_TEST_UNSET", raising=False)
    write(project / "endpoints.yml", "tracker_store:\n  url: ${SB_TEST_UNSET}\naction_endpoint:\n  url: ${SB_TEST_UNSET}\n")
    settings = load_settings(project)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")  # empty URL: the default database
    assert settings.database_url.endswith("bot.db")
    assert settings.action_endpoint is None


def test_read_yaml_expands_nested_values(tmp_path, monkeypatch):
    monkeypatch.setenv("SB_TEST_NAME", "alice")
    monkeypatch.delenv("SB_TEST_UNSET", raising=False)
    path = tmp_path / "x.yml"
    write(path, "a: [\"${SB_TEST_NAME}\", {b: \"x-${SB_TEST_UNSET:-fallback}-y\"}]\nn: 3\n")
    assert read_yaml(path) == {"a": ["alice", {"b": "x-fallback-y"}], "n": 3}
    assert read_yaml(tmp_path / "absent.yml") == {}


def test_env_overrides(project, monkeypatch):
    write(project / "endpoints.yml", "tracker_store:\n  url: sqlite+aiosqlite:///from-endpoints.db\n")
    write(project / "switchboard.yml", "server:\n  api_token: from-file\n")
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1:5432/env")
    monkeypatch.setenv("SWITCHBOARD_API_TOKEN", "s3cret-env")
    settings = load_settings(project)
    assert settings.database_url == "postgresql+asyncpg://u@127.0.0.1:5432/env"
    assert settings.api_token == "s3cret-env"


def test_endpoints_url_used_without_env(project):
    write(project / "endpoints.yml", "tracker_store:\n  url: sqlite+aiosqlite:///from-endpoints.db\n")
    assert load_settings(project).database_url == "sqlite+aiosqlite:///from-endpoints.db"


def test_keyword_overrides(project):
    settings = load_settings(project, nlu_threshold=0.8, api_token=None)
    assert settings.nlu_threshold == 0.8
    assert settings.api_token is None


@pytest.mark.parametrize(
    "content, message",
    [
        ("nlu: {threshold: 1.5}", "nlu.threshold"),
        ("nlu: {threshold: -0.1}", "nlu.threshold"),
        ("retrieval: {threshold: 2}", "retrieval.threshold"),
        ("retrieval: {threshold: -1.01}", "retrieval.threshold"),
        ("retrieval: {k: 0}", "retrieval.k"),
        ("engine: {history_window: 0}", "history_window"),
        ("engine: {torch_threads: 0}", "torch_threads"),
        ("nlu: {entity_families: hard}", "nlu.entity_families must be one of soft, strict, off"),
    ],
)
def test_invalid_numbers(project, content, message):
    write(project / "switchboard.yml", content + "\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(project)


def test_invalid_override(project):
    with pytest.raises(ConfigError, match="nlu.threshold"):
        load_settings(project, nlu_threshold=3.0)


def test_non_numeric_threshold_is_config_error(project):
    # a typo in switchboard.yml must be reported as a ConfigError naming the setting, not a ValueError
    write(project / "switchboard.yml", "nlu:\n  threshold: high\n")
    with pytest.raises(ConfigError, match="threshold"):
        load_settings(project)


@pytest.mark.parametrize(
    "url",
    ["mysql://root@localhost/bot", "sqlite:///plain.db", "postgresql://bot:hunter2@db/bot", "redis://localhost"],
)
def test_unsupported_database_url(project, monkeypatch, url):
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", url)
    with pytest.raises(ConfigError, match="unsupported database URL") as info:
        load_settings(project)
    assert "hunter2" not in str(info.value)  # the message names the scheme, never the password
    assert url.split("://")[0] in str(info.value)


def test_missing_domain(tmp_path):
    with pytest.raises(ConfigError, match="no domain.yml"):
        load_settings(tmp_path)


def test_invalid_yaml(project):
    write(project / "switchboard.yml", "nlu: {threshold: [0.3\n")
    with pytest.raises(ConfigError, match="switchboard.yml is not valid YAML"):
        load_settings(project)


def test_invalid_endpoints_yaml(project):
    write(project / "endpoints.yml", "tracker_store:\n  url: a\n   bad: indent\n")
    with pytest.raises(ConfigError, match="endpoints.yml is not valid YAML"):
        load_settings(project)


def test_top_level_must_be_a_mapping(project):
    write(project / "switchboard.yml", "- nlu\n- retrieval\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(project)


def test_template_copy_with_changed_thresholds(tmp_path):
    root = tmp_path / "shop"
    shutil.copytree(TEMPLATE, root, ignore=shutil.ignore_patterns(".switchboard"))
    text = (root / "switchboard.yml").read_text(encoding="utf-8").replace("threshold: auto", "threshold: 0.6", 1)
    (root / "switchboard.yml").write_text(text, encoding="utf-8")
    settings = load_settings(root)
    assert settings.nlu_threshold == 0.6
    assert settings.retrieval_threshold is None


def test_calibration_settings(project):
    write(project / "switchboard.yml", """
        calibration:
          target_foreign_rate: 0.01
          shares: {intent: 2, retrieval: 1, generation: 1}
          exclude_topics: [banking]
        """)
    calibration = load_settings(project).calibration
    assert calibration.target_foreign_rate == 0.01 and calibration.exclude_topics == ("banking",)
    assert dict(calibration.shares) == {"intent": 0.5, "retrieval": 0.25, "generation": 0.25}  # normalised
    assert calibration.budget("intent") == pytest.approx(0.005)
    for bad, message in (("target_foreign_rate: 2", "share in"), ("shares: {chitchat: 1}", "shares"),
                         ("exclude_topics: banking", "list of topic"), ("surprise: 1", "unknown calibration")):
        write(project / "switchboard.yml", f"calibration:\n  {bad}\n")
        with pytest.raises(ConfigError, match=message):
            load_settings(project)


def test_auto_retrieval_threshold_defers_to_the_index(project):
    write(project / "switchboard.yml", "retrieval:\n  threshold: auto\n")
    assert load_settings(project).retrieval_threshold is None
    write(project / "switchboard.yml", "retrieval:\n  threshold: automatic\n")
    with pytest.raises(ConfigError, match="retrieval.threshold"):
        load_settings(project)


# -- Rasa's tracker_store: and lock_store: sections ---------------------------------------------


@pytest.mark.parametrize("section, url", [
    ("type: SQL\n  dialect: postgresql\n  url: db.internal\n  port: 5433\n  db: shop\n  username: bot\n"
     "  password: 'p@ss:w/rd'", "postgresql+asyncpg://bot:p%40ss%3Aw%2Frd@db.internal:5433/shop"),
    ("type: sql\n  dialect: postgresql\n  url: db.internal:6000\n  db: shop", "postgresql+asyncpg://db.internal:6000/shop"),
    ("type: sql\n  dialect: mysql+pymysql\n  url: maria\n  db: shop\n  username: root\n  query:\n    charset: utf8mb4",
     "mysql+asyncmy://root@maria/shop?charset=utf8mb4"),
    ("type: sql\n  dialect: mariadb\n  db: shop", "mysql+asyncmy://localhost/shop"),
    ("store_type: sql\n  url: postgresql://bot@db/shop", "postgresql+asyncpg://bot@db/shop"),
    ("type: sql\n  url: mysql+pymysql://root@maria:3306/shop", "mysql+asyncmy://root@maria:3306/shop"),
    ("url: postgresql+asyncpg://bot@db/shop", "postgresql+asyncpg://bot@db/shop"),  # Switchboard's own form
])
def test_rasa_tracker_store_sections(project, section, url):
    write(project / "endpoints.yml", f"tracker_store:\n  {section}\n")
    assert load_settings(project).database_url == url


def test_rasa_sqlite_tracker_store_is_a_file_in_the_project(project):
    write(project / "endpoints.yml", "tracker_store:\n  type: sql\n  dialect: sqlite\n  db: conversations.db\n")
    assert load_settings(project).database_url == f"sqlite+aiosqlite:///{project.resolve() / 'conversations.db'}"
    write(project / "endpoints.yml", "tracker_store:\n  type: SQL\n")  # the shop's: the default file
    assert load_settings(project).database_url.endswith("/.switchboard/bot.db")


@pytest.mark.parametrize("section, message", [
    ("type: redis\n  url: localhost", "type 'redis' is not supported.*sql"),
    ("type: mongod\n  url: mongodb://localhost:27017", "type 'mongod' is not supported"),
    ("type: dynamo", "type 'dynamo' is not supported"),
    ("type: my_module.MyTrackerStore", "not supported"),
    ("type: sql\n  dialect: oracle\n  url: db", "dialect 'oracle' is not supported.*sqlite, postgresql or mysql"),
    ("type: sql\n  url: mssql+pyodbc://db/x", "'mssql' databases are not supported"),
    ("type: sql\n  dialect: postgresql\n  url: db\n  port: many", "port must be a number"),
    ("type: sql\n  dialect: postgresql\n  url: db\n  db: x\n  login_db: postgres", "login_db is not supported"),
])
def test_tracker_stores_we_do_not_have_are_clear_errors(project, section, message):
    write(project / "endpoints.yml", f"tracker_store:\n  {section}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(project)


@pytest.mark.parametrize("section, url, prefix", [
    ("type: redis\n  url: cache.internal\n  port: 6380\n  db: 3\n  password: s3cret\n  use_ssl: true\n"
     "  key_prefix: shop", "rediss://:s3cret@cache.internal:6380/3", "shop:switchboard:lock:"),
    ("type: redis\n  url: cache.internal", "redis://cache.internal:6379/1", "switchboard:lock:"),  # Rasa's db 1
    ("type: redis\n  url: localhost:6390\n  username: bot\n  password: p/w\n  socket_timeout: 5\n"
     "  ssl_ca_certs: /etc/ca.pem", "redis://bot:p%2Fw@localhost:6390/1?ssl_ca_certs=%2Fetc%2Fca.pem&socket_timeout=5",
     "switchboard:lock:"),
    ("type: redis\n  url: redis://127.0.0.1:6379/0\n  key_prefix: not-alnum", "redis://127.0.0.1:6379/0",
     "switchboard:lock:"),  # a non-alphanumeric prefix is ignored, as Rasa ignores it
    ("url: redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", "switchboard:lock:"),  # Switchboard's own form
    ("type: in_memory", None, "switchboard:lock:"),
])
def test_rasa_lock_store_sections(project, monkeypatch, section, url, prefix):
    monkeypatch.delenv("SWITCHBOARD_LOCK_STORE_URL", raising=False)
    write(project / "endpoints.yml", f"lock_store:\n  {section}\n")
    settings = load_settings(project)
    assert (settings.lock_store_url, settings.lock_store_prefix) == (url, prefix)


def test_lock_stores_we_do_not_have_are_clear_errors(project, monkeypatch):
    monkeypatch.delenv("SWITCHBOARD_LOCK_STORE_URL", raising=False)
    write(project / "endpoints.yml", "lock_store:\n  type: my_module.ConcurrentLockStore\n")
    with pytest.raises(ConfigError, match="in_memory.*redis"):
        load_settings(project)


def test_environment_wins_over_the_store_sections(project, monkeypatch):
    write(project / "endpoints.yml", "tracker_store:\n  type: sql\n  dialect: postgresql\n  url: db\n  db: x\n"
                                     "lock_store:\n  type: redis\n  url: cache\n")
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", "mysql+asyncmy://root@127.0.0.1:3306/test")
    monkeypatch.setenv("SWITCHBOARD_LOCK_STORE_URL", "redis://127.0.0.1:6379/2")
    settings = load_settings(project)
    assert settings.database_url == "mysql+asyncmy://root@127.0.0.1:3306/test"
    assert settings.lock_store_url == "redis://127.0.0.1:6379/2"


def test_retention_section(project):
    assert not load_settings(project).retention.enabled
    write(project / "switchboard.yml", "retention:\n  max_age_days: 90\n  mode: anonymise\n")
    retention = load_settings(project).retention
    assert (retention.max_age_days, retention.mode, retention.interval_minutes) == (90.0, "anonymise", 60.0)
    write(project / "switchboard.yml", "retention:\n  max_age_days: -1\n")
    with pytest.raises(ConfigError, match="retention.max_age_days"):
        load_settings(project)


def test_request_limits(project, monkeypatch):
    monkeypatch.delenv("SWITCHBOARD_RATE_LIMIT", raising=False)
    defaults = load_settings(project)
    assert (defaults.rate_limit, defaults.rate_limit_burst, defaults.max_waiting_turns) == (20.0, 40, 8)
    write(project / "switchboard.yml", """
        server: {rate_limit: 5, rate_limit_burst: 12, max_waiting_turns_per_conversation: 0}
    """)
    settings = load_settings(project)
    assert (settings.rate_limit, settings.rate_limit_burst, settings.max_waiting_turns) == (5.0, 12, 0)
    monkeypatch.setenv("SWITCHBOARD_RATE_LIMIT", "0")  # e.g. a load test from one address
    assert load_settings(project).rate_limit == 0.0
    monkeypatch.delenv("SWITCHBOARD_RATE_LIMIT")
    for bad in ("rate_limit: -1", "max_waiting_turns_per_conversation: -2", "rate_limit: .nan",
                "{rate_limit: 3, rate_limit_burst: 0}"):
        write(project / "switchboard.yml", f"server: {bad if bad.startswith('{') else '{' + bad + '}'}\n")
        with pytest.raises(ConfigError, match="server.rate_limit"):
            load_settings(project)
