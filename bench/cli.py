"""CLI start-up: wall-clock seconds of ``proseo --help`` and of ``proseo order list`` on an
empty embedded (SQLite) database, each run as a new process, median of ``--runs``.

    .venv/bin/python bench/cli.py --runs 15

Also prints the modules ``proseo --help`` imports of the heavy libraries (SQLAlchemy,
FastAPI, Alembic, the planner): a sub-command should import what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("sqlalchemy", "fastapi", "alembic", "uvicorn", "planner", "ingestor", "boto3")


def _proseo() -> list[str]:
    script = Path(sys.executable).with_name("proseo")
    return [str(script)] if script.exists() else [sys.executable, "-m", "proseo"]


def _time(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, check=False)
        seconds.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr.decode()}")
    return seconds


def main() -> None:
    """Run the benchmark and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="proseo-bench-cli-") as folder:
        env = {**os.environ, "PROSEO_DATA_DIR": folder}
        env.pop("PROSEO_DATABASE_URL", None)
        proseo = _proseo()
        subprocess.run([*proseo, "db", "upgrade"], env=env, check=True, capture_output=True)
        cases = {
            "proseo --help": [*proseo, "--help"],
            "proseo order list (empty SQLite)": [*proseo, "order", "list"],
        }
        print(f"{'command':36} {'median s':>9} {'min s':>7} {'max s':>7}  (runs: {args.runs})")
        for label, argv in cases.items():
            _time(argv, env, 1)  # warm the file cache
            seconds = _time(argv, env, args.runs)
            print(
                f"{label:36} {statistics.median(seconds):9.3f} {min(seconds):7.3f} "
                f"{max(seconds):7.3f}"
            )
        probe = (
            "import sys; from proseo.cli.app import app; "
            "import contextlib, io\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "    app(args=['--help'], prog_name='proseo')\n"
            f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
        )
        heavy = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        print(f"heavy packages imported by --help: {heavy or 'none'}")


if __name__ == "__main__":
    main()
