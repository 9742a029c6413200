"""What one operation in a profile may build at once.

A profile under review is untrusted (DESIGN.md, Trust model). Some single
operations allocate their whole result inside one C call, where the render
budget (:mod:`fleetcfg.render.budget`) cannot stop them: ``'x' * 10**10``,
``'x'|center(10**10)``, ``'%10000000000s' % 1``, ``'{:>10000000000}'.format(1)``,
``(s * 10**6)|replace('', s)``, ``range(10**5)|join(s * 10**6)``. Each check
here estimates the size of the result from the arguments, before the call,
and refuses past :data:`MAX_BUILD` (characters or items): a profile renders
one config file, and no config file needs a million of anything.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, ItemsView, KeysView, Mapping, Sequence, ValuesView
from typing import Any

from jinja2.exceptions import SecurityError

#: the most characters or items one operation in a profile may build
MAX_BUILD = 1_000_000
#: the largest exponent ``**`` may take in a profile
MAX_EXPONENT = 1024

#: a printf-style conversion's width and precision (``%-10.3f``, ``%*s``)
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def refuse_past(size: int, what: str) -> None:
    """Refuse an operation that would build ``size`` characters or items."""
    if size > MAX_BUILD:
        raise SecurityError(f"{what} would build more than {MAX_BUILD} characters or items")


def _big_int(values: Sequence[object] | Mapping[str, object]) -> bool:
    items = values.values() if isinstance(values, Mapping) else values
    return any(isinstance(v, int) and not isinstance(v, bool) and v > MAX_BUILD for v in items)


def check_printf(template: str, args: object, what: str = "'%'") -> None:
    """``template % args``: no width or precision past :data:`MAX_BUILD`,
    written or given through ``*``."""
    for width, precision in _PRINTF.findall(template):
        for given in (width, precision):
            if given == "*":
                values = args if isinstance(args, tuple) else (args,)
                if _big_int(values):
                    refuse_past(MAX_BUILD + 1, what)
            elif given:
                refuse_past(int(given), what)


def check_format(template: str, args: Sequence[object], kwargs: Mapping[str, object]) -> None:
    """``template.format(...)``: no width or precision past :data:`MAX_BUILD`,
    written or given through a nested field."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # format() refuses it itself
    for _, _, spec, _ in fields:
        for digits in _DIGITS.findall(spec or ""):
            refuse_past(int(digits), "format()")
        if "{" in (spec or "") and (_big_int(args) or _big_int(kwargs)):
            refuse_past(MAX_BUILD + 1, "format()")


def replace_size(text: str, old: str, new: str, count: int = -1) -> int:
    """How long ``text.replace(old, new, count)`` would be."""
    found = len(text) + 1 if old == "" else text.count(old)
    if count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


def join_size(separator: str, items: Sequence[object]) -> int:
    """How long ``separator.join(items)`` would be (items as text)."""
    return sum(len(str(i)) for i in items) + len(separator) * max(len(items) - 1, 0)


def _namespace_attrs(value: object) -> dict[str, Any] | None:
    """The attributes of a Jinja ``namespace()`` (its repr shows them all)."""
    try:
        attrs = object.__getattribute__(value, "_Namespace__attrs")
    except AttributeError:
        return None
    return attrs if isinstance(attrs, dict) else None


def text_size(value: Any, limit: int = MAX_BUILD) -> int:
    """About how many characters the text of ``value`` (``str()``, ``repr()``,
    JSON) takes, counted until past ``limit``. A list that holds the same
    string a million times counts it a million times: its text repeats it,
    although its memory does not (``['x' * 10**6] * 10**6`` is 8 MB, and a
    terabyte as text). Items are counted before they are looked at, so a
    list of a billion items is past the limit at once."""
    size = 0
    stack = [value]
    while stack and size <= limit:
        item = stack.pop()
        if isinstance(item, str):
            size += len(item) + 2
        elif isinstance(item, bool) or item is None:
            size += 5
        elif isinstance(item, int):
            size += item.bit_length() // 3 + 1
        elif isinstance(item, list | tuple | set | frozenset | KeysView | ValuesView):
            size += 2 + 2 * len(item)
            if size <= limit:
                stack.extend(item)
        elif isinstance(item, Mapping | ItemsView):
            size += 2 + 4 * len(item)
            if size <= limit:
                pairs = item if isinstance(item, ItemsView) else item.items()
                stack.extend(part for pair in pairs for part in pair)
        else:
            attrs = _namespace_attrs(item)
            size += 12 if attrs is None else 12 + 4 * len(attrs)
            if attrs is not None and size <= limit:
                stack.extend(part for pair in attrs.items() for part in pair)
    return size


def check_text(value: Any, what: str) -> Any:
    """``value`` when it is a string or its text stays within
    :data:`MAX_BUILD`; else refused (what an operation on it would build)."""
    if not isinstance(value, str):
        refuse_past(text_size(value), what)
    return value


def check_texts(values: Sequence[Any] | Mapping[str, Any], what: str) -> None:
    for value in values.values() if isinstance(values, Mapping) else values:
        check_text(value, what)


