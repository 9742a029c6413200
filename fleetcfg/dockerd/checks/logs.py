"""The log driver and its options (start when log-opts is set, every container otherwise)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fleetcfg.core.findings import Finding
from fleetcfg.core.numbers import is_digits
from fleetcfg.core.rules import (
    LOGGING,
    NO_EFFECT,
)
from fleetcfg.dockerd import logdrivers as ld
from fleetcfg.dockerd.checks.context import (
    EVERY_CONTAINER,
    INFO,
    START,
    E,
    RuleContext,
    W,
    check,
    find,
)
from fleetcfg.dockerd.values import (
    parse_size,
    port_problem,
    split_host_port,
)


def _bad(key: str, message: str) -> Finding:
    """An error in one log option."""
    return find(LOGGING, E, message, "log-opts", key)


def _bool_text(text: str) -> bool | None:
    """Go's strconv.ParseBool."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


@check
def logging(ctx: RuleContext) -> Iterator[Finding]:
    if "log-driver" in ctx.invalid or "log-opts" in ctx.invalid:
        return
    driver_name = ctx.get("log-driver") or "json-file"
    opts: dict[str, str] = dict(ctx.cfg.log_opts or {})
    when = START if opts else EVERY_CONTAINER
    if driver_name in ld.WINDOWS_ONLY_DRIVERS:
        yield find(
            LOGGING, E, f'log driver "{driver_name}" exists only on Windows; {when}', "log-driver"
        )
        return
    driver = ld.DRIVERS.get(driver_name)
    if driver is None:
        removed = ld.REMOVED_DRIVERS.get(driver_name)
        typo = ld.close_driver(driver_name)
        if ld.is_plugin_name(driver_name):
            yield find(
                LOGGING,
                INFO,
                f'log driver "{driver_name}" is a logging plugin: it must be installed '
                "and enabled on every host before dockerd starts, or " + when,
                "log-driver",
            )
        elif removed is None and typo is None:
            yield find(
                LOGGING,
                INFO,
                f'log driver "{driver_name}" is not built in: it names a logging plugin '
                f"installed under that alias (docker plugin install REPO/NAME --alias "
                f"{driver_name}). It must be installed and enabled on every host before "
                f'dockerd starts, or {when} (plugin "{driver_name}" not found)',
                "log-driver",
            )
        else:
            gone = f" (removed in Engine {removed.short})" if removed else ""
            hint = f'Did you mean "{typo}"? Else use' if typo else "Use"
            yield find(
                LOGGING,
                E,
                f'"{driver_name}" is not a log driver{gone}; {when} (plugin '
                f'"{driver_name}" not found). {hint} one of '
                f"{', '.join(sorted(ld.DRIVERS))}, or a plugin's full name "
                "(repo/name:tag)",
                "log-driver",
            )
        yield from _generic_log_opts(opts, when)
        return
    if driver.name == "none":
        if opts:
            yield find(
                NO_EFFECT,
                W,
                'log-opts have no effect with log-driver "none" (no logs are kept); remove them',
                "log-opts",
            )
        return
    yield from _generic_log_opts(opts, when)
    for key in opts:
        if not driver.accepts(key, ctx.engine):
            yield _bad(
                key,
                f"log option '{key}' is unknown to the {driver.name} log driver; {when} "
                f"(unknown log opt). It knows: "
                f"{', '.join(sorted(driver.opts))}",
            )
    for key in driver.required:
        if key not in opts:
            yield find(
                LOGGING,
                E,
                f'the {driver.name} log driver needs "{key}" in log-opts; {EVERY_CONTAINER}',
                "log-opts",
            )
    if driver.name == "json-file":
        yield from _json_file_rotation(opts)
    elif driver.name == "local":
        yield from _local_rotation(opts)
    elif driver.name == "syslog":
        yield from _syslog_opts(opts, when)
    elif driver.name == "gelf":
        yield from _gelf_opts(opts, when)
    elif driver.name == "fluentd":
        yield from _fluentd_opts(opts, when)
    elif driver.name == "awslogs":
        yield from _awslogs_opts(opts, when)


def _generic_log_opts(opts: dict[str, str], when: str) -> Iterator[Finding]:
    mode = opts.get("mode", "")
    if mode not in ld.LOG_MODES:
        yield _bad(
            "mode",
            f'log option mode must be "blocking" or "non-blocking", not "{mode}"; {when}',
        )
    if "max-buffer-size" in opts:
        if mode != "non-blocking":
            yield _bad(
                "max-buffer-size",
                f"log option max-buffer-size only works with mode=non-blocking; {when}",
            )
        elif parse_size(opts["max-buffer-size"]) is None:
            yield _bad(
                "max-buffer-size",
                f'log option max-buffer-size "{opts["max-buffer-size"]}" is not a size; {when}',
            )
    cache_disabled = opts.get("cache-disabled", "")
    if cache_disabled and _bool_text(cache_disabled) is None:
        yield _bad(
            "cache-disabled",
            f'log option cache-disabled must be true or false, not "{cache_disabled}"; {when}',
        )


