"""The S5P mission's light processor: reads its Job Order File, writes the outputs it names.

Run as ``python -m missions.s5p.processor <Job Order File>``. Each output is a small JSON
document (processor, task, sensing window, dynamic parameters, input files) standing in for
a NetCDF product: enough for planning and dispatch at scale, and for lineage checks.
Exit 0 on success; 255 with a message on stderr when the Job Order is unusable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from processor_wrappers.joborder import read_job_order
from proseo.errors import JobOrderError


def run(job_order_path: Path) -> list[Path]:
    """Write every output the Job Order names; returns their paths.

    :raises JobOrderError: when the Job Order cannot be read.
    """
    job_order = read_job_order(job_order_path)
    written = []
    for proc in job_order.procs:
        inputs = {i.file_type: i.file_names for i in proc.inputs}
        for output in proc.outputs:
            path = Path(output.file_name)
            if not path.is_absolute():
                path = job_order_path.parent / path
            path.parent.mkdir(parents=True, exist_ok=True)
            document = {
                "processor": job_order.processor_name,
                "version": job_order.version,
                "task": proc.task_name,
                "file_type": output.file_type,
                "sensing_start": job_order.sensing_start.isoformat()
                if job_order.sensing_start
                else None,
                "sensing_stop": job_order.sensing_stop.isoformat()
                if job_order.sensing_stop
                else None,
                "dynamic_parameters": dict(job_order.dynamic_parameters),
                "inputs": inputs,
            }
            path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m missions.s5p.processor JOBORDER", file=sys.stderr)
        return 255
    try:
        written = run(Path(args[0]))
    except JobOrderError as error:
        print(f"s5p processor: {error}", file=sys.stderr)
        return 255
    print(f"s5p processor: wrote {len(written)} output(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
