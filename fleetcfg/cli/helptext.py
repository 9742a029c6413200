"""Help texts in the words of the command line: ``--inventory PATH``,
``--yes``, ``HOST...``, not typer's internal type names (``<str>``,
``<bool>``, ``<list[str]>``, ``{HOST}``)."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption

#: option (its Python name) -> the word its value is shown as
_METAVARS = {
    "inventory_path": "PATH",
    "journal_path": "PATH",
    "out": "FILE",
    "engine_version": "VERSION",
    "forks": "N",
    "canary": "N",
    "keep_backups": "N",
    "pause": "DURATION",
    "user": "USER",
    "backup": "NAME",
}


class _PlainArgument(TyperArgument):
    """An argument shown as ``HOST...`` (usage) with no type column."""

    def display_type(self, ctx: Any) -> str:
        return ""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = str(self.metavar or (self.name or "").upper()).strip("[]{}").removesuffix("...")
        shown = name + ("..." if self.nargs != 1 else "")
        return shown if self.required else f"[{shown}]"


def _choices(option: Any) -> str | None:
    for holder in (getattr(option, "type_descriptor", None), getattr(option, "type", None)):
        choices = getattr(holder, "choices", None)
        if choices:
            return "|".join(str(getattr(c, "value", c)) for c in choices)
    return None


def plain_help(command: Any) -> Any:
    """``command`` (a typer-built click command) with plain metavars."""
    make_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = make_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    for param in getattr(command, "params", ()):
        if isinstance(param, TyperArgument) and not isinstance(param, _PlainArgument):
            param.__class__ = _PlainArgument
        elif isinstance(param, TyperOption) and param.metavar is None:
            if getattr(param, "is_flag", False):
                param.metavar = ""
            else:
                name = param.name or ""
                param.metavar = (
                    _METAVARS.get(name) or _choices(param) or name.rsplit("_", 1)[-1].upper()
                )
    return command