def _json_file_rotation(opts: dict[str, str]) -> Iterator[Finding]:
    size_text, file_text, compress = (
        opts.get("max-size"),
        opts.get("max-file"),
        opts.get("compress"),
    )
    size = parse_size(size_text, binary=False) if size_text is not None else None
    if size_text is not None and (size is None or size <= 0):
        yield _bad(
            "max-size",
            f'log option max-size "{size_text}" must be a positive size such as 10m or '
            f"1g; {EVERY_CONTAINER} (start)",
        )
    files: int | None = None
    if file_text is not None:
        if not re.fullmatch(r"[+-]?\d+", file_text):
            yield _bad(
                "max-file",
                f'log option max-file "{file_text}" must be a whole number (as a JSON '
                f'string, e.g. "5"); {EVERY_CONTAINER} (start)',
            )
        else:
            files = int(file_text)
            if files < 1:
                yield _bad(
                    "max-file",
                    f"log option max-file must be at least 1, not {files}; "
                    f"{EVERY_CONTAINER} (start)",
                )
            elif size_text is None:
                yield find(
                    NO_EFFECT,
                    W,
                    "log option max-file has no effect without max-size: json-file "
                    "never rotates, so the log grows without limit. Add max-size "
                    '(e.g. "50m")',
                    "log-opts",
                    "max-file",
                )
    if compress is not None:
        flag = _bool_text(compress)
        if flag is None:
            yield _bad(
                "compress",
                f'log option compress must be "true" or "false", not "{compress}"; '
                f"{EVERY_CONTAINER} (start)",
            )
        elif flag and (size_text is None or (files is not None and files < 2) or file_text is None):
            yield _bad(
                "compress",
                "log option compress=true needs rotation: max-size set and max-file of "
                f"2 or more (compress cannot be true when max-file is less than 2 or "
                f"max-size is not set); {EVERY_CONTAINER} (start)",
            )


def _local_rotation(opts: dict[str, str]) -> Iterator[Finding]:
    size_text, file_text, compress = (
        opts.get("max-size"),
        opts.get("max-file"),
        opts.get("compress"),
    )
    if size_text is not None and parse_size(size_text) is None:
        yield _bad(
            "max-size",
            f'log option max-size "{size_text}" is not a size; {EVERY_CONTAINER} (start)',
        )
    files: int | None = None
    if file_text is not None:
        if not re.fullmatch(r"[+-]?\d+", file_text) or int(file_text) < 0:
            yield _bad(
                "max-file",
                f'log option max-file "{file_text}" must be a whole number of 0 or more; '
                f"{EVERY_CONTAINER} (start)",
            )
        else:
            files = int(file_text)
    compressed = True if compress is None else _bool_text(compress)
    if compress is not None and compressed is None:
        yield _bad(
            "compress",
            f'log option compress must be "true" or "false", not "{compress}"; '
            f"{EVERY_CONTAINER} (start)",
        )
    elif compressed and files is not None and files <= 1:
        yield _bad(
            "max-file",
            f"the local log driver compresses by default, and compression cannot be "
            f"enabled when max-file is {files}; {EVERY_CONTAINER} (start). Set "
            'max-file to 2 or more, or compress to "false"',
        )


def _syslog_opts(opts: dict[str, str], when: str) -> Iterator[Finding]:
    address = opts.get("syslog-address", "")
    if address:
        scheme, sep, rest = address.partition("://")
        if not sep or scheme not in ld.SYSLOG_SCHEMES:
            yield _bad(
                "syslog-address",
                f'syslog-address "{address}" needs a scheme: '
                f"{', '.join(s + '://' for s in ld.SYSLOG_SCHEMES)}; {when}",
            )
        elif scheme in ("tcp", "udp", "tcp+tls"):
            hp = split_host_port(rest) if ":" in rest else (rest, "514")
            if hp is None or (hp[1] and port_problem(hp[1])):
                yield _bad(
                    "syslog-address",
                    f'syslog-address "{address}" has a bad host:port; {when}',
                )
    facility = opts.get("syslog-facility", "")
    if (
        facility
        and facility not in ld.SYSLOG_FACILITIES
        and not (is_digits(facility) and 0 <= int(facility) <= 23)
    ):
        yield _bad(
            "syslog-facility",
            f'syslog-facility "{facility}" is not a syslog facility; {when}',
        )
    fmt = opts.get("syslog-format", "")
    if fmt not in ld.SYSLOG_FORMATS:
        yield _bad(
            "syslog-format",
            f'syslog-format must be rfc3164, rfc5424 or rfc5424micro, not "{fmt}"; {when}',
        )


