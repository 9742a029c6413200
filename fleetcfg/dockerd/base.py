"""Shared building blocks of the config models: key metadata, strict types,
and located errors that carry a rule id."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from fleetcfg.core.versions import EngineVersion


@dataclass(frozen=True, slots=True)
class Key:
    """Metadata of one daemon.json key (attached to the model field; what a
    reload does with it: :mod:`fleetcfg.dockerd.reload`)."""

    #: first Engine release that knows the key (None: every release we model)
    since: EngineVersion | None = None
    #: first Engine release that rejects the key as unknown (or refuses it)
    until: EngineVersion | None = None
    #: what the removal message says (e.g. the replacement key)
    removed_hint: str = ""
    #: Engine release from which the key is deprecated, and what to use instead
    deprecated_since: EngineVersion | None = None
    deprecated_hint: str = ""
    #: the value can hold credentials (masked in every output)
    secret: bool = False


@functools.lru_cache(maxsize=256)
def v(text: str) -> EngineVersion:
    """The Engine version ``text`` names (the checks name a few, over and over)."""
    return EngineVersion.parse(text)


def fail(rule: str, message: str, *, decoded: bool = False) -> PydanticCustomError:
    """An error for a pydantic validator, carrying the rule id as its type.
    ``decoded`` marks checks dockerd makes while it decodes the JSON (so they
    apply to every occurrence of a duplicated key, not only the last)."""
    template = message.replace("{", "{{").replace("}", "}}")
    return PydanticCustomError(rule, template, {"decoded": True} if decoded else None)


def check(
    rule: str,
    problem: Callable[[str], str | None],
    *,
    empty_ok: bool = True,
    decoded: bool = False,
) -> AfterValidator:
    """A validator that raises ``rule`` with ``problem(value)`` when it says so;
    empty strings mean "unset" to dockerd and are not checked unless
    ``empty_ok`` is False. ``decoded``: dockerd checks this while decoding."""

    def validate(value: str) -> str:
        if value == "" and empty_ok:
            return value
        reason = problem(value)
        if reason:
            raise fail(rule, reason, decoded=decoded)
        return value

    return AfterValidator(validate)


def _int64(value: int) -> int:
    if not -(2**63) <= value < 2**63:
        raise fail("FC003", f"{value} does not fit in a 64-bit integer", decoded=True)
    return value


def _null_as_empty(value: Any) -> Any:
    """Go decodes ``null`` inside a []string or map[string]string as ``""``."""
    if isinstance(value, list):
        return ["" if item is None else item for item in value]
    if isinstance(value, dict):
        return {k: "" if item is None else item for k, item in value.items()}
    return value


Bool = StrictBool
Int = Annotated[StrictInt, AfterValidator(_int64)]
Str = StrictStr
StrList = Annotated[list[StrictStr], BeforeValidator(_null_as_empty)]
StrMap = Annotated[dict[str, StrictStr], BeforeValidator(_null_as_empty)]

#: strict: no coercion ("true" is not a bool, 3 is not a string); keys by alias
STRICT = ConfigDict(
    strict=True,
    populate_by_name=True,
    validate_by_alias=True,
    serialize_by_alias=True,
    revalidate_instances="never",
)


def fold_keys(data: Any, canonical: tuple[str, ...]) -> Any:
    """Go's encoding/json matches struct fields case-insensitively (the last
    spelling in the document wins); map such keys to their canonical spelling."""
    if not isinstance(data, dict):
        return data
    by_fold = {name.casefold(): name for name in canonical}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = by_fold.get(key.casefold(), key) if isinstance(key, str) else key
        out.pop(name, None)
        out[name] = value
    return out


class GoStruct(BaseModel):
    """A Go struct decoded by encoding/json: field names match
    case-insensitively and unknown fields are ignored (kept here as extras, so
    that checks can warn about them and nothing the user wrote is lost)."""

    model_config = ConfigDict(**STRICT, extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _case_insensitive(cls, data: Any) -> Any:
        names = tuple(f.alias or n for n, f in cls.model_fields.items())
        return fold_keys(data, names)

    def set_aliases(self) -> set[str]:
        """JSON names of the fields that were given a value."""
        fields = type(self).model_fields
        return {fields[n].alias or n for n in self.model_fields_set if n in fields}
