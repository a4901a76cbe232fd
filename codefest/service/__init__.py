"""The event as a service: the HTTP API that `codefest serve` runs (FastAPI under uvicorn), under /api/v1."""

from __future__ import annotations

from codefest.service.app import Settings, create_app

__all__ = ["Settings", "create_app"]