def _gelf_opts(opts: dict[str, str], when: str) -> Iterator[Finding]:
    address = opts.get("gelf-address")
    if address is None:
        return  # the required-option check reports it
    scheme, sep, rest = address.partition("://")
    hp = split_host_port(rest) if sep else None
    if scheme not in ("udp", "tcp") or hp is None or not hp[1] or port_problem(hp[1]):
        yield _bad(
            "gelf-address",
            f'gelf-address "{address}" must be udp://host:port or tcp://host:port; {when}',
        )
        return
    for key in ("gelf-compression-level", "gelf-compression-type"):
        if key in opts and scheme != "udp":
            yield _bad(key, f"{key} only works with a udp:// gelf-address; {when}")
    for key in ("gelf-tcp-max-reconnect", "gelf-tcp-reconnect-delay"):
        if key in opts and scheme != "tcp":
            yield _bad(key, f"{key} only works with a tcp:// gelf-address; {when}")
        elif key in opts and not is_digits(opts[key]):
            yield _bad(key, f"{key} must be a whole number of 0 or more; {when}")
    level = opts.get("gelf-compression-level")
    if level is not None and not re.fullmatch(r"-1|[0-9]", level):
        yield _bad(
            "gelf-compression-level",
            f'gelf-compression-level must be -1 to 9, not "{level}"; {when}',
        )
    kind = opts.get("gelf-compression-type")
    if kind is not None and kind not in ("gzip", "zlib", "none"):
        yield _bad(
            "gelf-compression-type",
            f'gelf-compression-type must be gzip, zlib or none, not "{kind}"; {when}',
        )


def _fluentd_opts(opts: dict[str, str], when: str) -> Iterator[Finding]:
    address = opts.get("fluentd-address", "")
    if address:
        target = address if "://" in address else f"tcp://{address}"
        scheme, _, rest = target.partition("://")
        if scheme not in ("tcp", "tls", "unix"):
            yield _bad(
                "fluentd-address",
                f'fluentd-address "{address}": unsupported scheme "{scheme}" (use tcp, '
                f"tls or unix); {when}",
            )
        elif scheme == "unix" and not rest:
            yield _bad(
                "fluentd-address",
                f'fluentd-address "{address}" has an empty socket path; {when}',
            )
        elif scheme != "unix":
            host, _, path = rest.partition("/")
            hp = split_host_port(host) if ":" in host else (host, "24224")
            if path:
                yield _bad(
                    "fluentd-address",
                    f'fluentd-address "{address}" must not contain a path; {when}',
                )
            elif hp is None or (hp[1] and port_problem(hp[1])):
                yield _bad(
                    "fluentd-address",
                    f'fluentd-address "{address}" has a bad port; {when}',
                )
    for key in (
        "fluentd-async",
        "fluentd-sub-second-precision",
        "fluentd-request-ack",
        "fluentd-async-connect",
    ):
        if key in opts and _bool_text(opts[key]) is None:
            yield _bad(
                key,
                f'{key} must be true or false, not "{opts[key]}"; {when}',
            )
    if "fluentd-async" in opts and "fluentd-async-connect" in opts:
        yield _bad(
            "fluentd-async-connect",
            f"fluentd-async and fluentd-async-connect cannot both be set; {when}",
        )
    if "fluentd-buffer-limit" in opts and parse_size(opts["fluentd-buffer-limit"]) is None:
        yield _bad(
            "fluentd-buffer-limit",
            f"fluentd-buffer-limit must be a size; {when}",
        )
    if "fluentd-max-retries" in opts and not is_digits(opts["fluentd-max-retries"]):
        yield _bad(
            "fluentd-max-retries",
            f"fluentd-max-retries must be a whole number; {when}",
        )


def _awslogs_opts(opts: dict[str, str], when: str) -> Iterator[Finding]:
    if "awslogs-create-group" in opts and _bool_text(opts["awslogs-create-group"]) is None:
        yield _bad(
            "awslogs-create-group",
            f"awslogs-create-group must be true or false; {when}",
        )
    for key in ("awslogs-force-flush-interval-seconds", "awslogs-max-buffered-events"):
        if key in opts and not (is_digits(opts[key]) and int(opts[key]) > 0):
            yield _bad(key, f"{key} must be a positive whole number; {when}")
    if "awslogs-datetime-format" in opts and "awslogs-multiline-pattern" in opts:
        yield _bad(
            "awslogs-multiline-pattern",
            "awslogs-datetime-format and awslogs-multiline-pattern cannot both be set; " + when,
        )
    fmt = opts.get("awslogs-format")
    if fmt is not None and fmt != "json/emf":
        yield _bad(
            "awslogs-format",
            f'awslogs-format must be "json/emf", not "{fmt}"; {when}',
        )