def check_binop(operator: str, left: Any, right: Any) -> None:
    """``*``, ``**``, ``+`` and ``%`` between values of a profile."""
    check_texts((left, right), f"'{operator}'")
    if operator == "**":
        if isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is larger than {MAX_EXPONENT}")
    elif operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int):
                refuse_past(len(seq) * count, "'*'")
    elif operator == "+":
        if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            refuse_past(len(left) + len(right), "'+'")
    elif operator == "%" and isinstance(left, str):
        check_printf(left, right)


def _str_method_size(text: str, name: str, args: tuple[Any, ...]) -> int | None:
    """The size a str method called with ``args`` would build (None: not one
    that can build much at once)."""
    if name in ("ljust", "rjust", "center", "zfill") and args and isinstance(args[0], int):
        return int(args[0])
    if name == "expandtabs":
        tab = args[0] if args and isinstance(args[0], int) else 8
        return len(text) + text.count("\t") * max(tab, 0)
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        count = args[2] if len(args) > 2 and isinstance(args[2], int) else -1
        return replace_size(text, args[0], str(args[1]), count)
    if name == "join" and args and isinstance(args[0], list | tuple):
        return join_size(text, args[0])
    if name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        return len(text) * longest
    return None


#: list and tuple methods that compare the value with every item (in one C call)
_COMPARING = frozenset({"count", "index", "remove"})


def check_call(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """A method call in a profile (through the sandbox): str methods that
    build their result in one go."""
    method = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    check_texts(args, "a call")
    check_texts(kwargs, "a call")
    if isinstance(owner, list | tuple) and name in _COMPARING:
        check_text(owner, f"{type(owner).__name__}.{name}()")
    if not isinstance(owner, str):
        return
    if name in ("format", "format_map"):
        check_format(owner, args, kwargs if name == "format" else dict(*args))
        return
    size = _str_method_size(owner, name, args)
    if size is not None:
        refuse_past(size, f"str.{name}()")


def _center(value: Any, width: int = 80) -> Any:
    refuse_past(width, "center")
    return value


def _indent(value: Any, width: int | str = 4, *_: Any, **__: Any) -> Any:
    text = str(value)
    step = len(width) if isinstance(width, str) else width
    refuse_past(len(text) + (text.count("\n") + 1) * step, "indent")
    return value


def _format(value: Any, *args: Any, **kwargs: Any) -> Any:
    check_printf(str(value), kwargs or args, "format")
    return value


def _replace(value: Any, old: Any, new: Any, count: Any = None) -> Any:
    limit = count if isinstance(count, int) else -1
    refuse_past(replace_size(str(value), str(old), str(new), limit), "replace")
    return value


def _join(value: Any, d: Any = "", attribute: Any = None) -> Any:
    items = list(value)  # a generator (|map, |select) is read once: here
    if attribute is None:
        refuse_past(join_size(str(d), items), "join")
    else:
        refuse_past(len(str(d)) * len(items), "join")
    return items


def _wordwrap(value: Any, width: int = 79, *args: Any, **kwargs: Any) -> Any:
    wrap = kwargs.get("wrapstring") or (args[1] if len(args) > 1 else None) or "\n"
    text = str(value)
    refuse_past(len(text) + (len(text) + 1) * len(str(wrap)), "wordwrap")
    return value


def _count(what: str) -> Callable[..., Any]:
    def check(value: Any, count: int, *_: Any, **__: Any) -> Any:
        refuse_past(count, what)
        return value

    return check


#: Jinja's built-in filters that build a result from a size argument, and the
#: check each gets (on the filter's own arguments; it returns the value to
#: filter, read into a list where it had to read it)
_CHECKS: dict[str, Callable[..., Any]] = {
    "center": _center,
    "indent": _indent,
    "format": _format,
    "replace": _replace,
    "join": _join,
    "wordwrap": _wordwrap,
    "batch": _count("batch"),
    "slice": _count("slice"),
}


def _guarded(theirs: Callable[..., Any], check: Callable[..., Any]) -> Callable[..., Any]:
    """``theirs`` checked first; Jinja's pass_context/pass_environment mark
    is kept (the compiled template passes that first argument by it)."""
    mark = getattr(theirs, "jinja_pass_arg", None)
    if mark is None:

        def plain(value: Any, *args: Any, **kwargs: Any) -> Any:
            return theirs(check(value, *args, **kwargs), *args, **kwargs)

        return plain

    def passing(first: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        return theirs(first, check(value, *args, **kwargs), *args, **kwargs)

    passing.jinja_pass_arg = mark  # type: ignore[attr-defined]
    return passing


def _checks_text(what: str) -> Callable[..., Any]:
    def check(value: Any, *args: Any, **kwargs: Any) -> Any:
        check_text(value, what)
        check_texts(args, what)
        check_texts(kwargs, what)
        return value

    return check


def text_checked(functions: Mapping[str, Any], kind: str) -> dict[str, Callable[..., Any]]:
    """Every filter or test of ``functions``, refusing a value or argument
    whose text would pass :data:`MAX_BUILD` before it runs: most turn their
    value into text (``string``, ``tojson``, ``lower``) or compare it, in one
    C call."""
    return {
        name: _guarded(function, _checks_text(f"{kind} {name!r}"))
        for name, function in functions.items()
    }


def bounded_filters(filters: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Jinja's built-in filters that build a result from a size argument,
    each refusing past :data:`MAX_BUILD` before it builds anything."""
    return {name: _guarded(filters[name], check) for name, check in _CHECKS.items()}
