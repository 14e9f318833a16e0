"""HTTP routes. Domain errors become HTTP statuses here, in one JSON shape."""

import logging
import math
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException

from orchestrate_contracts.messages import DecideApproval

from .errors import (
    AlreadyDecided,
    ExecutionNotFound,
    IdempotencyConflict,
    InvalidInputs,
    NotAwaitingApproval,
    OrchestrateError,
    Unauthorized,
    WorkflowNotFound,
)
from .limits import RateLimited, RateLimiter
from .orchestrator import Engine, Publisher, StartRequest, new_execution_id
from .stores import ApiKey, Stores
from .views import (
    ApproveBody,
    DecisionAccepted,
    ErrorResponse,
    ExecutionAccepted,
    ExecutionView,
    StartExecutionBody,
    WorkflowList,
    execution_view,
    iso,
)

log = logging.getLogger(__name__)

STATUS = {
    Unauthorized: 401,
    ExecutionNotFound: 404,
    WorkflowNotFound: 404,
    AlreadyDecided: 409,
    IdempotencyConflict: 409,
    RateLimited: 429,
    NotAwaitingApproval: 409,
    InvalidInputs: 422,
}
_ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 404, 409, 413, 422, 429, 503)}


def error_response(
    status: int, code: str, message: str, details: list[dict[str, object]] | None = None
) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    async def on_domain(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OrchestrateError)
        response = error_response(STATUS.get(type(exc), 400), exc.code, exc.message, exc.details)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(math.ceil(exc.retry_after_s))
        return response

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return error_response(422, "validation_error", "the request is malformed", details)

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {
            400: "malformed_body",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
        }.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "an unexpected error occurred")

    async def on_database_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("MongoDB unavailable: %s", exc)
        response = error_response(503, "unavailable", "the database is unavailable; try again")
        response.headers["Retry-After"] = "1"
        return response

    app.add_exception_handler(Exception, on_unexpected)
    app.add_exception_handler(ConnectionFailure, on_database_down)
    app.add_exception_handler(OrchestrateError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def build_router(
    stores: Stores,
    engine: Engine,
    publisher: Publisher,
    approvals_topic: str,
    limiter: RateLimiter,
) -> APIRouter:
    router = APIRouter(prefix="/v1/orchestrate", responses=_ERRORS)  # type: ignore[arg-type]
    bearer = HTTPBearer(auto_error=False)

    async def caller(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiKey:
        if credentials is None:
            raise Unauthorized("an API key is required: Authorization: Bearer rv_live_...")
        key = await stores.keys.find(credentials.credentials)
        if key is None:
            raise Unauthorized("the API key is not valid")
        limiter.check(key.id, key.rate_limit_per_s, key.rate_limit_burst)
        return key

    Caller = Annotated[ApiKey, Depends(caller)]

    @router.post("/executions", status_code=202, response_model=ExecutionAccepted)
    async def start_execution(
        body: StartExecutionBody,
        key: Caller,
        response: Response,
        idempotency_key: Annotated[
            str | None,
            Header(
                min_length=1,
                max_length=200,
                description="Retries with the same key start the execution once",
            ),
        ] = None,
    ) -> ExecutionAccepted:
        """Start an execution. It runs asynchronously: poll GET for its progress."""
        run = await engine.start(
            StartRequest(
                tenant_id=key.tenant_id,
                workflow_id=body.workflow_id,
                inputs=body.inputs,
                requested_by=key.owner_email,
                execution_id=new_execution_id(key.tenant_id, idempotency_key),
            )
        )
        if (run.workflow.id, run.inputs) != (body.workflow_id, body.inputs):
            raise IdempotencyConflict("this Idempotency-Key was used for another request")
        response.headers["Location"] = f"/v1/orchestrate/executions/{run.id}"
        return ExecutionAccepted(
            id=run.id,
            workflow_id=run.workflow.id,
            status="running",
            created_at=iso(run.created_at) or "",
        )

    @router.get("/executions/{execution_id}", response_model=ExecutionView)
    async def get_execution(execution_id: str, key: Caller) -> ExecutionView:
        doc = await stores.executions.get(key.tenant_id, execution_id)
        if doc is None:
            raise ExecutionNotFound(f"no execution {execution_id}")
        return execution_view(doc)

    @router.post(
        "/executions/{execution_id}/approve", status_code=202, response_model=DecisionAccepted
    )
    async def approve(execution_id: str, body: ApproveBody, key: Caller) -> DecisionAccepted:
        """Approve or reject the step that waits for a person. The first decision wins."""
        # The parking lot, not the ledger's document: the document trails the parking
        # by a moment, and a client reacting to StepAwaitingApproval on Kafka asks
        # before it shows the step. The document only explains a refusal.
        parked = await stores.parked.pending_step(key.tenant_id, execution_id)
        if parked is None:
            doc = await stores.executions.get(key.tenant_id, execution_id)
            if doc is None:
                raise ExecutionNotFound(f"no execution {execution_id}")
            raise NotAwaitingApproval(f"execution {execution_id} is {doc.status}")
        now = datetime.now(UTC)
        decided_at = now.replace(microsecond=now.microsecond // 1000 * 1000)
        command = DecideApproval(
            event_id=f"{execution_id}:{parked}:decision",
            execution_id=execution_id,
            tenant_id=key.tenant_id,
            occurred_at=decided_at,
            step_id=parked,
            approved=body.approved,
            notes=body.notes,
            decided_by=key.owner_email,
            api_key_id=key.id,
        )
        await stores.decisions.claim(command)
        try:
            await publisher.publish(approvals_topic, execution_id, command)
            await stores.decisions.mark_published(command)
        except Exception:
            # Recorded but not yet delivered: the reconciler delivers it (outbox).
            log.exception("decision on %s not published yet; the reconciler will", execution_id)
        return DecisionAccepted(
            execution_id=execution_id,
            step_id=parked,
            approved=body.approved,
            approved_by=key.owner_email,
            notes=body.notes,
            decided_at=iso(decided_at) or "",
        )

    @router.get("/workflows", response_model=WorkflowList)
    async def list_workflows(_: Caller) -> WorkflowList:
        return WorkflowList(workflows=await stores.workflows.list())

    @router.get("/workflows/{workflow_id}")
    async def get_workflow(workflow_id: str, _: Caller) -> dict[str, object]:
        workflow = await stores.workflows.get(workflow_id)
        return workflow.model_dump(mode="json", by_alias=True)

    return router
