from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Responder settings, read from ORCHESTRATE_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRATE_")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    responder_group: str = "orchestrate-responder"
    # Kafka's defaults; a local single-node broker can use far lower values.
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    kafka_fetch_max_wait_ms: int = 500
    # A producer sends the records of this window in one request (Kafka 4's default):
    # far fewer requests for the broker under load, at most this much added latency.
    kafka_linger_ms: int = 5
    # A poll hands the agent up to this many tasks, run concurrently per execution;
    # an idle poll waits this long before the next.
    kafka_batch_max_records: int = 200
    kafka_batch_timeout_ms: int = 20
    # Liveness (/healthz) and readiness (/readyz) over HTTP.
    health_host: str = "127.0.0.1"
    responder_health_port: int = 8083
    # The model backend: "builtin" (offline, the default) or "openai" (any
    # OpenAI-compatible chat-completions endpoint); a workflow step may choose its own.
    model_backend: Literal["builtin", "openai"] = "builtin"
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout_s: float = 60.0
    # A failing model call is tried this often (backoff 0.5 s, 1 s, ...) before the
    # step is recorded as failed.
    step_max_attempts: int = 3
    # On SIGTERM: stop taking messages, finish those in hand, commit, exit within this.
    shutdown_timeout_s: float = 10.0
    log_level: str = "INFO"
