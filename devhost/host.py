"""A small Functions host: runs an app's registrations without Azure Functions Core Tools.

The bindings come from ``app.get_functions()``, the same metadata the Python worker hands the
real host, so a route, queue name or schedule changed in ``function_app.py`` changes what runs
here. Queue triggers follow host.json ``extensions.queues`` the way the Storage extension does:
a message is leased while it runs, deleted on success, made visible again after
``visibilityTimeout`` on failure and moved to ``<queue>-poison`` after ``maxDequeueCount``
attempts (a message that is not base64 goes there at once, as the extension's decoding-failure
handler does). Function keys are not enforced, as under Core Tools, unless the setting
``DEVHOST_FUNCTION_KEYS`` names some: then, as in Azure, a route of auth level ``function`` or
``admin`` and the ``/admin`` API answer 401 with an empty body without one of them
(``x-functions-key`` header or ``code`` query parameter); ``anonymous`` routes stay open. Each
named key stands for the function, host and master keys alike.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import functools
import hmac
import importlib
import inspect
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func
from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage as FunctionQueueMessage
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient
from azure.storage.queue import QueueMessage as StoredMessage

from devhost.ncrontab import Schedule, ScheduleError
from shared.clients.http import redacted

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("devhost")

DEFAULT_PORT = 7071
MESSAGE_LEASE_S = 600.0
"""The visibility a running message is held at, renewed at half-time (the extension's 10 minutes):
after a crash the message reappears within this."""
STOP_GRACE_S = 10.0
_MIN_POLL_S = 0.1
_SETTING = re.compile(r"%([^%]+)%")
_STORAGE = "AzureWebJobsStorage"
_BY_HOST_API = "This function was programmatically called via the host APIs."
FUNCTION_KEYS_SETTING = "DEVHOST_FUNCTION_KEYS"
"""A JSON object of named function keys, ``{"ops-alice": "<value>"}``; removing one revokes it."""


class HostError(RuntimeError):
    """The app or its configuration cannot run here (unknown binding, missing setting...)."""


# ---------------------------------------------------------------------------------------- settings


def load_settings(environ: Mapping[str, str], local_settings: Path | None) -> dict[str, str]:
    """The app settings: ``local.settings.json`` ``Values`` when the file exists, the environment winning."""
    values: dict[str, str] = {}
    if local_settings is not None and local_settings.is_file():
        try:
            document = json.loads(local_settings.read_text(encoding="utf-8"))
        except ValueError as error:
            raise HostError(f"{local_settings}: not JSON ({error})") from None
        values.update({name: str(value) for name, value in (document.get("Values") or {}).items()})
    values.update(environ)
    return values


def function_keys(settings: Mapping[str, str]) -> dict[str, str]:
    """The named function keys the host accepts; empty when keys are not checked."""
    text = settings.get(FUNCTION_KEYS_SETTING, "").strip()
    if not text:
        return {}
    try:
        keys = json.loads(text)
    except ValueError:
        keys = None
    if not isinstance(keys, dict) or not keys or not all(isinstance(v, str) and v for v in keys.values()):
        raise HostError(f"{FUNCTION_KEYS_SETTING} must be a JSON object of key names to non-empty values")
    return {str(name): value for name, value in keys.items()}


def resolve(expression: str, settings: Mapping[str, str]) -> str:
    """Replace each ``%NAME%`` with the setting, as the host resolves binding expressions."""

    def setting(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in settings:
            raise HostError(
                f"binding expression {expression!r} needs the app setting {name}, which is not set"
            )
        return settings[name]

    return _SETTING.sub(setting, expression)


def parse_timespan(text: str) -> float:
    """Seconds in a .NET TimeSpan as host.json writes it: ``[d.]hh:mm:ss[.fff]``."""
    match = re.fullmatch(r"(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)", text.strip())
    if match is None:
        raise HostError(f"{text!r} is not a timespan (hh:mm:ss)")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    """host.json ``extensions.queues``, with the extension's defaults."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    visibility_timeout_s: float = 0.0
    max_dequeue_count: int = 5
    max_polling_interval_s: float = 60.0
    base64: bool = True

    @classmethod
    def from_json(cls, queues: Mapping[str, Any]) -> QueueOptions:
        batch_size = min(int(queues.get("batchSize", 16)), 32)
        encoding = str(queues.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise HostError(f"messageEncoding {encoding!r}: expected base64 or none")
        return cls(
            batch_size=batch_size,
            new_batch_threshold=int(queues.get("newBatchThreshold", batch_size // 2)),
            visibility_timeout_s=parse_timespan(queues.get("visibilityTimeout", "00:00:00")),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            max_polling_interval_s=max(parse_timespan(queues.get("maxPollingInterval", "00:01:00")), 0.1),
            base64=encoding == "base64",
        )


@dataclass(frozen=True)
class HostConfig:
    route_prefix: str = "api"
    queues: QueueOptions = field(default_factory=QueueOptions)

    @classmethod
    def load(cls, path: Path) -> HostConfig:
        document = json.loads(path.read_text(encoding="utf-8"))
        extensions = document.get("extensions") or {}
        prefix = str((extensions.get("http") or {}).get("routePrefix", "api")).strip("/")
        return cls(route_prefix=prefix, queues=QueueOptions.from_json(extensions.get("queues") or {}))


# ---------------------------------------------------------------------------------------- functions


@dataclass(frozen=True)
class QueueOutput:
    """A queue output binding: a ``func.Out`` parameter, or ``$return``."""

    name: str
    queue_name: str
    connection: str


class _Out(func.Out[Any]):
    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


@dataclass(frozen=True)
class Registered:
    """One function as indexed: its name, trigger binding and the parameter the trigger fills."""

    name: str
    trigger: str
    bindings: list[dict[str, Any]]
    arg_name: str
    outputs: tuple[QueueOutput, ...]
    user_function: Callable[..., Any]

    def invoke(self, value: Any) -> tuple[Any, dict[str, Any]]:
        """Call the function; return its result and what each output binding received."""
        outs = {output.name: _Out() for output in self.outputs if output.name != "$return"}
        result = self.user_function(**{self.arg_name: value}, **outs)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        produced = {name: out.get() for name, out in outs.items()}
        produced["$return"] = result
        return result, produced

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "trigger": self.trigger, "config": {"bindings": self.bindings}}


@dataclass(frozen=True)
class HttpFunction(Registered):
    route: RouteTemplate
    methods: frozenset[str]
    auth_level: str = "FUNCTION"


@dataclass(frozen=True)
class QueueFunction(Registered):
    queue_name: str
    connection: str


@dataclass(frozen=True)
class TimerFunction(Registered):
    schedule: Schedule
    run_on_startup: bool


def load_app(module_name: str) -> func.FunctionRegister:
    """Import the module and take its one FunctionApp, as the worker's indexer does."""
    module = importlib.import_module(module_name)
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionRegister)]
    if len(apps) != 1:
        raise HostError(
            f"{module_name} must define exactly one FunctionApp at module level, found {len(apps)}"
        )
    return apps[0]


_indexed: weakref.WeakKeyDictionary[func.FunctionRegister, list[Any]] = weakref.WeakKeyDictionary()


def registrations(app: func.FunctionRegister, settings: Mapping[str, str]) -> list[Registered]:
    # get_functions() indexes once per app (a second call reports every name as a duplicate).
    if app not in _indexed:
        _indexed[app] = app.get_functions()
    return [_registered(function, settings) for function in _indexed[app]]


def _registered(function: Any, settings: Mapping[str, str]) -> Registered:
    name: str = function.get_function_name()
    bindings: list[dict[str, Any]] = json.loads(function.get_function_json())["bindings"]
    triggers = [binding for binding in bindings if binding["type"].endswith("Trigger")]
    outputs = tuple(
        QueueOutput(b["name"], resolve(b["queueName"], settings).lower(), b.get("connection") or _STORAGE)
        for b in bindings
        if b["type"] == "queue" and b["direction"] == "OUT"
    )
    others = [
        b
        for b in bindings
        if b not in triggers and b["type"] != "queue" and (b["type"], b["name"]) != ("http", "$return")
    ]
    if len(triggers) != 1 or others:
        raise HostError(f"{name}: the local host runs a trigger and queue outputs only, got {bindings}")
    trigger = triggers[0]
    user_function = function.get_user_function()
    bound = {trigger["name"], *(output.name for output in outputs)}
    unbound = [
        parameter.name
        for parameter in inspect.signature(user_function).parameters.values()
        if parameter.name not in bound and parameter.default is inspect.Parameter.empty
    ]
    if unbound:
        raise HostError(f"{name}: the local host has nothing to pass for {', '.join(unbound)}")
    common: dict[str, Any] = {
        "name": name,
        "trigger": trigger["type"],
        "bindings": bindings,
        "arg_name": trigger["name"],
        "outputs": outputs,
        "user_function": user_function,
    }
    if trigger["type"] == "httpTrigger":
        methods = trigger.get("methods") or ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
        return HttpFunction(
            **common,
            route=RouteTemplate.parse(resolve(trigger.get("route") or name, settings)),
            methods=frozenset(method.upper() for method in methods),
            auth_level=str(trigger.get("authLevel") or "FUNCTION").upper(),
        )
    if trigger["type"] == "queueTrigger":
        return QueueFunction(
            **common,
            queue_name=resolve(trigger["queueName"], settings).lower(),
            connection=trigger.get("connection") or _STORAGE,
        )
    if trigger["type"] == "timerTrigger":
        expression = trigger["schedule"]
        try:
            schedule = Schedule.parse(resolve(expression, settings))
            schedule.next_after(dt.datetime.now(dt.UTC))  # a date that never comes fails the start
        except ScheduleError as error:
            named = ", ".join(_SETTING.findall(expression)) or "the expression"
            raise HostError(f"{name}: the schedule {expression} ({named}) is not valid: {error}") from None
        return TimerFunction(
            **common,
            schedule=schedule,
            run_on_startup=bool(trigger.get("runOnStartup", False)),
        )
    raise HostError(f"{name}: trigger {trigger['type']} is not supported by the local host")


# ---------------------------------------------------------------------------------------- routes

_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "bool": r"(?:true|false)",
    "alpha": r"[A-Za-z]+",
    "double": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
}


