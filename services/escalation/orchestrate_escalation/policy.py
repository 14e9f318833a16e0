"""Approval policy evaluation: plain logic over the earlier steps' outputs."""

from dataclasses import dataclass

from pydantic import JsonValue

from orchestrate_contracts.messages import PriorStep
from orchestrate_contracts.workflow import ApprovalPolicy, Condition


@dataclass(frozen=True, slots=True)
class Verdict:
    required: bool
    reason: str


def _value(condition: Condition, previous: tuple[PriorStep, ...]) -> JsonValue:
    step_id, key = condition.field.split(".", 1)
    for prior in previous:
        if prior.step_id == step_id:
            return prior.output.get(key)
    return None


def _describe(condition: Condition) -> str:
    return f"{condition.field} in [{', '.join(condition.in_)}]"


def evaluate(policy: ApprovalPolicy, previous: tuple[PriorStep, ...]) -> Verdict:
    """A person must decide when any condition of the policy holds."""
    held = [
        f"{c.field} is {value}"
        for c in policy.required_when_any
        if isinstance(value := _value(c, previous), str) and value in c.in_
    ]
    if held:
        return Verdict(True, "approval required: " + "; ".join(held))
    if not policy.required_when_any:
        return Verdict(False, "no approval needed: the workflow's policy never asks a person")
    observed = ", ".join(f"{c.field} is {_value(c, previous)}" for c in policy.required_when_any)
    rules = " or ".join(_describe(c) for c in policy.required_when_any)
    return Verdict(False, f"no approval needed: {observed}; a person decides only when {rules}")
