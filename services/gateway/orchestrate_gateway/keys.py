"""API key administration: python -m orchestrate_gateway.keys create|revoke|check.

The token is printed once at creation; only its hash is stored.
"""

import argparse
import asyncio
import sys

from pymongo import AsyncMongoClient

from .settings import Settings
from .stores import KeyStore


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestrate_gateway.keys")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it")
    create.add_argument("--email", required=True, help="the key owner's email")
    create.add_argument("--tenant", required=True, help="the tenant the key acts for")
    create.add_argument("--test", action="store_true", help="an rv_test_ key")
    create.add_argument("--rate", type=float, help="requests a second (default: the gateway's)")
    create.add_argument("--burst", type=int, help="burst size (default: the gateway's)")
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    check = commands.add_parser("check", help="exit 0 if the key read from stdin is valid")
    check.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    settings = Settings()
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(settings.mongo_url, tz_aware=True)
    try:
        keys = KeyStore(mongo[settings.gateway_db]["api_keys"])
        await keys.ensure_indexes()
        if args.command == "create":
            token, key = await keys.create(
                args.email, args.tenant, not args.test, args.rate, args.burst
            )
            print(token)
            print(f"id={key.id} owner={key.owner_email} tenant={key.tenant_id}", file=sys.stderr)
            return 0
        if args.command == "revoke":
            return 0 if await keys.revoke(args.key_id) else 1
        found = await keys.find(sys.stdin.readline().strip())
        return 0 if found else 1
    finally:
        await mongo.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