@dataclass(frozen=True)
class _Param:
    """A route parameter as ASP.NET reads it: ``{*name:constraint:regex(...)=default?}``."""

    name: str
    catch_all: bool
    optional: bool
    constraints: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> _Param:
        catch_all = text.startswith("*")
        text = text.lstrip("*")
        optional = text.endswith("?") and not catch_all
        text = text[:-1] if optional else text
        pieces, depth, current = [], 0, ""
        for char in text:  # ':' splits constraints, '=' starts a default, outside a constraint's (...)
            if depth == 0 and char in ":=":
                pieces.append(current)
                current = "" if char == ":" else "="
                continue
            depth += {"(": 1, ")": -1}.get(char, 0)
            current += char
        pieces.append(current)
        constraints = tuple(p for p in pieces[1:] if p and not p.startswith("="))
        return cls(pieces[0], catch_all, optional, constraints)

    def body(self) -> str:
        body = ".*" if self.catch_all else "[^/]+"
        for constraint in self.constraints:
            body = _CONSTRAINTS.get(constraint.lower(), body)
        return body

    def regex(self) -> re.Pattern[str] | None:
        """A ``regex(...)`` constraint, matched as .NET does: anywhere, ignoring case."""
        found = next(
            (c for c in self.constraints if c.lower().startswith("regex(") and c.endswith(")")), None
        )
        return re.compile(found[len("regex(") : -1], re.IGNORECASE) if found else None


