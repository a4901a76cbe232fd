"""The users and permissions of MLflow's basic-auth app, spoken to over its REST API with httpx.

MLflow's own client of these endpoints (`mlflow.server.auth.client`) lives inside the `mlflow.server` package,
whose import loads the whole tracking server (Flask and FastAPI apps, SQL stores, the AI gateway): ~4 s of CPU
before one request, most of `codefest access add-user`'s time. These few calls need none of it. The endpoints and
bodies are MLflow's (`mlflow.server.auth.routes`); tests/test_access.py checks them against a real server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx

USERS = "/api/2.0/mlflow/users"
PERMISSIONS = "/api/3.0/mlflow/users/permissions"
WORKSPACE_HEADER = "X-MLFLOW-WORKSPACE"  # MLflow's client sends MLFLOW_WORKSPACE there, when set
TIMEOUT_SECONDS = 120.0  # as MLflow's client waits (MLFLOW_HTTP_REQUEST_TIMEOUT)


class AuthRefused(Exception):
    """An answer other than success, with MLflow's error code ("RESOURCE_DOES_NOT_EXIST", ...) and message."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status, self.error_code, self.message = status, error_code, message


@dataclass(frozen=True)
class Account:
    username: str
    is_admin: bool


class AuthApi:
    """The admin's client: credentials and TLS settings from MLflow's own environment variables."""

    def __init__(self, uri: str) -> None:
        user, password = os.environ.get("MLFLOW_TRACKING_USERNAME", ""), os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
        insecure = os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true"
        verify: bool | str = not insecure and (os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or True)
        workspace = os.environ.get("MLFLOW_WORKSPACE", "").strip()
        self._http = httpx.Client(
            base_url=uri.rstrip("/"),
            auth=(user, password) if user else None,
            headers={WORKSPACE_HEADER: workspace} if workspace else {},
            verify=verify,
            timeout=TIMEOUT_SECONDS,
        )

    def _call(self, method: str, path: str, **arguments: Any) -> dict[str, Any]:
        answer = self._http.request(method, path, **arguments)
        try:
            body = answer.json() if answer.content else {}
        except ValueError:
            body = {}
        if not answer.is_success:
            found = body if isinstance(body, dict) else {}
            code = str(found.get("error_code") or f"HTTP {answer.status_code}")
            raise AuthRefused(answer.status_code, code, str(found.get("message") or answer.reason_phrase))
        return body if isinstance(body, dict) else {}

    def create_user(self, username: str, password: str) -> None:
        self._call("POST", f"{USERS}/create", json={"username": username, "password": password})

    def get_user(self, username: str) -> Account:
        user = self._call("GET", f"{USERS}/get", params={"username": username})["user"]
        return Account(user["username"], bool(user["is_admin"]))

    def grant_user_permission(self, username: str, resource_type: str, resource_id: str, permission: str) -> None:
        body = {"username": username, "resource_type": resource_type, "resource_id": resource_id}
        self._call("POST", f"{PERMISSIONS}/grant", json=body | {"permission": permission})

    def revoke_user_permission(self, username: str, resource_type: str, resource_id: str) -> None:
        body = {"username": username, "resource_type": resource_type, "resource_id": resource_id}
        self._call("POST", f"{PERMISSIONS}/revoke", json=body)

    def get_user_permission(self, username: str, resource_type: str, resource_id: str) -> str:
        """The effective permission, as the server resolves it for a real request."""
        query = {"username": username, "resource_type": resource_type, "resource_id": resource_id}
        return str(self._call("GET", f"{PERMISSIONS}/get", params=query)["permission"])

    def close(self) -> None:
        self._http.close()
