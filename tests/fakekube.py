"""A small fake Kubernetes API server for the batch/v1 Job calls the executor makes, with a
"kubelet" that really runs each Job's container command on this machine.

Serves ``POST/GET /apis/batch/v1/namespaces/<ns>/jobs`` (list with ``labelSelector``:
``key=value``, ``key!=value``, ``key``, comma-joined) and ``GET/DELETE .../jobs/<name>``,
with Status objects for 404 and 409 as the real server sends them. The official client talks
to it unchanged. A created Job's command runs as a subprocess (``python`` is this
interpreter); the Job's status goes active -> succeeded or failed by its exit code, and a
deleted Job's process is killed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

_JOBS = re.compile(r"^/apis/batch/v1/namespaces/([^/]+)/jobs(?:/([^/]+))?$")


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.rstrip("=")) != value.lstrip("="):
                return False
        elif term not in labels:
            return False
    return True


class FakeKubernetes:
    """The server (``url``) and its Jobs; ``run_containers`` switches the kubelet on."""

    def __init__(self, run_containers: bool = True) -> None:
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.processes: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self.requests: list[tuple[str, str]] = []
        self.run_containers = run_containers
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                parsed = urlparse(self.path)
                fake.requests.append((method, parsed.path))
                match = _JOBS.match(parsed.path)
                if match is None:
                    self._send(404, _status(404, "NotFound", f"no route {parsed.path}"))
                    return
                namespace, name = match.groups()
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                code, answer = fake.handle(method, namespace, name, parse_qs(parsed.query), body)
                self._send(code, answer)

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_DELETE(self) -> None:
                self._route("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeKubernetes:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
        self.server.shutdown()
        self.server.server_close()

    def handle(
        self,
        method: str,
        namespace: str,
        name: str | None,
        query: dict[str, list[str]],
        body: dict[str, Any] | None,
    ) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if method == "POST" and name is None and body is not None:
                key = (namespace, body["metadata"]["name"])
                if key in self.jobs:
                    return 409, _status(409, "AlreadyExists", f"jobs {key[1]} already exists")
                job = json.loads(json.dumps(body))
                job["metadata"].update(
                    uid=str(uuid.uuid4()),
                    namespace=namespace,
                    creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                )
                job["status"] = {}
                self.jobs[key] = job
                if self.run_containers:
                    self._start(key, job)
                return 201, job
            if method == "GET" and name is None:
                selector = query.get("labelSelector", [""])[0]
                items = [
                    job
                    for (ns, _), job in sorted(self.jobs.items())
                    if ns == namespace and _matches(job["metadata"].get("labels", {}), selector)
                ]
                return 200, {
                    "apiVersion": "batch/v1",
                    "kind": "JobList",
                    "metadata": {"resourceVersion": "1"},
                    "items": items,
                }
            key = (namespace, name or "")
            if key not in self.jobs:
                return 404, _status(404, "NotFound", f'jobs.batch "{name}" not found')
            if method == "GET":
                return 200, self.jobs[key]
            if method == "DELETE":
                process = self.processes.pop(key, None)
                if process is not None and process.poll() is None:
                    process.kill()
                del self.jobs[key]
                return 200, {"apiVersion": "v1", "kind": "Status", "status": "Success"}
        return 405, _status(405, "MethodNotAllowed", method)

    def _start(self, key: tuple[str, str], job: dict[str, Any]) -> None:
        container = job["spec"]["template"]["spec"]["containers"][0]
        command = list(container["command"])
        if command[0] in ("python", "python3"):
            command[0] = sys.executable
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes[key] = process
        job["status"] = {"active": 1, "startTime": job["metadata"]["creationTimestamp"]}

        def wait() -> None:
            code = process.wait()
            with self.lock:
                if key in self.jobs:
                    self.jobs[key]["status"] = {"succeeded": 1} if code == 0 else {"failed": 1}

        threading.Thread(target=wait, daemon=True).start()


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