def _split(template: str) -> list[list[str | _Param]]:
    """The template's segments, each a list of literals and parameters; a ``/`` or ``:`` inside a
    parameter (a regex constraint's) is the parameter's, and ``{{``/``}}`` stand for a brace."""
    segments: list[list[str | _Param]] = [[]]
    literal, index = "", 0
    while index < len(template):
        char = template[index]
        if char in "{}" and template[index + 1 : index + 2] == char:
            literal, index = literal + char, index + 2
        elif char == "{":
            end = index + 1
            while not (template[end] == "}" and template[end + 1 : end + 2] != "}"):
                end += 2 if template[end : end + 2] == "}}" else 1
            segments[-1] += [literal, _Param.parse(template[index + 1 : end].replace("}}", "}"))]
            literal, index = "", end + 1
        elif char == "/":
            segments[-1].append(literal)
            segments.append([])
            literal, index = "", index + 1
        else:
            literal, index = literal + char, index + 1
    segments[-1].append(literal)
    return [[part for part in parts if part != ""] for parts in segments]


@dataclass(frozen=True)
class RouteTemplate:
    """An ASP.NET-style route: ``{name}``, ``{name:int}`` (typed constraints), ``{name?}``, ``{*rest}``,
    ``{name:regex(...)}``."""

    template: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    precedence: tuple[int, ...]
    """Sorts before a template it overlaps with when more specific, segment by segment, as ASP.NET
    routing does: a literal before a constrained parameter, before a parameter, before a catch-all."""
    checks: tuple[tuple[str, re.Pattern[str]], ...] = ()
    """Regex constraints by parameter name: a parameter without a value never passes one."""

    @classmethod
    def parse(cls, template: str) -> RouteTemplate:
        names: list[str] = []
        parts: list[str] = []
        precedence: list[int] = []
        checks: list[tuple[str, re.Pattern[str]]] = []
        for index, segment in enumerate(_split(template.strip("/"))):
            separator = "/" if index else ""
            params = [part for part in segment if isinstance(part, _Param)]
            checks += [(p.name, regex) for p in params if (regex := p.regex()) is not None]
            if len(segment) == 1 and params and (params[0].catch_all or params[0].optional):
                parts.append(f"(?:{re.escape(separator)}(?P<p{len(names)}>{params[0].body()}))?")
                names.append(params[0].name)
                precedence.append(4 if params[0].catch_all else 3)
                continue
            precedence.append(0 if not params else 1 if params[0].constraints or len(params) > 1 else 2)
            pieces = [re.escape(separator)]
            for part in segment:
                if isinstance(part, _Param):
                    pieces.append(f"(?P<p{len(names)}>{part.body()})")
                    names.append(part.name)
                else:
                    pieces.append(re.escape(part))
            parts.append("".join(pieces))
        pattern = re.compile("".join(parts), re.IGNORECASE)
        return cls(template, pattern, tuple(names), tuple(precedence), tuple(checks))

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path.strip("/"))
        if found is None:
            return None
        values = {
            name: unquote(value)
            for name, value in zip(self.names, found.groups(), strict=True)
            if value is not None
        }
        if not all(values.get(name) and regex.search(values[name]) for name, regex in self.checks):
            return None
        return values


