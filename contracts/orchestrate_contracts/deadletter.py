"""Dead-letter record headers: what an SRE needs to find, understand and replay a record.

The dead-letter record's value is the original bytes, untouched; these headers say
where it came from and why it was refused.
"""

from datetime import UTC, datetime
from typing import Protocol

REASON = "x-dlq-reason"
ORIGINAL_TOPIC = "x-dlq-original-topic"
ORIGINAL_PARTITION = "x-dlq-original-partition"
ORIGINAL_OFFSET = "x-dlq-original-offset"
ORIGINAL_KEY = "x-dlq-original-key"
CONSUMER_GROUP = "x-dlq-consumer-group"
FAILED_AT = "x-dlq-failed-at"

# Enough to explain a validation failure without copying a huge payload into headers.
MAX_REASON_CHARS = 2000


class Record(Protocol):
    """The parts of a consumed Kafka record that locate it."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...


def dead_letter_headers(record: Record, *, reason: str, consumer_group: str) -> dict[str, str]:
    return {
        REASON: reason[:MAX_REASON_CHARS],
        ORIGINAL_TOPIC: record.topic,
        ORIGINAL_PARTITION: str(record.partition),
        ORIGINAL_OFFSET: str(record.offset),
        ORIGINAL_KEY: (record.key or b"").decode(errors="replace"),
        CONSUMER_GROUP: consumer_group,
        FAILED_AT: datetime.now(UTC).isoformat(),
    }
