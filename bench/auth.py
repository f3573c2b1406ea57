"""Cost of authentication: Argon2id hashing and verification, and REST requests per second
with HTTP Basic (an Argon2 verification each) against a bearer API token (a SHA-256 lookup),
on the embedded SQLite database, in process (FastAPI TestClient), median of ``--runs``.

    .venv/bin/python bench/auth.py --requests 200 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from proseo.api.app import API_PREFIX, create_app
from proseo.catalogue.sync import sync_mission
from proseo.config import SecuritySettings, load_settings
from proseo.db import Database, migrate
from proseo.enums import UserRole
from proseo.security.accounts import create_token, create_user

PASSWORD = "a benchmark password"


def _per_second(
    client: TestClient, count: int, path: str = "/missions", **options: object
) -> float:
    began = time.perf_counter()
    for _ in range(count):
        answer = client.get(f"{API_PREFIX}{path}", **options)
        if answer.status_code != 200:
            raise SystemExit(f"request failed: {answer.status_code} {answer.text}")
    return count / (time.perf_counter() - began)


def main() -> None:
    """Print hashing times (ms) and requests per second with Basic and with a token."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    hasher = PasswordHasher()
    hashed = hasher.hash(PASSWORD)
    hash_ms, verify_ms, basic, bearer, open_ = [], [], [], [], []
    for _ in range(args.runs):
        began = time.perf_counter()
        hasher.hash(PASSWORD)
        hash_ms.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        hasher.verify(hashed, PASSWORD)
        verify_ms.append((time.perf_counter() - began) * 1000)
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(data_dir=Path(folder))
        database = Database.from_settings(settings)
        migrate.upgrade(database.engine)
        from missions.testmission import build_definition

        with database.transaction() as session:
            sync_mission(session, build_definition())
            user = create_user(session, "bench", PASSWORD, SecuritySettings(), mission="TST",
                               roles=[UserRole.MISSION_READER])  # fmt: skip
            session.flush()
            _, token = create_token(session, user, "bench", 1)
        client = TestClient(create_app(settings, database=database))
        for _ in range(args.runs):
            open_.append(_per_second(client, args.requests, "/health"))
            basic.append(_per_second(client, args.requests, auth=("bench", PASSWORD)))
            bearer.append(
                _per_second(client, args.requests, headers={"Authorization": f"Bearer {token}"})
            )
        database.dispose()
    print(f"argon2id hash   {statistics.median(hash_ms):7.1f} ms")
    print(f"argon2id verify {statistics.median(verify_ms):7.1f} ms")
    print(f"GET /health (no login, no DB)  {statistics.median(open_):7.1f} requests/s")
    print(f"GET /missions with HTTP Basic  {statistics.median(basic):7.1f} requests/s")
    print(f"GET /missions with a token     {statistics.median(bearer):7.1f} requests/s")


if __name__ == "__main__":
    main()
