from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Ledger settings, read from ORCHESTRATE_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRATE_")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    ledger_group: str = "orchestrate-ledger"
    mongo_url: str = "mongodb://127.0.0.1:27017/?replicaSet=rs0"
    # How long an operation waits for MongoDB before it fails (and is retried).
    mongo_timeout_ms: int = 5_000
    ledger_db: str = "orchestrate_ledger"
    # A poll returns up to this many events, projected with one read and one write.
    kafka_batch_max_records: int = 500
    kafka_batch_timeout_ms: int = 20
    # Kafka's defaults; a local single-node broker can use far lower values.
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    kafka_fetch_max_wait_ms: int = 500
    # A producer sends the records of this window in one request (Kafka 4's default):
    # far fewer requests for the broker under load, at most this much added latency.
    kafka_linger_ms: int = 5
    # Liveness (/healthz) and readiness (/readyz) over HTTP.
    health_host: str = "127.0.0.1"
    ledger_health_port: int = 8084
    # On SIGTERM: stop taking messages, finish those in hand, commit, exit within this.
    shutdown_timeout_s: float = 10.0
    log_level: str = "INFO"
