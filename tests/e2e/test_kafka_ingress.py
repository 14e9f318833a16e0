"""Starting executions over Kafka: same validation as HTTP, poison to the dead-letter topic."""

import json
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from orchestrate_contracts import deadletter
from orchestrate_devstack.stack import Stack
from orchestrate_gateway.orchestrator import execution_id_for_record

from ..support import read_topic
from .conftest import Keys
from .test_triage import TRIAGE, wait_status

pytestmark = pytest.mark.e2e


def request(**fields: object) -> bytes:
    return json.dumps(
        {
            "type": "start_execution",
            "tenant_id": "acme",
            "workflow_id": TRIAGE,
            "requested_by": "billing-service",
        }
        | fields
    ).encode()


async def test_executions_start_from_the_ingress_topic(
    api: httpx.AsyncClient, keys: Keys, stack: Stack
) -> None:
    topic = stack.wiring.topics.execution_requests
    good_ticket = {"ticket": "Please send me the invoice for my order, thanks!"}
    given_id = f"exec_{uuid.uuid4().hex}"
    poison = [
        (b"\xff\x00 not json at all", "invalid StartExecution"),
        (b'{"type": "start_execution", "tenant_id": "acme"}', "invalid StartExecution"),
        (request(workflow_id="wf_does_not_exist", inputs=good_ticket), "workflow_not_found"),
        (request(inputs={"ticket": "   "}), "invalid_inputs"),
        (request(inputs={"ticket": "hi"}, tenant_id="bad tenant!"), "invalid StartExecution"),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=stack.wiring.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, request(execution_id=given_id, inputs=good_ticket), key=given_id.encode()
        )
        sent_poison = []
        derived = []
        for value, reason in poison:
            meta = await producer.send_and_wait(topic, value, key=b"k")
            sent_poison.append((value, reason, meta.partition, meta.offset))
            # A good request without an id, between each pair of bad ones.
            meta = await producer.send_and_wait(topic, request(inputs=good_ticket), key=b"k")
            derived.append(execution_id_for_record(topic, meta.partition, meta.offset))
    finally:
        await producer.stop()

    for execution_id in [given_id, *derived]:
        done = await wait_status(api, keys.acme, execution_id, "completed")
        assert done["steps"][0]["output"]["category"] == "invoice"

    dead = await read_topic(
        stack.wiring.kafka_bootstrap_servers, stack.wiring.topics.dead_letter(topic), len(poison)
    )
    assert len(dead) == len(poison)
    by_offset = {(r.partition, r.offset): r for r in dead}
    assert len(by_offset) == len(poison)
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers}
        match = [p for p in sent_poison if p[0] == record.value]
        assert len(match) == 1, record.value
        _, reason, partition, offset = match[0]
        assert reason in headers[deadletter.REASON]
        assert headers[deadletter.ORIGINAL_TOPIC] == topic
        assert headers[deadletter.ORIGINAL_PARTITION] == str(partition)
        assert headers[deadletter.ORIGINAL_OFFSET] == str(offset)
        assert headers[deadletter.CONSUMER_GROUP].endswith("orchestrate-ingress")