# ---------------------------------------------------------------------------------------- the host


class _InFlight:
    """Counts running invocations so a stop can wait for them."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    @property
    def count(self) -> int:
        return self._count

    def add(self) -> None:
        with self._changed:
            self._count += 1

    def done(self) -> None:
        with self._changed:
            self._count -= 1
            self._changed.notify_all()

    def __enter__(self) -> None:
        self.add()

    def __exit__(self, *_: object) -> None:
        self.done()

    def wait_below(self, limit: int, timeout_s: float, stop: threading.Event | None = None) -> bool:
        """Wait until fewer than ``limit`` run (True) or the timeout passes or ``stop`` is set (False)."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while self._count >= limit:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (stop is not None and stop.is_set()):
                    return False
                self._changed.wait(min(remaining, 0.2))
            return True


class LocalHost:
    """The host in this process: HTTP server, queue pumps and timers on threads.

    ``settings`` resolve binding expressions and connections; the app's own code reads
    ``os.environ``, as it does in the worker.
    """

    def __init__(
        self,
        app_module: str = "function_app",
        *,
        settings: Mapping[str, str],
        port: int = 0,
        host_json: Path = ROOT / "host.json",
        message_lease_s: float = MESSAGE_LEASE_S,
        stop_grace_s: float = STOP_GRACE_S,
    ) -> None:
        self.app_module = app_module
        self.settings = dict(settings)
        self.keys = function_keys(self.settings)
        self.config = HostConfig.load(host_json)
        self.functions: dict[str, Registered] = {}
        self.routes: list[HttpFunction] = []
        self._port = port
        self._lease_s = message_lease_s
        self._grace_s = stop_grace_s
        self._stop = threading.Event()
        self.in_flight = _InFlight()
        self._threads: list[threading.Thread] = []
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise HostError("the host is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalHost:
        app = load_app(self.app_module)
        self.functions = {fn.name: fn for fn in registrations(app, self.settings)}
        self.routes = sorted(
            (fn for fn in self.functions.values() if isinstance(fn, HttpFunction)),
            key=lambda fn: fn.route.precedence,
        )
        pumps = [_QueuePump(self, fn) for fn in self.functions.values() if isinstance(fn, QueueFunction)]
        self._server = _Server(("127.0.0.1", self._port), self)
        self._spawn(functools.partial(self._server.serve_forever, poll_interval=0.05), "devhost-http")
        for pump in pumps:
            self._spawn(pump.run, f"devhost-queue-{pump.function.name}")
        for fn in self.functions.values():
            if isinstance(fn, TimerFunction):
                self._spawn(functools.partial(self._run_timer, fn), f"devhost-timer-{fn.name}")
        log.info("local host at %s with %s", self.url, ", ".join(sorted(self.functions)) or "no functions")
        return self

    def stop(self) -> None:
        """Stop taking work, let running invocations finish for a short grace period."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if not self.in_flight.wait_below(1, self._grace_s):
            log.warning("stopping with %d invocations still running", self.in_flight.count)
        for thread in self._threads:
            thread.join(timeout=max(self._grace_s, 1.0))

    def __enter__(self) -> LocalHost:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def admits(self, auth_level: str, given_key: str) -> bool:
        """Whether a call at this auth level may run with this key, as Azure decides."""
        if not self.keys or auth_level == "ANONYMOUS":
            return True
        return any(hmac.compare_digest(given_key.encode(), value.encode()) for value in self.keys.values())

    def describe(self, fn: Registered) -> dict[str, Any]:
        """An entry of ``GET /admin/functions``, shaped like the Functions host's."""
        entry = fn.describe()
        if isinstance(fn, HttpFunction):
            prefix = f"/{self.config.route_prefix}" if self.config.route_prefix else ""
            entry["invoke_url_template"] = f"{self.url}{prefix}/{fn.route.template.strip('/')}"
        return entry

    # ---------------------------------------------------------------- invocations

    def invoke(self, fn: Registered, value: Any, reason: str) -> Any:
        """Run one invocation, logged as the Functions host logs it; exceptions propagate."""
        invocation = uuid.uuid4()
        started = time.monotonic()
        log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", fn.name, reason, invocation)
        with self.in_flight:
            try:
                result, produced = fn.invoke(value)
                self._send_outputs(fn, produced)
            except Exception:
                log.exception("Executed 'Functions.%s' (Failed, Id=%s)", fn.name, invocation)
                raise
        log.info(
            "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
            fn.name,
            invocation,
            (time.monotonic() - started) * 1000,
        )
        return result

    def _send_outputs(self, fn: Registered, produced: Mapping[str, Any]) -> None:
        """Write what the function set on its queue outputs, after it succeeded, as the host does."""
        for output in fn.outputs:
            value = produced.get(output.name)
            if value is None:
                continue
            queue = self._connect(output.connection, output.queue_name, f"{fn.name} output")
            with contextlib.suppress(ResourceExistsError):
                queue.create_queue()
            for item in value if isinstance(value, list) else [value]:
                queue.send_message(self._encode(item))

    def _encode(self, item: Any) -> str:
        if isinstance(item, bytes):
            data = item
        else:
            data = (item if isinstance(item, str) else json.dumps(item)).encode("utf-8")
        if self.config.queues.base64:
            return base64.b64encode(data).decode("ascii")
        return data.decode("utf-8")

    def invoke_in_background(self, fn: Registered, value: Any, reason: str) -> None:
        def run() -> None:
            with contextlib.suppress(Exception):  # invoke has logged it; the caller has its 202
                self.invoke(fn, value, reason)

        threading.Thread(target=run, name=f"devhost-admin-{fn.name}", daemon=True).start()

    def manual_input(self, fn: Registered, text: str) -> Any:
        """What ``POST /admin/functions/{name}`` passes: the message body for a queue, a timer tick."""
        if isinstance(fn, QueueFunction):
            now = dt.datetime.now(dt.UTC)
            stored = StoredMessage(
                text,
                id=str(uuid.uuid4()),
                dequeue_count=1,
                inserted_on=now,
                expires_on=now + dt.timedelta(days=7),
                next_visible_on=now,
            )
            return _function_message(stored, text.encode("utf-8"))
        if isinstance(fn, TimerFunction):
            return _timer_request(fn, past_due=False)
        raise HostError(f"{fn.name} is an HTTP function: call its route instead")

    # ---------------------------------------------------------------- timers and queues

    def _run_timer(self, fn: TimerFunction) -> None:
        if fn.run_on_startup:
            self._safely(fn, _timer_request(fn, past_due=False), "Timer fired at startup")
        last = dt.datetime.now(dt.UTC)
        while not self._stop.is_set():
            due = fn.schedule.next_after(last)
            delay = (due - dt.datetime.now(dt.UTC)).total_seconds()
            past_due = delay <= 0
            if past_due:
                # The previous run overran: run once now for everything missed, then resume.
                last = dt.datetime.now(dt.UTC)
            else:
                if self._stop.wait(delay):
                    return
                last = due
            self._safely(fn, _timer_request(fn, past_due=past_due), f"Timer fired at {due.isoformat()}")

    def _safely(self, fn: Registered, value: Any, reason: str) -> None:
        with contextlib.suppress(Exception):  # invoke has logged it; a timer runs again on schedule
            self.invoke(fn, value, reason)

    def _connect(self, setting: str, queue_name: str, user: str) -> QueueClient:
        connection = self.settings.get(setting)
        if not connection:
            raise HostError(f"{user}: connection setting {setting} is not set")
        try:
            return QueueClient.from_connection_string(connection, queue_name)
        except ValueError:  # the SDK's message; the value itself holds the account key
            raise HostError(
                f"{user}: connection setting {setting} is not a storage connection string"
            ) from None

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)


