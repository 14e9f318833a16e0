"""Kafka topic names, keys and partition counts: the wire layout every service shares.

Topics are a public interface (SREs and other producers use them with standard Kafka
tooling), so names live here once. A prefix namespaces a whole deployment's topics,
which lets several environments, or isolated test runs, share one cluster.
"""

from dataclasses import dataclass

# Agents that consume a step topic. A workflow may only name agents listed here.
AGENTS: tuple[str, ...] = ("classifier", "escalation", "responder")

# Enough partitions to spread executions over several consumers of each group;
# every record of one execution lands on one partition because the key is its id.
DEFAULT_PARTITIONS = 6

DEAD_LETTER_SUFFIX = ".dlq"


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = ""

    @property
    def execution_requests(self) -> str:
        """StartExecution commands from other services (the Kafka ingress)."""
        return f"{self.prefix}orchestrate.executions.requests"

    @property
    def execution_events(self) -> str:
        """Every fact about an execution, in order per execution: the ledger's source."""
        return f"{self.prefix}orchestrate.executions.events"

    @property
    def approval_decisions(self) -> str:
        """Human decisions on parked steps, from the gateway to the escalation service."""
        return f"{self.prefix}orchestrate.approvals.decisions"

    def step_tasks(self, agent: str) -> str:
        """RunStep commands for one agent."""
        return f"{self.prefix}orchestrate.steps.{agent}"

    @staticmethod
    def dead_letter(topic: str) -> str:
        return f"{topic}{DEAD_LETTER_SUFFIX}"

    def consumed(self) -> list[str]:
        """Every topic some service consumes."""
        return [
            self.execution_requests,
            self.execution_events,
            self.approval_decisions,
            *(self.step_tasks(agent) for agent in AGENTS),
        ]

    def all(self) -> list[str]:
        """Every topic the system uses, dead-letter topics included."""
        consumed = self.consumed()
        return consumed + [self.dead_letter(t) for t in consumed]


def message_key(execution_id: str) -> bytes:
    """Records are keyed by execution id, so one execution's records stay in order."""
    return execution_id.encode()
