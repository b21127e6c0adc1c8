"""Loopback services for rehearsals: the platform feed, government lookups and SMS.

The data comes from a registry written by `simulator.families` (see
`Simulation.registry`). Handlers are plain dictionary lookups that build JSON by hand
instead of through response models, because a rehearsal makes thousands of calls.
Each service group (gov, sms, feed) has its own faults: latency, a random HTTP 500
rate, an outage window (HTTP 503) and a rate limit (HTTP 429 with Retry-After).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import json
import logging
import math
import random
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request, Response

from simulator.config import GROUPS, Faults, ServiceConfig

logger = logging.getLogger(__name__)

MAX_FEED_LIMIT = 1000
MAX_SMS_LENGTH = 500
_MOBILE = re.compile(r"^1[3-9]\d{9}$")

Handler = Callable[[Request], Awaitable[Response]]


class _RateLimiter:
    """Token bucket: `rate` tokens per second, holding at most max(rate, 1) tokens."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> float:
        """Take a token and return 0, or return the seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class _Message:
    message_id: str
    mobile: str
    text: str
    idempotency_key: str
    accepted_at: float  # monotonic
    accepted_wall: datetime
    fails: bool


class ServiceState:
    """Registry data, fault settings, SMS messages and request counts of one run."""

    def __init__(self, registry: dict[str, Any], config: ServiceConfig) -> None:
        self.started = time.monotonic()
        self.config = config
        self.random = random.Random(config.seed)
        self.household: dict[str, dict[str, Any]] = registry.get("household", {})
        self.permit: dict[str, dict[str, Any]] = registry.get("permit", {})
        self.real_estate: dict[str, list[dict[str, Any]]] = registry.get(
            "real_estate", {}
        )
        self.insurance: dict[str, dict[str, Any]] = registry.get("insurance", {})
        self.feed: list[dict[str, Any]] = sorted(
            registry.get("feed", []),
            key=lambda item: (item["submitted_at"], item["submission_id"]),
        )
        if config.burst_rate > 0 and config.burst_speedup > 0:
            raise ValueError("set burst_rate or burst_speedup, not both")
        # Seconds from the first submission, for the replay at submission times.
        self.offsets: list[float] = []
        if self.feed:
            first = datetime.fromisoformat(self.feed[0]["submitted_at"])
            self.offsets = [
                (datetime.fromisoformat(item["submitted_at"]) - first).total_seconds()
                for item in self.feed
            ]
        as_of = config.as_of or registry.get("as_of")
        self.request_day = date.fromisoformat(str(as_of)) if as_of else date.today()

        self.faults: dict[str, Faults] = {}
        self.limiters: dict[str, _RateLimiter | None] = {}
        for group in GROUPS:
            self.set_faults(group, getattr(config, group), offset=self.started)

        self.messages: dict[str, _Message] = {}
        self.by_key: dict[str, str] = {}
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.requesters: Counter[str] = Counter()
        self.recent: deque[dict[str, Any]] = deque(maxlen=1000)

    def set_faults(self, group: str, faults: Faults, *, offset: float) -> None:
        """Install a group's faults, moving outage times from `offset` to the monotonic clock."""
        faults.validate(group)
        if faults.outage_start is not None and faults.outage_end is not None:
            # A copy, so that the caller's settings stay relative and can be reused.
            faults = replace(
                faults,
                outage_start=faults.outage_start + offset,
                outage_end=faults.outage_end + offset,
            )
        self.faults[group] = faults
        self.limiters[group] = (
            _RateLimiter(faults.rate_limit) if faults.rate_limit else None
        )

    async def gate(self, group: str) -> Response | None:
        """Apply the group's faults; return the error response, or None to go on."""
        faults = self.faults[group]
        now = time.monotonic()
        if faults.outage_start is not None and faults.outage_end is not None:
            if faults.outage_start <= now < faults.outage_end:
                retry = math.ceil(faults.outage_end - now)
                return _json(
                    {"error": "service unavailable (simulated outage)"},
                    503,
                    headers={"Retry-After": str(max(retry, 1))},
                )
        limiter = self.limiters[group]
        if limiter is not None:
            wait = limiter.take()
            if wait > 0:
                return _json(
                    {"error": "rate limit exceeded"},
                    429,
                    headers={"Retry-After": str(max(math.ceil(wait), 1))},
                )
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.error_rate and self.random.random() < faults.error_rate:
            return _json({"error": "internal error (simulated)"}, 500)
        return None

    def record(self, request: Request, route: str, status: int) -> None:
        """Count a request; personal numbers stay out of the log.

        X-Requester and X-Purpose arrive percent-encoded (UTF-8), because header
        values are ASCII; they are stored decoded.
        """
        requester = unquote(request.headers.get("x-requester", ""))
        purpose = unquote(request.headers.get("x-purpose", ""))
        self.requests[route] += 1
        self.statuses[f"{route} {status}"] += 1
        if status in (400, 404, 409):
            logger.info("%s rejected a request with HTTP %s", route, status)
        if requester or purpose:
            self.requesters[f"{requester} | {purpose}"] += 1
        self.recent.append(
            {
                "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "route": route,
                "status": status,
                "requester": requester,
                "purpose": purpose,
            }
        )

    def visible_feed(self) -> int:
        """Return how many feed items are visible now, from the start of the feed."""
        elapsed = time.monotonic() - self.started
        if self.config.burst_speedup > 0:
            return bisect.bisect_right(
                self.offsets, elapsed * self.config.burst_speedup
            )
        if self.config.burst_rate <= 0:
            return len(self.feed)
        shown = self.config.burst_initial + int(elapsed * self.config.burst_rate)
        return min(len(self.feed), shown)

    def message_status(self, message: _Message) -> tuple[str, str | None]:
        elapsed = time.monotonic() - message.accepted_at
        if elapsed < self.config.sms_delivery_delay:
            return "accepted", None
        finished = message.accepted_wall + timedelta(
            seconds=self.config.sms_delivery_delay
        )
        stamp = finished.isoformat(timespec="seconds")
        return ("failed", None) if message.fails else ("delivered", stamp)


