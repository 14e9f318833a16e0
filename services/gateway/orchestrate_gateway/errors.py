"""Domain errors. The HTTP edge (api.py) maps each to one status and one JSON shape."""


class OrchestrateError(Exception):
    code = "error"

    def __init__(self, message: str, details: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unauthorized(OrchestrateError):
    code = "unauthorized"


class ExecutionNotFound(OrchestrateError):
    code = "execution_not_found"


class WorkflowNotFound(OrchestrateError):
    code = "workflow_not_found"


class InvalidInputs(OrchestrateError):
    code = "invalid_inputs"


class NotAwaitingApproval(OrchestrateError):
    code = "not_awaiting_approval"


class AlreadyDecided(OrchestrateError):
    code = "already_decided"


class IdempotencyConflict(OrchestrateError):
    code = "idempotency_key_reused"
