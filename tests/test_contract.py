"""The typed, versioned contract between the control plane and the execution nodes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from proseo.contract import (
    SCHEMA_VERSION,
    ContractError,
    InputFile,
    InputTimeInterval,
    JobStepDescription,
    JobStepInput,
    JobStepOutput,
    ProcessorSpec,
    ProcessorTask,
    RunManifest,
    RunStatus,
    StoredOutput,
)

DESCRIPTION = JobStepDescription(
    run_key="proseo-12-3",
    job_step_id=12,
    attempt=3,
    mission="S5P",
    processing_order="RPRO-1",
    configured_processor="TROPNLL2DP_1.2.0_OPER",
    storage={"kind": "s3", "bucket": "eo", "prefix": "p"},
    processor=ProcessorSpec(
        name="TROPNLL2DP",
        version="1.2.0",
        tasks=(ProcessorTask("t1", "1.0", "python -m x"), ProcessorTask("t2", "1.1", "")),
        job_order_version="GMES_1_1",
        max_time_s=3600,
        docker_image="registry/tropnll2dp:1.2.0",
        cpus=4,
        memory_bytes=8 * 2**30,
    ),
    sensing_start=datetime(2019, 9, 16, 23, 6, 1, 123456, tzinfo=UTC),
    sensing_stop=datetime(2019, 9, 17, 0, 47, 30, tzinfo=UTC),
    dynamic_parameters={"threads": "4", "mode": "fast"},
    processing_station="facility-1",
    inputs=(
        JobStepInput(
            "L1B_RA_BD3",
            (InputFile("S5P/L1B/u/a.nc", "7/a.nc"), InputFile("S5P/L1B/u/b.nc", "7/b.nc")),
            file_name_type="Physical",
            time_intervals=(
                InputTimeInterval(
                    datetime(2019, 9, 16, 23, 6, 1, tzinfo=UTC),
                    datetime(2019, 9, 17, tzinfo=timezone(timedelta(hours=2))),
                    "7/a.nc",
                ),
                InputTimeInterval(None, None, "7/b.nc"),
            ),
        ),
    ),
    outputs=(JobStepOutput("L2__NO2___", "no2.nc", "S5P/L2/v/no2.nc", product_id=99),),
    config_files=("cfg.xml",),
    manifest_key="runs/proseo-12-3/manifest.json",
    keep_work_dir=True,
    storage_patience_s=42.5,
)


def test_description_round_trips_losslessly_through_json() -> None:
    data = json.loads(json.dumps(DESCRIPTION.to_dict()))
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["sensing_start"] == "2019-09-16T23:06:01.123456+00:00"
    again = JobStepDescription.from_dict(data)
    assert again == DESCRIPTION
    assert again.inputs[0].time_intervals[1].start is None
    assert again.inputs[0].time_intervals[0].stop.utcoffset() == timedelta(hours=2)  # type: ignore[union-attr]


def test_manifest_round_trips_losslessly_through_json() -> None:
    manifest = RunManifest(
        run_key="proseo-12-3",
        status=RunStatus.COMPLETED_WITH_WARNINGS,
        exit_code=3,
        reason="processor exited with warning code 3",
        started=datetime(2026, 11, 29, 10, 0, 0, 1, tzinfo=UTC),
        finished=datetime(2026, 11, 29, 10, 5, 0, tzinfo=UTC),
        duration_s=300.0,
        outputs=(StoredOutput("L2__NO2___", "no2.nc", "S5P/L2/v/no2.nc", 1234, "ab" * 16, 99),),
        log_tail="a\nb",
        stdout_tail="a",
        stderr_tail="b",
        transient=True,
    )
    again = RunManifest.from_dict(json.loads(json.dumps(manifest.to_dict())))
    assert again == manifest
    assert again.status.succeeded
    assert not RunStatus.FAILED.succeeded


def test_documents_of_the_same_version_without_the_optional_fields_keep_their_meaning() -> None:
    """A description or manifest written before ``storage_patience_s`` and ``transient``
    existed (same schema version) reads with the defaults that keep its old meaning."""
    data = DESCRIPTION.to_dict()
    del data["storage_patience_s"]
    assert JobStepDescription.from_dict(data).storage_patience_s == 300.0
    older = {
        "schema_version": SCHEMA_VERSION, "run_key": "k", "status": "FAILED",
        "exit_code": 1, "reason": "x", "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:00:01+00:00", "duration_s": 1.0,
    }  # fmt: skip
    assert RunManifest.from_dict(older).transient is False


def test_another_schema_version_is_refused_naming_both_versions() -> None:
    data = DESCRIPTION.to_dict() | {"schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(ContractError) as info:
        JobStepDescription.from_dict(data)
    message = str(info.value)
    assert "description.schema_version" in message
    assert f"{SCHEMA_VERSION + 1}" in message
    assert f"reads version {SCHEMA_VERSION}" in message
    manifest = {"schema_version": 0, "run_key": "x", "status": "COMPLETED"}
    with pytest.raises(ContractError, match=r"manifest\.schema_version 0"):
        RunManifest.from_dict(manifest)


def test_missing_fields_and_bad_values_are_named() -> None:
    data = DESCRIPTION.to_dict()
    del data["run_key"]
    with pytest.raises(ContractError, match=r"description\.run_key"):
        JobStepDescription.from_dict(data)
    data = DESCRIPTION.to_dict() | {"sensing_start": "yesterday"}
    with pytest.raises(ContractError, match=r"description\.sensing_start 'yesterday'"):
        JobStepDescription.from_dict(data)
    base = {"run_key": "k", "started": "2026-01-01T00:00:00+00:00", "finished": "x"}
    with pytest.raises(ContractError, match=r"manifest\.status 'DONE': is not a run status"):
        RunManifest.from_dict(base | {"status": "DONE"})


def test_to_dict_writes_every_field() -> None:
    """The hand-written ``to_dict`` forgets no field of the dataclasses (a field added later
    must be written too)."""
    from dataclasses import fields

    assert set(DESCRIPTION.to_dict()) == {f.name for f in fields(JobStepDescription)}
    assert set(DESCRIPTION.to_dict()["processor"]) == {f.name for f in fields(ProcessorSpec)}
    assert set(DESCRIPTION.to_dict()["inputs"][0]) == {f.name for f in fields(JobStepInput)}
    assert set(DESCRIPTION.to_dict()["outputs"][0]) == {f.name for f in fields(JobStepOutput)}