def _json(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(
        body, status_code=status, media_type="application/json", headers=headers
    )


async def _read_json(request: Request) -> dict[str, Any] | Response:
    try:
        data = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _json({"error": "request body is not valid JSON"}, 400)
    if not isinstance(data, dict):
        return _json({"error": "request body must be a JSON object"}, 400)
    return data


def _encode_cursor(index: int, submission_id: str) -> str:
    raw = f"v1:{index}:{submission_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, feed: list[dict[str, Any]]) -> int | None:
    """Return the position after the cursor's item, or None when the cursor is unknown."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, index_text, submission_id = raw.split(":", 2)
        index = int(index_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if version != "v1" or not 0 <= index < len(feed):
        return None
    if feed[index]["submission_id"] != submission_id:
        return None
    return index + 1


def create_app(
    registry: dict[str, Any], config: ServiceConfig | None = None
) -> FastAPI:
    """Build the FastAPI app serving `registry` with the faults of `config`."""
    state = ServiceState(registry, config or ServiceConfig())
    app = FastAPI(title="Admissions rehearsal simulator", docs_url=None, redoc_url=None)
    app.state.simulator = state

    def route(
        path: str, method: str, group: str | None
    ) -> Callable[[Handler], Handler]:
        """Register a handler behind the group's faults and the request counter."""

        def register(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                response = await state.gate(group) if group else None
                if response is None:
                    response = await handler(request)
                state.record(request, path, response.status_code)
                return response

            endpoint.__name__ = handler.__name__
            app.add_api_route(path, endpoint, methods=[method])
            return handler

        return register

    def gov_lookup(path: str, build: Callable[[str], dict[str, Any]]) -> None:
        async def lookup(request: Request) -> Response:
            body = await _read_json(request)
            if isinstance(body, Response):
                return body
            id_number = body.get("id_number")
            if not isinstance(id_number, str) or not id_number.strip():
                return _json({"error": "id_number is missing"}, 400)
            return _json(build(id_number.strip().upper()))

        lookup.__name__ = "lookup_" + path.rsplit("/", 1)[-1].replace("-", "_")
        route(path, "POST", "gov")(lookup)

    def household(id_number: str) -> dict[str, Any]:
        record = state.household.get(id_number)
        return {"found": True, "record": record} if record else {"found": False}

    def population(id_number: str) -> dict[str, Any]:
        record = state.household.get(id_number)
        if record is None:
            return {"found": False}
        keys = ("name", "id_number", "gender", "birth_date", "ethnicity")
        return {
            "found": True,
            "record": {**{k: record[k] for k in keys}, "status": "正常"},
        }

    def residence_permit(id_number: str) -> dict[str, Any]:
        record = state.permit.get(id_number)
        if record is None:
            return {"found": False}
        expired = date.fromisoformat(record["expires_on"]) < state.request_day
        valid = (
            bool(record.get("valid", True))
            and not record.get("revoked")
            and not expired
        )
        return {"found": True, "record": {**record, "valid": valid}}

    def real_estate(id_number: str) -> dict[str, Any]:
        records = state.real_estate.get(id_number, [])
        return {"found": bool(records), "records": records}

    def social_insurance(id_number: str) -> dict[str, Any]:
        record = state.insurance.get(id_number)
        return {"found": True, "record": record} if record else {"found": False}

    gov_lookup("/gov/police/household", household)
    gov_lookup("/gov/police/population", population)
    gov_lookup("/gov/police/residence-permit", residence_permit)
    gov_lookup("/gov/natural-resources/real-estate", real_estate)
    gov_lookup("/gov/hrss/social-insurance", social_insurance)

    @route("/sms/send", "POST", "sms")
    async def send_sms(request: Request) -> Response:
        body = await _read_json(request)
        if isinstance(body, Response):
            return body

        mobile = body.get("mobile")
        text = body.get("text")
        key = body.get("idempotency_key")
        if not isinstance(key, str) or not key:
            return _json({"error": "idempotency_key is missing"}, 400)
        if not isinstance(mobile, str) or not _MOBILE.match(mobile):
            return _json({"error": "mobile must be 11 digits starting 13-19"}, 400)
        if not isinstance(text, str) or not text or len(text) > MAX_SMS_LENGTH:
            return _json({"error": f"text must be 1-{MAX_SMS_LENGTH} characters"}, 400)

        # A repeated key returns the first message and sends nothing.
        existing_id = state.by_key.get(key)
        if existing_id is not None:
            existing = state.messages[existing_id]
            if (existing.mobile, existing.text) != (mobile, text):
                return _json(
                    {
                        "error": "idempotency_key was used for a different mobile or text"
                    },
                    409,
                )
            return _json(
                {"message_id": existing_id, "status": "accepted", "duplicate": True}
            )

        message_id = f"SM{len(state.messages) + 1:08d}"
        fails = state.random.random() < state.config.sms_failure_rate
        state.messages[message_id] = _Message(
            message_id=message_id,
            mobile=mobile,
            text=text,
            idempotency_key=key,
            accepted_at=time.monotonic(),
            accepted_wall=datetime.now(UTC),
            fails=fails,
        )
        state.by_key[key] = message_id
        return _json({"message_id": message_id, "status": "accepted"})

    def message_view(message: _Message) -> dict[str, Any]:
        status, delivered_at = state.message_status(message)
        return {
            "message_id": message.message_id,
            "mobile": message.mobile,
            "status": status,
            "delivered_at": delivered_at,
        }

    @route("/sms/messages/{message_id}", "GET", "sms")
    async def get_message(request: Request) -> Response:
        message = state.messages.get(request.path_params["message_id"])
        if message is None:
            return _json({"error": "message not found"}, 404)
        return _json(message_view(message))

    @route("/sms/messages", "GET", None)
    async def list_messages(request: Request) -> Response:
        items = [
            {**message_view(m), "text": m.text, "idempotency_key": m.idempotency_key}
            for m in state.messages.values()
        ]
        return _json({"count": len(items), "items": items})

    @route("/platform/applications", "GET", "feed")
    async def list_applications(request: Request) -> Response:
        limit_text = request.query_params.get("limit", "100")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_FEED_LIMIT:
            return _json({"error": f"limit must be an integer 1-{MAX_FEED_LIMIT}"}, 400)
        limit = int(limit_text)
        after = request.query_params.get("after") or None
        start = 0
        if after is not None:
            position = _decode_cursor(after, state.feed)
            if position is None:
                return _json(
                    {"error": "unknown cursor; start again without after"}, 400
                )
            start = position
        visible = state.visible_feed()
        items = state.feed[start : min(start + limit, visible)]
        next_cursor = after
        if items:
            last = start + len(items) - 1
            next_cursor = _encode_cursor(last, state.feed[last]["submission_id"])
        return _json(
            {
                "items": items,
                "next_cursor": next_cursor,
                "has_more": start + len(items) < visible,
                "visible": visible,
                "total": len(state.feed),
            }
        )

    @route("/health", "GET", None)
    async def health(request: Request) -> Response:
        return _json({"status": "ok"})

    @route("/stats", "GET", None)
    async def stats(request: Request) -> Response:
        return _json(
            {
                "requests": dict(state.requests),
                "statuses": dict(state.statuses),
                "requesters": dict(state.requesters),
                "messages": len(state.messages),
                "feed_visible": state.visible_feed(),
            }
        )

    @route("/requests", "GET", None)
    async def recent_requests(request: Request) -> Response:
        return _json({"items": list(state.recent)})

    @route("/admin/faults/{group}", "POST", None)
    async def set_faults(request: Request) -> Response:
        group = request.path_params["group"]
        if group not in GROUPS:
            return _json({"error": f"group must be one of {', '.join(GROUPS)}"}, 404)
        body = await _read_json(request)
        if isinstance(body, Response):
            return body
        try:
            faults = _faults_from_body(body)
            # An outage set at run time counts from now, not from server start.
            state.set_faults(group, faults, offset=time.monotonic())
        except (TypeError, ValueError) as exc:
            return _json({"error": str(exc)}, 400)
        logger.info("faults of %s set to %s", group, body)
        return _json({"group": group, "faults": body})

    return app


def _faults_from_body(body: dict[str, Any]) -> Faults:
    known = {"latency_ms", "error_rate", "outage", "rate_limit"}
    unknown = set(body) - known
    if unknown:
        raise ValueError(
            f"unknown fault settings {sorted(unknown)}; use {sorted(known)}"
        )
    faults = Faults(
        latency_ms=float(body.get("latency_ms", 0.0)),
        error_rate=float(body.get("error_rate", 0.0)),
        rate_limit=float(body.get("rate_limit", 0.0)),
    )
    outage = body.get("outage")
    if outage is not None:
        start, end = (float(value) for value in outage)
        if end <= start:
            raise ValueError(f"outage end {end} must be after its start {start}")
        faults.outage_start, faults.outage_end = start, end
    return faults