def _function_message(message: StoredMessage, body: bytes) -> FunctionQueueMessage:
    """The trigger's QueueMessage, with the metadata the worker fills from the binding data."""
    return FunctionQueueMessage(  # type: ignore[no-untyped-call]
        id=message.id,
        body=body,
        dequeue_count=message.dequeue_count,
        insertion_time=message.inserted_on,
        expiration_time=message.expires_on,
        time_next_visible=message.next_visible_on,
        pop_receipt=message.pop_receipt,
    )


def _timer_request(fn: TimerFunction, *, past_due: bool) -> TimerRequest:
    now = dt.datetime.now(dt.UTC)
    status = {"Last": now.isoformat(), "Next": fn.schedule.next_after(now).isoformat()}
    return TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": False})


class _QueuePump:
    """Polls one queue and runs its function on messages, with the Storage extension's semantics."""

    def __init__(self, host: LocalHost, fn: QueueFunction) -> None:
        self.host = host
        self.function = fn
        self.options = host.config.queues
        self.queue = host._connect(fn.connection, fn.queue_name, fn.name)
        self.poison = host._connect(fn.connection, f"{fn.queue_name}-poison", fn.name)
        for client in (self.queue, self.poison):
            with contextlib.suppress(ResourceExistsError):
                client.create_queue()
        self._running = _InFlight()
        self._workers = ThreadPoolExecutor(
            max_workers=self.options.batch_size + self.options.new_batch_threshold,
            thread_name_prefix=f"devhost-{fn.name}",
        )

    def run(self) -> None:
        stop = self.host._stop
        delay = _MIN_POLL_S
        try:
            while not stop.is_set():
                # A new batch is fetched once the running ones drop to newBatchThreshold.
                if not self._running.wait_below(self.options.new_batch_threshold + 1, 3600, stop):
                    continue
                try:
                    batch = list(
                        self.queue.receive_messages(
                            messages_per_page=self.options.batch_size,
                            max_messages=self.options.batch_size,
                            visibility_timeout=max(int(self.host._lease_s), 1),
                        )
                    )
                except AzureError as error:
                    log.warning("polling %s failed: %s", self.function.queue_name, error.message)
                    batch = []
                if batch:
                    delay = _MIN_POLL_S
                    for message in batch:
                        self._running.add()
                        self._workers.submit(self._process, message)
                elif stop.wait(delay):
                    break
                else:
                    delay = min(delay * 2, self.options.max_polling_interval_s)
        finally:
            self._workers.shutdown(wait=False)

    def _process(self, message: StoredMessage) -> None:
        try:
            with self.host.in_flight:  # a graceful stop waits until the message is settled
                self._handle(message)
        except Exception:
            log.exception("queue %s: message %s was not settled", self.function.queue_name, message.id)
        finally:
            self._running.done()

    def _handle(self, message: StoredMessage) -> None:
        body = self._decode(message)
        if body is None or (message.dequeue_count or 0) > self.options.max_dequeue_count:
            # Undecodable (the extension's MessageDecodingFailed) or over the count after a crash.
            self._to_poison(message)
            return
        with _Lease(self.queue, message, self.host._lease_s) as lease:
            reason = f"New queue message detected on '{self.queue.queue_name}'"
            try:
                self.host.invoke(self.function, _function_message(message, body), reason)
            except Exception:
                failed = True
            else:
                failed = False
        if not failed:
            self._settle(lambda: self.queue.delete_message(message.id, lease.pop_receipt))
        elif (message.dequeue_count or 0) >= self.options.max_dequeue_count:
            self._to_poison(message, lease.pop_receipt)
        else:
            retry_in = int(self.options.visibility_timeout_s)
            self._settle(
                lambda: self.queue.update_message(message.id, lease.pop_receipt, visibility_timeout=retry_in)
            )

    def _decode(self, message: StoredMessage) -> bytes | None:
        text: str = message.content
        if not self.options.base64:
            return text.encode("utf-8")
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            log.warning("message %s is not base64 (host.json messageEncoding)", message.id)
            return None

    def _to_poison(self, message: StoredMessage, pop_receipt: str | None = None) -> None:
        log.warning(
            "Message %s has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
            message.id,
            self.options.max_dequeue_count,
            self.poison.queue_name,
        )
        self.poison.send_message(message.content)
        self._settle(lambda: self.queue.delete_message(message.id, pop_receipt or message.pop_receipt))

    @staticmethod
    def _settle(call: Callable[[], object]) -> None:
        """Delete or release a message, unless the function already moved or deleted it itself."""
        try:
            call()
        except ResourceNotFoundError:
            return
        except HttpResponseError as error:
            if getattr(error, "error_code", None) not in ("PopReceiptMismatch", "MessageNotFound"):
                raise


