from decimal import Decimal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Gateway settings, read from ORCHESTRATE_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRATE_")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    mongo_url: str = "mongodb://127.0.0.1:27017/?replicaSet=rs0"
    # How long an operation waits for MongoDB before it fails (and is retried).
    mongo_timeout_ms: int = 5_000
    gateway_db: str = "orchestrate_gateway"
    # The ledger's database, whose execution documents GET serves.
    ledger_db: str = "orchestrate_ledger"
    # The escalation service's database: approvals check its parked steps.
    escalation_db: str = "orchestrate_escalation"
    engine_group: str = "orchestrate-engine"
    ingress_group: str = "orchestrate-ingress"
    host: str = "127.0.0.1"
    port: int = 8080
    # INR per USD, fixed into each execution when it starts. Default set 2026-12-03;
    # set your finance team's rate.
    usd_inr_rate: Decimal = Decimal("88.00")
    # Request limits: larger bodies get 413; each API key gets `rate_limit_per_s`
    # requests a second with bursts up to `rate_limit_burst`, then 429 (0 disables).
    max_body_bytes: int = 192 * 1024
    rate_limit_per_s: float = 50.0
    rate_limit_burst: int = 200
    # A start or a decision not yet acknowledged by the broker after this long is
    # published again (a crash may have cut it short); every repeat is idempotent.
    stale_after_s: float = 30.0
    reconcile_interval_s: float = 5.0
    # Kafka's defaults; a local single-node broker can use far lower values.
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    kafka_fetch_max_wait_ms: int = 500
    # A producer sends the records of this window in one request (Kafka 4's default):
    # far fewer requests for the broker under load, at most this much added latency.
    kafka_linger_ms: int = 5
    # A poll hands the engine up to this many records, handled concurrently per
    # execution; an idle poll waits this long before the next.
    kafka_batch_max_records: int = 200
    kafka_batch_timeout_ms: int = 20
    # On SIGTERM: stop taking messages, finish those in hand, commit, exit within this.
    shutdown_timeout_s: float = 10.0
    log_level: str = "INFO"
