"""Errors as RFC 9457 problem details (application/problem+json), for every error the service answers.

Each problem has a `type` naming its kind (a URI reference under /api/v1/problems/), a `title` that is the same for
every problem of that kind, a `detail` for this occurrence, the `status`, and the `instance`: the path that was asked
for. Extension members carry what a client acts on (the validation `problems`, a `retry_after`). FastAPI's own
answers (404 for an unknown route, 405, 422 for bad parameters) and unexpected faults take the same shape; a fault
says nothing of the server beyond that it happened.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

MEDIA_TYPE = "application/problem+json"
TYPES = "/api/v1/problems/"
log = logging.getLogger("codefest.service")


class ProblemModel(BaseModel):
    """The shape of every error, for the OpenAPI document."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str


class Problem(Exception):
    """An answer other than success: raised anywhere in a route, rendered by the handler below."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail
        self.headers, self.extensions = headers or {}, extensions


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    body = {
        "type": TYPES + problem.kind,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
        **problem.extensions,
    }
    return JSONResponse(body, status_code=problem.status, headers=problem.headers, media_type=MEDIA_TYPE)


def _http_kind(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
    except ValueError:
        return "error"


async def _problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Problem)
    return problem_response(request, error)


async def _http(request: Request, error: Exception) -> JSONResponse:
    """Starlette's and FastAPI's own errors: an unknown route (404), a wrong method (405), ..."""
    assert isinstance(error, HTTPException)
    phrase = HTTPStatus(error.status_code).phrase if error.status_code in HTTPStatus._value2member_map_ else "Error"
    detail = error.detail if isinstance(error.detail, str) else phrase
    if error.status_code == 404 and detail == "Not Found":
        detail = f"nothing is served at {request.url.path}; the routes are listed in /api/v1/openapi.json"
    problem = Problem(error.status_code, _http_kind(error.status_code), phrase, detail, dict(error.headers or {}))
    return problem_response(request, problem)


async def _validation(request: Request, error: Exception) -> JSONResponse:
    """A parameter of the wrong type or out of range: each one named, with what was expected."""
    assert isinstance(error, RequestValidationError)
    problems = [
        {"where": ".".join(str(part) for part in item.get("loc", ())), "what": str(item.get("msg", ""))}
        for item in error.errors()
    ]
    detail = "; ".join(f"{p['where']}: {p['what']}" for p in problems) or "the request is not valid"
    return problem_response(
        request, Problem(422, "invalid-request", "The request is not valid", detail, problems=problems)
    )


async def _fault(request: Request, error: Exception) -> JSONResponse:
    """A bug or an outage: logged for the organisers in full, told to the client in one line."""
    log.error("fault answering %s %s", request.method, request.url.path, exc_info=error)
    detail = "the server failed to answer; the organisers can see why in its log"
    return problem_response(request, Problem(500, "internal-error", "Internal Server Error", detail))


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _fault)


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemModel, "content": {MEDIA_TYPE: {}}, "description": HTTPStatus(status).phrase}
    for status in (401, 404, 422, 429)
}
