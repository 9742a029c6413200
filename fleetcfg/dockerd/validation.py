"""Validation entry points: decoded JSON (or raw bytes) in, typed model and
findings out.

``check_daemon`` mirrors dockerd's pipeline: the top level must be an object;
keys are checked the way dockerd checks them (flag names, flattening, Engine
version); each value is decoded strictly into the model; then the checks of
:mod:`fleetcfg.dockerd.checks` run on whatever decoded cleanly. Every
problem is reported at once, each with a rule id and a key path.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from fleetcfg.core.findings import Finding, Severity, has_errors
from fleetcfg.core.jsondoc import (
    GoFloat,
    JsonDocument,
    JsonSyntaxError,
    Loc,
    format_loc,
    parse_document,
)
from fleetcfg.core.numbers import is_digits
from fleetcfg.core.rules import DUPLICATE_KEY, INVALID_VALUE, JSON_SYNTAX, WRONG_TYPE
from fleetcfg.core.versions import DEFAULT_ENGINE, EngineVersion
from fleetcfg.dockerd.checks import RuleContext, run_checks
from fleetcfg.dockerd.client import ClientConfig, client_checks
from fleetcfg.dockerd.daemon import DaemonConfig
from fleetcfg.dockerd.keys import check_keys

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@dataclass
class CheckResult(Generic[T]):
    """``config`` is the validated model, or ``None`` when there is an error.
    ``findings`` carry key paths; file positions only when checked from bytes."""

    config: T | None
    findings: list[Finding] = field(default_factory=list)
    document: JsonDocument | None = None

    @property
    def ok(self) -> bool:
        return not has_errors(self.findings)


class ConfigValidationError(ValueError):
    """Raised by :func:`parse_daemon` / :func:`parse_client` on an invalid file."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        lines = [f"{f.path or '(file)'}: {f.message}" for f in findings if f.severity == "error"]
        super().__init__("; ".join(lines))


# -- pydantic errors -> findings ----------------------------------------------

_EXPECTED = {
    "bool_type": ("a JSON boolean (true or false)", "bool"),
    "int_type": ("a whole number", "int"),
    "int_from_float": ("a whole number", "int"),
    "string_type": ("a JSON string", "string"),
    "list_type": ("a JSON array", "array"),
    "dict_type": ("a JSON object", "object"),
    "model_type": ("a JSON object", "object"),
    "model_attributes_type": ("a JSON object", "object"),
}