class _Lease:
    """Keeps a running message invisible, renewing at half the lease as the extension does."""

    def __init__(self, queue: QueueClient, message: StoredMessage, lease_s: float) -> None:
        self.queue = queue
        self.message_id: str = message.id
        self.pop_receipt: str | None = message.pop_receipt
        self._lease_s = max(int(lease_s), 1)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _renew(self) -> None:
        while not self._done.wait(self._lease_s / 2):
            try:
                renewed = self.queue.update_message(
                    self.message_id, self.pop_receipt, visibility_timeout=self._lease_s
                )
            except AzureError:
                return  # the function settled the message itself, or storage is gone
            self.pop_receipt = renewed.pop_receipt


# ---------------------------------------------------------------------------------------- HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], host: LocalHost) -> None:
        self.host = host
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def handle_request(self) -> None:
        parts = urlsplit(self.path)
        body = self._body()
        path = unquote(parts.path)
        prefix = f"/{self.server.host.config.route_prefix}" if self.server.host.config.route_prefix else ""
        if path == "/admin/functions" or path.startswith("/admin/functions/"):
            if not self.server.host.admits("ADMIN", self._given_key(dict(parse_qsl(parts.query)))):
                self._send(401, b"", None)
                return
            self._admin(path.removeprefix("/admin/functions").strip("/"), body)
        elif path == prefix or path.startswith(f"{prefix}/"):
            self._route(parts.path.removeprefix(prefix), parts.query, body)
        else:
            self._send(404, b"Not Found", "text/plain")

    def do_GET(self) -> None:
        self.handle_request()

    def do_POST(self) -> None:
        self.handle_request()

    def do_PUT(self) -> None:
        self.handle_request()

    def do_DELETE(self) -> None:
        self.handle_request()

    def do_PATCH(self) -> None:
        self.handle_request()

    def do_HEAD(self) -> None:
        self.handle_request()

    def do_OPTIONS(self) -> None:
        self.handle_request()

    def __getattr__(self, name: str) -> Callable[[], None]:
        """Any other method (TRACE, QUERY...) goes through the routes too: 404, as no route takes it."""
        if name.startswith("do_"):
            return self.handle_request
        raise AttributeError(name)

    def _given_key(self, query: Mapping[str, str]) -> str:
        return self.headers.get("x-functions-key") or query.get("code") or ""

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers, up to the blank line
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _route(self, path: str, query: str, body: bytes) -> None:
        for fn in self.server.host.routes:
            if self.command not in fn.methods:
                continue
            route_params = fn.route.match(path)
            if route_params is None:
                continue
            params = dict(parse_qsl(query, keep_blank_values=True))
            if not self.server.host.admits(fn.auth_level, self._given_key(params)):
                self._send(401, b"", None)
                return
            request = func.HttpRequest(
                method=self.command,
                url=f"http://{self.headers.get('Host', 'localhost')}{self.path}",
                headers={
                    name: ", ".join(self.headers.get_all(name) or []) for name in set(self.headers.keys())
                },
                params=params,
                route_params=route_params,
                body=body,
            )
            try:
                response = self.server.host.invoke(fn, request, _BY_HOST_API)
            except Exception:
                self._send(500, b"Internal Server Error", "text/plain")
                return
            self._respond(response)
            return
        self._send(404, b"Not Found", "text/plain")

    def _respond(self, response: Any) -> None:
        if isinstance(response, func.HttpResponse):
            headers = dict(response.headers.items())
            content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
            others = [
                (k, v) for k, v in headers.items() if k.lower() not in ("content-type", "content-length")
            ]
            self._send(response.status_code, response.get_body(), content_type or response.mimetype, others)
        elif response is None:
            self._send(204, b"", None)
        else:
            self._send(200, str(response).encode("utf-8"), "text/plain; charset=utf-8")

    def _admin(self, name: str, body: bytes) -> None:
        host = self.server.host
        if not name:
            if self.command != "GET":
                self._send(405, b"Method Not Allowed", "text/plain")
                return
            listing = [host.describe(fn) for fn in host.functions.values()]
            self._send(200, json.dumps(listing).encode(), "application/json")
            return
        fn = host.functions.get(name) or next(
            (f for f in host.functions.values() if f.name.lower() == name.lower()), None
        )
        if fn is None:
            self._send(404, b"Not Found", "text/plain")
        elif self.command == "GET":
            self._send(200, json.dumps(host.describe(fn)).encode(), "application/json")
        elif self.command != "POST":
            self._send(405, b"Method Not Allowed", "text/plain")
        else:
            try:
                document = json.loads(body or b"{}")
                text = str(document.get("input") or "") if isinstance(document, dict) else None
                if text is None:
                    raise ValueError("expected a JSON object")
                value = host.manual_input(fn, text)
            except (ValueError, HostError) as error:
                self._send(400, str(error).encode(), "text/plain")
                return
            host.invoke_in_background(fn, value, _BY_HOST_API)
            self._send(202, b"", None)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers or []:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """The request line, its function key (``?code=``, as the webhook's registered URL carries
        it) and any other secret in the URL hidden."""
        log.debug("%s %s", self.address_string(), redacted(format % args))


