"""What runs on execution nodes and what every CLI call pays: checked in a fresh interpreter,
by the modules actually imported (the import contracts in pyproject.toml check the arrows)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import missions

HEAVY = ("sqlalchemy", "fastapi", "alembic", "uvicorn", "starlette")


def _imported(code: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after running ``code`` in a new interpreter."""
    tops = "sorted({m.split('.')[0] for m in sys.modules})"
    probe = f"{code}\nimport sys, json\nprint(json.dumps({tops}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _processor_modules() -> list[str]:
    """Every ``missions.<mission>.processor*`` module (the programs the wrapper runs)."""
    found = []
    for mission in pkgutil.iter_modules(missions.__path__, "missions."):
        if not mission.ispkg:
            continue
        package = __import__(mission.name, fromlist=["_"])
        for module in pkgutil.iter_modules(package.__path__, f"{mission.name}."):
            if module.name.rsplit(".", 1)[-1].startswith("processor"):
                found.append(module.name)
    return sorted(found)


def test_every_mission_has_its_processors_found() -> None:
    assert _processor_modules() == [
        "missions.landsat.processors",
        "missions.s5p.processor",
        "missions.testmission.processor",
    ]


def test_wrapper_and_mission_processors_import_neither_database_nor_web() -> None:
    modules = [
        "processor_wrappers",
        "processor_wrappers.__main__",
        "processor_wrappers.wrapper",
        "processor_wrappers.joborder",
        *_processor_modules(),
    ]
    for module in modules:
        heavy = _imported(f"import {module}") & set(HEAVY)
        assert heavy == set(), f"{module} imports {sorted(heavy)}"


def test_cli_help_imports_no_service() -> None:
    code = (
        "import contextlib, io\n"
        "from proseo.cli.app import app\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    app(args=['--help'], prog_name='proseo')"
    )
    imported = _imported(code)
    assert imported & {*HEAVY, "planner", "ingestor", "orderman", "productionplanner"} == set()
    assert "typer" in imported  # the probe did run the CLI