def _go_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, GoFloat):
        return f"number {value.literal}"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def describe(value: Any) -> str:
    """How a JSON value reads in a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        # never a part of a long one: masking finds a secret, or a URL's
        # password, only whole (the output masks what is shown here)
        return (
            f'the string "{value}"' if len(value) <= 40 else f"a string of {len(value)} characters"
        )
    if isinstance(value, GoFloat):
        return f"the number {value.literal}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _type_hint(kind: str, value: Any) -> str:
    if isinstance(value, str):
        if kind == "bool" and value.lower() in ("true", "false"):
            return f"; write {value.lower()} without quotes"
        if kind == "int" and is_digits(value.strip().lstrip("-")):
            return f"; write {value.strip()} without quotes"
    if kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return f'; write it in quotes: "{value}"'
    if kind == "int" and isinstance(value, float) and float(value).is_integer():
        return f"; write {int(value)}"
    if kind == "array" and isinstance(value, str):
        return f'; write ["{value}"]'
    return ""


#: what a file that does not decode, or has a value of the wrong type, does
DAEMON_FAILS = "dockerd refuses to start"
CLIENT_FAILS = "the docker CLI warns and ignores the whole file"


def error_to_finding(
    err: ErrorDetails, data: Any = None, consequence: str = DAEMON_FAILS
) -> Finding:
    loc: Loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
    path = format_loc(loc)
    kind = err["type"]
    if kind.startswith("FC"):
        return Finding(kind, Severity.ERROR, err["msg"], path, loc=loc)
    value = err.get("input")
    if kind in _EXPECTED:
        expected, go = _EXPECTED[kind]
        where = f'"{path}"' if path else "the value"
        message = (
            f"{where} must be {expected}, not {describe(value)}{_type_hint(go, value)}; "
            f"{consequence} (json: cannot unmarshal {_go_kind(value).split()[0]} into Go "
            f"value of type {go})"
        )
        return Finding(WRONG_TYPE.id, Severity.ERROR, message, path, loc=loc)
    return Finding(INVALID_VALUE.id, Severity.ERROR, f'"{path}": {err["msg"]}', path, loc=loc)


def _typed(
    model: type[M], data: Mapping[str, Any], consequence: str = DAEMON_FAILS
) -> tuple[M, list[Finding], set[str]]:
    """Validate strictly; on errors, report them and validate again without the
    top-level keys that failed, so later checks see everything else."""
    try:
        return model.model_validate(data), [], set()
    except ValidationError as exc:
        findings = [error_to_finding(e, data, consequence) for e in exc.errors()]
        bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        rest = {k: val for k, val in data.items() if k not in bad}
        try:
            return model.model_validate(rest), findings, bad
        except ValidationError:  # a model-level error: nothing is usable
            return model.model_construct(), findings, set(data)


def _shadowed_findings(
    model: type[BaseModel], data: Mapping[str, Any], loc: Loc, value: Any
) -> list[Finding]:
    """dockerd type-checks every occurrence of a duplicated key, not only the
    last one: check an earlier value the same way."""
    top = str(loc[0])
    if len(loc) == 1:
        variant: Any = value
    else:
        variant = copy.deepcopy(data.get(top))
        node = variant
        for part in loc[1:-1]:
            node = node[part]
        node[loc[-1]] = value
    try:
        model.model_validate({top: variant})
    except ValidationError as exc:
        errors = [
            e
            for e in exc.errors()
            if e["type"] in _EXPECTED
            or e["type"] == WRONG_TYPE.id
            or (e.get("ctx") or {}).get("decoded")
        ]
    else:
        errors = []
    found = [error_to_finding(e) for e in errors]
    return [
        Finding(
            f.rule,
            f.severity,
            f"{f.message} (this key is written more than once, and dockerd checks every "
            "occurrence)",
            f.path,
            loc=f.loc,
        )
        for f in found
    ]


# -- daemon.json ----------------------------------------------------------------


def _not_object(value: Any, what: str, consequence: str = DAEMON_FAILS) -> Finding:
    return Finding(
        JSON_SYNTAX.id,
        Severity.ERROR,
        f"the top level of {what} must be a JSON object {{...}}, not {describe(value)}; "
        f"{consequence} (json: cannot unmarshal {_go_kind(value)} into Go value of type "
        "map[string]interface {})",
    )


def check_daemon(
    data: object,
    engine: EngineVersion = DEFAULT_ENGINE,
    *,
    key_view: Mapping[str, Any] | None = None,
) -> CheckResult[DaemonConfig]:
    """Validate decoded daemon.json content for ``engine``. ``key_view`` is
    the top level as dockerd's key check sees it when keys were duplicated
    (see :attr:`~fleetcfg.core.jsondoc.JsonDocument.key_view`)."""
    if data is None:  # a "null" document is an empty config to dockerd
        data = {}
    if not isinstance(data, dict):
        return CheckResult(None, [_not_object(data, "daemon.json")])
    keys = check_keys(key_view if key_view is not None else data, engine)
    findings = list(keys.findings)
    typed_input = {k: val for k, val in data.items() if k not in keys.drop}
    config, typed_findings, bad = _typed(DaemonConfig, typed_input)
    findings.extend(typed_findings)
    for name, target in keys.aliases.items():
        # dockerd decodes e.g. "Proxies" into proxies: its value must fit there
        _, alias_findings, _ = _typed(DaemonConfig, {target: data[name]})
        findings.extend(
            Finding(
                f.rule,
                f.severity,
                f.message.replace(f'"{target}', f'"{name}', 1),
                format_loc((name, *f.loc[1:])),
                loc=(name, *f.loc[1:]),
            )
            for f in alias_findings
        )
    ctx = RuleContext(config, data, engine, frozenset(bad | keys.drop))
    findings.extend(run_checks(ctx))
    findings = _dedupe(findings)
    return CheckResult(None if has_errors(findings) else config, findings)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for f in findings:
        key = (f.rule, f.path, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


# -- config.json ---------------------------------------------------------------


def check_client(data: object) -> CheckResult[ClientConfig]:
    """Validate decoded ~/.docker/config.json content."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return CheckResult(None, [_not_object(data, "config.json", CLIENT_FAILS)])
    config, findings, _ = _typed(ClientConfig, data, CLIENT_FAILS)
    findings.extend(client_checks(config, data))
    findings = _dedupe(findings)
    return CheckResult(None if has_errors(findings) else config, findings)


