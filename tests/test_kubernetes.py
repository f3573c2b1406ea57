"""The Kubernetes executor: manifests validated against the real Kubernetes schemas
(kubernetes-validate), the official client against a fake API server whose "kubelet" runs
the containers' commands here, the dispatcher running an order on it, and one test against a
real cluster when KUBECONFIG is set."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest
from kubernetes import client

from productionplanner.dispatcher import Dispatcher
from productionplanner.executors import ExecutorStatus, RunSpec
from productionplanner.executors.kubernetes import KubernetesExecutor, job_manifest
from proseo.catalogue.facilities import default_facility
from proseo.config import Settings
from proseo.db import Database
from proseo.enums import OrderState
from proseo.errors import ConfigurationError
from proseo.plugins import load_executor_class
from tests.fakekube import FakeKubernetes
from tests.runs import outcomes, wait_until_ended
from tests.test_dispatcher import _order, _released_order, _run_log
from tests.test_local_executor import _spec

K8S_VERSION = "1.29"


@pytest.fixture
def fake() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as server:
        yield server


def _executor(server: FakeKubernetes, data_dir: Path) -> KubernetesExecutor:
    configuration = client.Configuration()
    configuration.host = server.url
    return KubernetesExecutor(
        namespace="eo",
        image="registry.example/proseo-py:0.1",
        data_dir=data_dir,
        claim_name="proseo-data",
        api_client=client.ApiClient(configuration),
    )


def test_manifests_are_valid_kubernetes_jobs(tmp_path: Path) -> None:
    spec = RunSpec(
        "proseo-12-3",
        tmp_path / "d.json",
        tmp_path / "m.json",
        cpus=2,
        memory_bytes=3 * 2**30,
        time_limit_s=600,
    )
    for volume in ({"claim_name": "data"}, {"host_path": "/srv/proseo"}, {}):
        manifest = job_manifest(
            spec,
            namespace="eo",
            image="img:1",
            data_dir=tmp_path,
            **volume,  # type: ignore[arg-type]
        )
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    assert manifest["spec"]["backoffLimit"] == 0
    assert manifest["metadata"]["labels"]["proseo.io/run-key"] == "proseo-12-3"
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "3072Mi"}
    assert container["command"][-2:] == [str(tmp_path / "d.json"), str(tmp_path / "m.json")]
    assert manifest["spec"]["activeDeadlineSeconds"] == 720
    broken = job_manifest(spec, namespace="eo", image="img:1", data_dir=tmp_path)
    broken["spec"]["backoffLimit"] = "none"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_submit_poll_fail_cancel_adopt(fake: FakeKubernetes, tmp_path: Path) -> None:
    assert load_executor_class("kubernetes") is KubernetesExecutor
    executor = _executor(fake, tmp_path)
    specs = [
        _spec(tmp_path, "proseo-1-1", 0.2),
        _spec(tmp_path, "proseo-2-1", 0.2, code=200),
        _spec(tmp_path, "proseo-3-1", 60),
    ]
    submitted = executor.submit(specs)
    assert [s.backend_id for s in submitted] == ["proseo-1-1", "proseo-2-1", "proseo-3-1"]
    created = fake.jobs[("eo", "proseo-1-1")]
    kubernetes_validate.validate(
        {k: v for k, v in created.items() if k != "status"}, K8S_VERSION, strict=False
    )
    assert executor.submit(specs[:1]) == submitted[:1]  # 409: adopted, not created twice
    statuses = wait_until_ended(executor, submitted[:2])
    assert statuses == {"proseo-1-1": ExecutorStatus.ENDED, "proseo-2-1": ExecutorStatus.ENDED}
    assert outcomes(specs[:2]) == {"proseo-1-1": "COMPLETED", "proseo-2-1": "FAILED"}
    assert executor.poll(submitted[2:]) == {"proseo-3-1": ExecutorStatus.ACTIVE}
    lists = [r for r in fake.requests if r == ("GET", "/apis/batch/v1/namespaces/eo/jobs")]
    polls = len(lists)
    executor.poll(submitted)
    assert len([r for r in fake.requests if r[1].endswith("/jobs") and r[0] == "GET"]) == polls + 1
    # a restarted dispatcher adopts what exists
    again = _executor(fake, tmp_path)
    assert again.adopt(["proseo-3-1", "proseo-9-1"]) == [submitted[2]]
    again.cancel(submitted[2:])
    again.cancel(submitted[2:])  # idempotent
    assert again.poll(submitted[2:]) == {"proseo-3-1": ExecutorStatus.UNKNOWN}
    assert not specs[2].manifest_path.exists()


def test_missing_image_is_a_configuration_error(fake: FakeKubernetes, tmp_path: Path) -> None:
    executor = _executor(fake, tmp_path)
    executor.image = None
    with pytest.raises(ConfigurationError, match="no container image"):
        executor.submit([_spec(tmp_path, "proseo-1-1", 0)])


def test_dispatcher_runs_an_order_on_kubernetes(
    fake: FakeKubernetes, tst: Database, tst_settings: Settings, tmp_path: Path
) -> None:
    executor = _executor(fake, tst_settings.data_dir.resolve())
    with tst.transaction() as session:
        default_facility(session).executor_kind = "kubernetes"
    order_id = _released_order(
        tst, dynamic_processing_parameters={"tstRunLog": str(_run_log(tmp_path))}
    )
    report = Dispatcher(tst, tst_settings, executors={"localhost": executor}).run(
        interval_s=0.1, until_idle=True, timeout_s=120
    )
    assert report.completed == 4
    assert _order(tst, order_id).state is OrderState.COMPLETED
    assert len(fake.jobs) == 4
    assert sorted(_run_log(tmp_path).read_text().splitlines()) == sorted(
        set(_run_log(tmp_path).read_text().splitlines())
    )


@pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="needs a real cluster (KUBECONFIG)")
def test_real_cluster_runs_a_job(tmp_path: Path) -> None:  # pragma: no cover - needs a cluster
    """Submits one Job whose container just prints its arguments; needs KUBECONFIG and an
    image with Python (PROSEO_TEST_IMAGE, default python:3.11-slim)."""
    executor = KubernetesExecutor(
        namespace=os.environ.get("PROSEO_TEST_NAMESPACE", "default"),
        image=os.environ.get("PROSEO_TEST_IMAGE", "python:3.11-slim"),
        data_dir=tmp_path,
        python="echo",
        kubeconfig=os.environ["KUBECONFIG"],
    )
    spec = RunSpec(f"proseo-0-{int(time.time())}", tmp_path / "d.json", tmp_path / "m.json")
    submitted = executor.submit([spec])
    try:
        assert wait_until_ended(executor, submitted, 300) == {spec.run_key: ExecutorStatus.ENDED}
    finally:
        executor.cancel(submitted)


def test_credentials_come_from_a_secret_never_from_the_run(tmp_path: Path) -> None:
    spec = RunSpec(
        "proseo-13-1",
        tmp_path / "d.json",
        tmp_path / "m.json",
        environment={"AWS_SECRET_ACCESS_KEY": "planted-secret"},
    )
    manifest = job_manifest(
        spec, namespace="eo", image="img:1", data_dir=tmp_path, credentials_secret="s3-keys"
    )
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "s3-keys"}}]
    assert "planted-secret" not in str(manifest)
