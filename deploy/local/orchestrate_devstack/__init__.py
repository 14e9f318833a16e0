"""Local stack for `make run` and the integration tests: real Tansu broker and mongod."""

from .infra import (
    InfraError,
    MongoServer,
    TansuBroker,
    create_topics,
    create_topics_async,
    free_port,
    mongod_binary,
    tansu_binary,
)

__all__ = [
    "InfraError",
    "MongoServer",
    "TansuBroker",
    "create_topics",
    "create_topics_async",
    "free_port",
    "mongod_binary",
    "tansu_binary",
]
