from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Escalation settings, read from ORCHESTRATE_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRATE_")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    escalation_group: str = "orchestrate-escalation"
    # A group of its own: one group per subscription keeps rebalances simple and fast.
    escalation_decisions_group: str = "orchestrate-escalation-decisions"
    mongo_url: str = "mongodb://127.0.0.1:27017/?replicaSet=rs0"
    # How long an operation waits for MongoDB before it fails (and is retried).
    mongo_timeout_ms: int = 5_000
    escalation_db: str = "orchestrate_escalation"
    # How often approval deadlines are checked: the latest a deadline fires after it passes.
    deadline_poll_interval_s: float = 1.0
    # Kafka's defaults; a local single-node broker can use far lower values.
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    kafka_fetch_max_wait_ms: int = 500
    # A producer sends the records of this window in one request (Kafka 4's default):
    # far fewer requests for the broker under load, at most this much added latency.
    kafka_linger_ms: int = 5
    # A poll hands the service up to this many records, handled concurrently per
    # execution; an idle poll waits this long before the next.
    kafka_batch_max_records: int = 200
    kafka_batch_timeout_ms: int = 20
    # Liveness (/healthz) and readiness (/readyz) over HTTP.
    health_host: str = "127.0.0.1"
    escalation_health_port: int = 8082
    # On SIGTERM: stop taking messages, finish those in hand, commit, exit within this.
    shutdown_timeout_s: float = 10.0
    log_level: str = "INFO"