# -- from bytes, with positions ------------------------------------------------


def _locate(findings: Iterable[Finding], doc: JsonDocument, file: str | None) -> list[Finding]:
    out = []
    for f in findings:
        pos = doc.locate(f.loc) if f.loc else None
        if pos is None:
            pos = doc.locate(()) or _first_position(doc)
        out.append(f.located(file, pos.line if pos else 1, pos.column if pos else 1))
    return out


def _first_position(doc: JsonDocument) -> Any:
    return min(doc.positions.values(), key=lambda p: p.offset, default=None)


def _duplicate_findings(doc: JsonDocument, reader: str = "dockerd") -> list[Finding]:
    out = []
    for loc, first, last in doc.duplicates:
        out.append(
            Finding(
                DUPLICATE_KEY.id,
                Severity.WARNING,
                f'"{format_loc(loc)}" is written twice (again at line {last.line}, column '
                f"{last.column}); {reader} uses the last value. Remove this one",
                format_loc(loc),
                loc=loc,
            ).located(None, first.line, first.column)
        )
    return out


def check_daemon_bytes(
    raw: bytes | str,
    *,
    file: str | None = None,
    engine: EngineVersion = DEFAULT_ENGINE,
) -> CheckResult[DaemonConfig]:
    """Decode and validate a daemon.json file; findings carry file:line:col."""
    try:
        doc = parse_document(raw, file=file)
    except JsonSyntaxError as exc:
        return CheckResult(None, [_syntax_finding(exc, file)])
    if doc.empty and engine < EngineVersion(23, 0):
        finding = Finding(
            JSON_SYNTAX.id,
            Severity.ERROR,
            f"an empty daemon.json is valid only from Engine 23.0; Engine {engine.short} "
            'refuses to start (EOF). Write "{}"',
        )
        return CheckResult(None, [finding.located(file, 1, 1)], doc)
    result = check_daemon(doc.value, engine, key_view=doc.key_view)
    findings = _locate(result.findings, doc, file) + _earlier_values(doc, file)
    findings.sort(key=Finding.sort_key)
    return CheckResult(None if has_errors(findings) else result.config, findings, doc)


def check_client_bytes(raw: bytes | str, *, file: str | None = None) -> CheckResult[ClientConfig]:
    """Decode and validate a config.json file; findings carry file:line:col."""
    try:
        doc = parse_document(raw, file=file)
    except JsonSyntaxError as exc:
        return CheckResult(None, [_syntax_finding(exc, file, CLIENT_FAILS)])
    result = check_client(doc.value)
    findings = _locate(result.findings, doc, file) + [
        f.located(file, f.line, f.column) for f in _duplicate_findings(doc, "the docker CLI")
    ]
    findings.sort(key=Finding.sort_key)
    return CheckResult(None if has_errors(findings) else result.config, findings, doc)


def _earlier_values(doc: JsonDocument, file: str | None) -> list[Finding]:
    """Duplicate-key warnings, and type errors in the earlier values, located
    at those earlier occurrences."""
    out = [f.located(file, f.line, f.column) for f in _duplicate_findings(doc)]
    if isinstance(doc.value, dict):
        for loc, value, pos in doc.shadowed:
            for f in _shadowed_findings(DaemonConfig, doc.value, loc, value):
                out.append(f.located(file, pos.line, pos.column))
    return out


def _syntax_finding(
    exc: JsonSyntaxError, file: str | None, consequence: str = DAEMON_FAILS
) -> Finding:
    message = f"invalid JSON: {exc.go_message}"
    if exc.hint_text:
        message += f" ({exc.hint_text})"
    message += f"; {consequence}"
    return Finding(JSON_SYNTAX.id, Severity.ERROR, message).located(
        file, exc.line or 1, exc.column or 1
    )


# -- strict parsing for code that needs a model or nothing ----------------------


def parse_daemon(data: object, engine: EngineVersion = DEFAULT_ENGINE) -> DaemonConfig:
    """The model of a valid daemon.json; raises :class:`ConfigValidationError`."""
    result = check_daemon(data, engine)
    if result.config is None:
        raise ConfigValidationError(result.findings)
    return result.config


def parse_client(data: object) -> ClientConfig:
    result = check_client(data)
    if result.config is None:
        raise ConfigValidationError(result.findings)
    return result.config
