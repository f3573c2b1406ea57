"""``python -m processor_wrappers DESCRIPTION.json [MANIFEST.json]``: run one job step.

Exit code 0 when the job step completed (with or without warnings), 1 when it failed (the
manifest says why), 2 when the description is unusable.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from processor_wrappers.wrapper import FAILED, run_job_step
from proseo.errors import ProseoError


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print(
            "usage: python -m processor_wrappers DESCRIPTION.json [MANIFEST.json]", file=sys.stderr
        )
        return 2
    try:
        description = json.loads(Path(args[0]).read_text(encoding="utf-8"))
        result = run_job_step(description)
    except (OSError, ValueError, KeyError, ProseoError) as error:
        print(f"proseo-wrapper: unusable job step description {args[0]}: {error}", file=sys.stderr)
        return 2
    if len(args) == 2:
        Path(args[1]).write_text(result.to_json(), encoding="utf-8")
    print(
        f"proseo-wrapper: {result.run_key} {result.status}"
        + (f" ({result.reason})" if result.reason else ""),
        file=sys.stderr,
    )
    return 1 if result.status == FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
