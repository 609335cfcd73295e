"""Typed application state keys, shared by the app factory and the route handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jinja2
from aiohttp import web

from .config import Settings
from .identity import TokenVerifier
from .metrics import Metrics

if TYPE_CHECKING:
    from .moderation import ModerationService
    from .node import NodeRuntime
    from .service import ChatService

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
SERVICE: web.AppKey[ChatService] = web.AppKey("service")
RUNTIME: web.AppKey[NodeRuntime] = web.AppKey("runtime")
MODERATION: web.AppKey[ModerationService] = web.AppKey("moderation")
VERIFIER: web.AppKey[TokenVerifier | None] = web.AppKey("verifier")