# ---------------------------------------------------------------------------------------- subprocess


class LocalHostHandle:
    """``python -m devhost`` running in its own process, as tests and ``make run`` start it."""

    def __init__(self, info: dict[str, Any], process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.info = info
        self.url: str = info["url"]
        self.process = process
        self.pid = process.pid
        self.log = log_path
        """The host's stderr, its invocation log: removed after a clean stop, kept after a crash or kill."""

    def kill(self) -> None:
        """SIGKILL, as a crashed or recycled instance: no grace, nothing settled."""
        self.process.kill()
        self.process.wait(10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_GRACE_S + 5)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self.process.returncode == 0:
            self.log.unlink(missing_ok=True)

    def __enter__(self) -> LocalHostHandle:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def start_local_host(
    env: Mapping[str, str],
    *,
    port: int = 0,
    app_module: str = "function_app",
    host_json: Path | None = None,
    message_lease_s: float | None = None,
    timeout_s: float = 30.0,
) -> LocalHostHandle:
    """Start ``python -m devhost`` with these settings over the current environment; wait until ready."""
    command = [sys.executable, "-m", "devhost", "--port", str(port), "--app", app_module]
    if host_json is not None:
        command += ["--host-json", str(host_json)]
    if message_lease_s is not None:
        command += ["--message-lease", str(message_lease_s)]
    log_file = tempfile.NamedTemporaryFile(prefix="csp-devhost-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log_file,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
    )
    log_file.close()
    assert process.stdout is not None
    line = _first_line(process.stdout, timeout_s)
    if not line:
        process.kill()
        process.wait(10)
        raise HostError(f"the local host did not start; see {log_file.name}")
    return LocalHostHandle(json.loads(line), process, Path(log_file.name))


def _first_line(stream: IO[bytes], timeout_s: float) -> bytes:
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return box[0] if box else b""
