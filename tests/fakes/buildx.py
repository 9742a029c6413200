"""``docker buildx`` on a fake host: builders by name, each with the
buildkitd.toml it was created with; ``create --bootstrap`` starts a stand-in
buildkitd that rejects what the real one rejects in our tests (a
``keepDuration`` that is not a Go duration). Like buildx, a builder whose
bootstrap failed stays (``buildx rm`` removes it).

Also ``sh -c "if A >/dev/null 2>&1; then B; fi"`` (how fleetcfg removes a
builder only when it exists)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from fleetcfg.host.transport.base import CommandResult
from tests.fakes.transport import FakeTransport, chain_commands

#: a Go duration (time.ParseDuration) or whole seconds
_DURATION = re.compile(r"^(\d+|([0-9.]+(ns|us|µs|ms|s|m|h))+)$")
_KEEP_DURATION = re.compile(r'keepDuration\s*=\s*"([^"]*)"')
_IF = re.compile(r"^if (?P<test>.+?) >/dev/null 2>&1; then (?P<then>.+?); fi$")


def buildkitd_error(config: bytes | None) -> str | None:
    """Why the stand-in buildkitd refuses to start with ``config`` (None: it starts)."""
    for value in _KEEP_DURATION.findall((config or b"").decode("utf-8", "replace")):
        if not _DURATION.match(value):
            return f'failed to load config: keepDuration: invalid duration "{value}"'
    return None


@dataclass
class Builder:
    name: str
    #: the --buildkitd-config it was created with (None: none) and its content
    config: str | None
    content: bytes | None
    booted: bool = False


@dataclass
class FakeBuildx:
    """The builders of one fake host and the buildx calls it saw."""

    builders: dict[str, Builder] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    #: how many of the next bootstraps fail whatever the config
    fail_bootstraps: int = 0

    def run(self, fake: FakeTransport, args: Sequence[str]) -> CommandResult:
        """``docker buildx ARGS...``."""
        self.calls.append(" ".join(args))
        sub, rest = (args[0], list(args[1:])) if args else ("", [])
        names = [a for a in rest if not a.startswith("-")]
        if sub in ("inspect", "rm"):
            name = names[-1] if names else ""
            if name not in self.builders:
                return _result(1, "", f'ERROR: no builder "{name}" found\n')
            if sub == "rm":
                del self.builders[name]
            return _result(0, f"Name: {name}\n")
        if sub == "create":
            return self._create(fake, rest)
        return _result(1, "", f"docker buildx: fake does not know {sub!r}\n")

    def _create(self, fake: FakeTransport, rest: list[str]) -> CommandResult:
        options: dict[str, str] = {}
        flags: set[str] = set()
        while rest:
            arg = rest.pop(0)
            if arg in ("--name", "--driver", "--buildkitd-config"):
                options[arg] = rest.pop(0) if rest else ""
            else:
                flags.add(arg)
        name = options.get("--name", "")
        if name in self.builders:
            return _result(
                1,
                "",
                f'ERROR: existing instance for "{name}" but no append mode, specify the '
                "node name to make changes for existing instances\n",
            )
        config = options.get("--buildkitd-config")
        content = fake.content(config) if config is not None else None
        if config is not None and content is None:
            return _result(1, "", f"ERROR: open {config}: no such file or directory\n")
        builder = Builder(name, config, content)
        self.builders[name] = builder
        if "--bootstrap" in flags:
            error = buildkitd_error(content)
            if self.fail_bootstraps > 0:
                self.fail_bootstraps -= 1
                error = "buildkitd exited (fault injected by the test)"
            if error is not None:
                return _result(1, "", f"ERROR: {error}\n")
            builder.booted = True
        return _result(0, f"{name}\n")


def run_conditional(fake: FakeTransport, line: str) -> CommandResult | None:
    """``if A >/dev/null 2>&1; then B; fi``: B when A succeeds (None: not
    that form)."""
    match = _IF.match(line)
    if match is None:
        return None
    (test,) = chain_commands(match["test"])
    if not fake._dispatch(test, None, fake.command_timeout).ok:
        return _result()
    (then,) = chain_commands(match["then"])
    return fake._dispatch(then, None, fake.command_timeout)


def _result(status: int = 0, stdout: str = "", stderr: str = "") -> CommandResult:
    return CommandResult((), status, stdout, stderr)
