"""`python -m orchestrate_devstack run`: the whole system locally, until Ctrl-C.

State lives in .run/ (mongod data, logs, the development API key): a second run
reuses it. The broker keeps messages in memory only.
"""

import argparse
import asyncio
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from pymongo import AsyncMongoClient

from orchestrate_gateway.stores import KeyStore

from .infra import MongoServer, TansuBroker
from .stack import Stack, Wiring, pick_port

DEV_EMAIL = "dev@orchestrate.local"
DEV_TENANT = "dev"


async def dev_key(mongo_url: str, db: str, saved: str | None) -> str:
    """The development key: the saved one while it is valid, else a new one."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        keys = KeyStore(client[db]["api_keys"])
        await keys.ensure_indexes()
        if saved and await keys.find(saved):
            return saved
        token, _ = await keys.create(DEV_EMAIL, DEV_TENANT)
        return token
    finally:
        await client.close()


def run(state: Path, port: int, kafka_port: int, mongo_port: int) -> int:
    state.mkdir(parents=True, exist_ok=True)
    logs = state / "logs"
    stopping = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    print("Starting Kafka-protocol broker (Tansu) and mongod...", flush=True)
    broker, mongo = TansuBroker(logs), MongoServer(state / "mongo")
    broker.start(pick_port(kafka_port))
    mongo.start(pick_port(mongo_port))
    with broker, mongo:
        wiring = Wiring(
            kafka_bootstrap_servers=broker.bootstrap_servers,
            mongo_url=mongo.url,
            gateway_port=pick_port(port),
        )
        stack = Stack(wiring, logs)
        try:
            print("Starting gateway, classifier, escalation, responder, ledger...", flush=True)
            stack.start()
            key_file = state / "dev-api-key"
            saved = key_file.read_text().strip() if key_file.exists() else None
            token = asyncio.run(dev_key(mongo.url, "orchestrate_gateway", saved))
            if token != saved:
                key_file.write_text(token + "\n")
                key_file.chmod(0o600)
            print(
                f"\nOrchestrate is running.\n"
                f"  API base URL:    {wiring.base_url}/v1/orchestrate\n"
                f"  Dev API key:     {token}   (owner {DEV_EMAIL}, tenant {DEV_TENANT})\n"
                f"  Workflow:        wf_customer_support_triage\n"
                f"  Kafka bootstrap: {broker.bootstrap_servers}\n"
                f"  MongoDB:         {mongo.url}\n"
                f"  Logs:            {logs}/\n"
                f"Press Ctrl-C to stop.",
                flush=True,
            )
            while not stopping.wait(1.0):
                dead = [s.name for s in stack.services.values() if not s.running]
                if dead:
                    print(f"Service(s) exited: {', '.join(dead)}; see {logs}/", file=sys.stderr)
                    return 1
        finally:
            print("\nStopping...", flush=True)
            stack.stop()
    print("Stopped.")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestrate_devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("run", help="run the whole system until Ctrl-C")
    start.add_argument("--state", type=Path, default=Path(".run"))
    start.add_argument("--port", type=int, default=8080, help="gateway HTTP port")
    start.add_argument("--kafka-port", type=int, default=19092)
    start.add_argument("--mongo-port", type=int, default=27027)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    return run(args.state.resolve(), args.port, args.kafka_port, args.mongo_port)


if __name__ == "__main__":
    sys.exit(main())
