"""The Kubernetes executor: each wrapper run is a batch/v1 Job, through the official client.

- **submit**: one Job per run, named after the run key (``proseo-<job step>-<attempt>`` is a
  valid DNS-1123 name), labelled ``app.kubernetes.io/managed-by=proseo-py`` and
  ``proseo.io/run-key=<run key>``, ``backoffLimit: 0`` (retries are the dispatcher's, by the
  order's rules), ``restartPolicy: Never``; the container runs ``python -m
  processor_wrappers <description> <manifest>`` in the processor's image (else the
  executor's ``image``), with CPU and memory requests = limits from the run's resources. The
  data directory (descriptions, manifests; POSIX storage) is mounted from a
  PersistentVolumeClaim or host path at the same path, so the paths the dispatcher wrote are
  the paths the pod reads. A Job that exists already (409) is adopted, not created again.
- **poll**: one ``list_namespaced_job`` call with the managed-by label selector.
- **cancel**: ``delete_namespaced_job`` with background propagation; a missing Job is fine.

:func:`job_manifest` builds the manifest as plain data; the tests validate it against the
real Kubernetes schemas with ``kubernetes-validate``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from productionplanner.executors.base import ExecutorStatus, RunSpec, Submission
from proseo.errors import ConfigurationError, ExecutorError

MANAGED_BY = "app.kubernetes.io/managed-by"
RUN_KEY_LABEL = "proseo.io/run-key"
SELECTOR = f"{MANAGED_BY}=proseo-py"


def job_manifest(
    spec: RunSpec,
    *,
    namespace: str,
    image: str,
    data_dir: Path,
    python: str = "python",
    claim_name: str | None = None,
    host_path: str | None = None,
    service_account: str | None = None,
    credentials_secret: str | None = None,
    ttl_after_finished_s: int = 86_400,
) -> dict[str, Any]:
    """The batch/v1 Job of one run (plain data, as ``kubectl apply`` would take it).

    Credentials never go into the Job: with ``credentials_secret`` the container takes its
    environment (e.g. ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``) from that Secret;
    ``spec.environment`` is not used.

    Resources: ``spec.cpus`` CPUs and ``spec.memory_bytes`` bytes (as Mi) as requests and
    limits; ``activeDeadlineSeconds`` is the run's time limit plus two minutes.
    """
    resources: dict[str, str] = {"cpu": str(max(1, spec.cpus))}
    if spec.memory_bytes:
        resources["memory"] = f"{max(1, math.ceil(spec.memory_bytes / 2**20))}Mi"
    container: dict[str, Any] = {
        "name": "wrapper",
        "image": image,
        "command": [
            python,
            "-m",
            "processor_wrappers",
            str(spec.description_path),
            str(spec.manifest_path),
        ],
        "resources": {"requests": resources, "limits": dict(resources)},
        "env": [{"name": "PROSEO_RUN_KEY", "value": spec.run_key}],
    }
    if credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": credentials_secret}}]
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if service_account:
        pod["serviceAccountName"] = service_account
    if claim_name or host_path:
        volume: dict[str, Any] = {"name": "proseo-data"}
        if claim_name:
            volume["persistentVolumeClaim"] = {"claimName": claim_name}
        else:
            volume["hostPath"] = {"path": host_path, "type": "Directory"}
        pod["volumes"] = [volume]
        container["volumeMounts"] = [{"name": "proseo-data", "mountPath": str(data_dir)}]
    labels = {MANAGED_BY: "proseo-py", RUN_KEY_LABEL: spec.run_key}
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": ttl_after_finished_s,
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    if spec.time_limit_s:
        job_spec["activeDeadlineSeconds"] = spec.time_limit_s + 120
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": spec.run_key, "namespace": namespace, "labels": labels},
        "spec": job_spec,
    }


def _status(job: Any) -> ExecutorStatus:
    """Ended once the Job succeeded or failed (by its counts or conditions), else active."""
    status = job.status
    if status is None:
        return ExecutorStatus.ACTIVE
    if status.succeeded or status.failed:
        return ExecutorStatus.ENDED
    for condition in status.conditions or []:
        if condition.type in ("Failed", "Complete") and condition.status == "True":
            return ExecutorStatus.ENDED
    return ExecutorStatus.ACTIVE


class KubernetesExecutor:
    """Runs wrapper runs as Kubernetes Jobs (see the module docstring).

    :param api_client: a ``kubernetes.client.ApiClient`` (default: from ``kubeconfig``, else
        the in-cluster configuration, else ``~/.kube/config``).
    """

    kind = "kubernetes"

    def __init__(
        self,
        *,
        namespace: str = "default",
        image: str | None = None,
        data_dir: Path,
        python: str = "python",
        claim_name: str | None = None,
        host_path: str | None = None,
        service_account: str | None = None,
        credentials_secret: str | None = None,
        api_client: Any = None,
        kubeconfig: str | None = None,
    ) -> None:
        from kubernetes import client
        from kubernetes import config as kube_config

        config: Any = kube_config  # the client's config loaders are untyped
        if api_client is None:
            if kubeconfig:
                config.load_kube_config(config_file=kubeconfig)
            else:
                try:
                    config.load_incluster_config()
                except config.ConfigException:
                    config.load_kube_config()
            api_client = client.ApiClient()
        self.batch: Any = client.BatchV1Api(api_client)  # takes manifests as plain dicts
        self.namespace = namespace
        self.image = image
        self.data_dir = data_dir
        self.python = python
        self.claim_name = claim_name
        self.host_path = host_path
        self.service_account = service_account
        self.credentials_secret = credentials_secret

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], *, state_dir: Path, capacity: int
    ) -> KubernetesExecutor:
        """From a facility's executor settings: ``namespace``, ``image``, ``python``,
        ``claim_name`` or ``host_path`` (the data directory's volume), ``data_dir`` (where
        it is mounted; default: this machine's data directory), ``service_account``,
        ``kubeconfig``, ``credentials_secret`` (a Secret whose keys become the wrapper's
        environment: the storage credentials)."""
        return cls(
            namespace=str(settings.get("namespace", "default")),
            image=settings.get("image"),
            data_dir=Path(settings.get("data_dir", state_dir.parent)),
            python=str(settings.get("python", "python")),
            claim_name=settings.get("claim_name"),
            host_path=settings.get("host_path"),
            service_account=settings.get("service_account"),
            kubeconfig=settings.get("kubeconfig"),
            credentials_secret=settings.get("credentials_secret"),
        )

    def manifest(self, spec: RunSpec) -> dict[str, Any]:
        """The Job manifest of ``spec``.

        :raises ConfigurationError: when neither the run nor the executor names an image.
        """
        image = spec.image or self.image
        if not image:
            raise ConfigurationError(
                f"{spec.run_key}: no container image (set the processor's docker_image or the "
                "facility's executor setting 'image')"
            )
        return job_manifest(
            spec,
            namespace=self.namespace,
            image=image,
            data_dir=self.data_dir,
            python=self.python,
            claim_name=self.claim_name,
            host_path=self.host_path,
            service_account=self.service_account,
            credentials_secret=self.credentials_secret,
        )

    def _jobs(self) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        try:
            listed = self.batch.list_namespaced_job(self.namespace, label_selector=SELECTOR)
        except ApiException as error:
            raise ExecutorError(f"cannot list Jobs in {self.namespace}: {error.reason}") from error
        jobs: dict[str, Any] = {}
        for job in listed.items:
            meta: Any = job.metadata
            jobs[str((meta.labels or {}).get(RUN_KEY_LABEL, meta.name))] = job
        return jobs

    def submit(self, specs: Sequence[RunSpec]) -> list[Submission]:
        """Create a Job per run (an existing one is adopted).

        :raises ExecutorError: when the API server refuses a Job (with its reason).
        """
        from kubernetes.client.exceptions import ApiException

        submissions = []
        for spec in specs:
            try:
                self.batch.create_namespaced_job(self.namespace, self.manifest(spec))
            except ApiException as error:
                if error.status != 409:  # 409: it exists, i.e. it was submitted before
                    raise ExecutorError(
                        f"cannot create Job {spec.run_key}: {error.status} {error.reason}"
                    ) from error
            submissions.append(Submission(spec.run_key, spec.run_key))
        return submissions

    def poll(self, submissions: Sequence[Submission]) -> dict[str, ExecutorStatus]:
        """Status of every submission from one list call (a Job that is gone: UNKNOWN)."""
        if not submissions:
            return {}
        jobs = self._jobs()
        return {
            s.run_key: _status(jobs[s.run_key]) if s.run_key in jobs else ExecutorStatus.UNKNOWN
            for s in submissions
        }

    def cancel(self, submissions: Sequence[Submission]) -> None:
        """Delete the Jobs (and their pods); Jobs already gone are no error."""
        from kubernetes.client.exceptions import ApiException

        for submission in submissions:
            try:
                self.batch.delete_namespaced_job(
                    submission.backend_id, self.namespace, propagation_policy="Background"
                )
            except ApiException as error:
                if error.status != 404:
                    raise ExecutorError(
                        f"cannot delete Job {submission.backend_id}: {error.reason}"
                    ) from error

    def adopt(self, run_keys: Sequence[str]) -> list[Submission]:
        """Submissions for the run keys whose Jobs still exist."""
        jobs = self._jobs()
        return [Submission(key, jobs[key].metadata.name) for key in run_keys if key in jobs]
