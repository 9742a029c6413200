"""The Jinja side of rendering: the sandboxed environment, line marks that map
rendered lines back to template lines, what a template reads, and located
template errors.

Why more than 500 lines: all four wrap one Jinja environment and its
compiled templates; apart, each would reach into the others' internals.
"""

from __future__ import annotations

import difflib
import json
import re
import reprlib
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame, operators, optimizeconst
from jinja2.debug import rewrite_traceback_stack
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from jinja2.loaders import split_template_path
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing, object_type_repr

from fleetcfg.core.boundedread import MIB, TEXT_LIMIT, larger_than, too_large
from fleetcfg.core.errors import SecretLookupError, TemplateError
from fleetcfg.core.versions import EngineVersion
from fleetcfg.render.bounds import (
    bounded_filters,
    check_binop,
    check_call,
    check_text,
    text_checked,
)
from fleetcfg.render.budget import RenderBudgetExceeded, render_budget, why_stopped
from fleetcfg.render.profiles import (
    ProfileFile,
    find_profile,
    included_template,
    inside_profiles,
    read_source,
)

_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_MARK_RE = re.compile(f"{_MARK_OPEN}(\\d+){_MARK_CLOSE}")
_LEADING_MARKS = re.compile(f"(?:{_MARK_RE.pattern})+")


class _LineMarks(Extension):
    """Marks where each piece of template text starts in the output (private-use
    characters around the template line number): at the start of every text
    token, after each newline in it, and before every ``{{ }}``. The marks at
    the start of a rendered line say which template line produced it. Text
    captured by ``{% set %}`` blocks, ``{% filter %}``, ``{% call %}`` and
    macros is left unmarked, since templates may compare or measure it."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        depth = 0
        pending_set = False
        keyword_next = False
        for token in stream:
            kind = token.type
            if kind == "block_begin":
                keyword_next = True
            elif keyword_next and kind == "name":
                keyword_next = False
                if token.value in ("filter", "call", "macro"):
                    depth += 1
                elif token.value in ("endfilter", "endcall", "endmacro", "endset"):
                    depth = max(0, depth - 1)
                elif token.value == "set":
                    pending_set = True
            elif kind == "assign" and pending_set:
                pending_set = False
            elif kind == "block_end":
                keyword_next = False
                if pending_set:
                    depth += 1
                    pending_set = False
            elif kind == "data" and depth == 0:
                yield Token(token.lineno, kind, _mark_data(token.value, token.lineno))
                continue
            elif kind == "variable_begin" and depth == 0:
                yield Token(token.lineno, "data", _mark(token.lineno))
            yield token


def _mark(line: int) -> str:
    return f"{_MARK_OPEN}{line}{_MARK_CLOSE}"


def _mark_data(value: str, lineno: int) -> str:
    parts = value.split("\n")
    return "\n".join(_mark(lineno + i) + part for i, part in enumerate(parts))


def strip_marks(text: str) -> tuple[str, list[int]]:
    """The rendered text without marks, and the template line of each line: the
    last mark before the line's first character (lines that start inside the
    output of an expression keep the line before them)."""
    if _MARK_OPEN not in text:
        return text, list(range(1, text.count("\n") + 2))
    lines: list[str] = []
    numbers: list[int] = []
    current = 1
    for line in text.split("\n"):
        if _MARK_OPEN in line:
            leading = _LEADING_MARKS.match(line)
            if leading:
                current = int(_MARK_RE.findall(leading.group(0))[-1])
            lines.append(_MARK_RE.sub("", line))
        else:
            lines.append(line)
        numbers.append(current)
    return "\n".join(lines), numbers


def _to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def urlquote(value: Any) -> str:
    """``value`` percent-encoded for any part of a URL: every character but
    letters, digits and ``-._~`` (Jinja's ``urlencode`` leaves ``/``, which
    breaks a password in a proxy URL's userinfo)."""
    return quote(str(value), safe="")


class _ProfilesLoader(jinja2.FileSystemLoader):
    """Templates for ``include``/``import``/``extends`` come from profiles/
    only: a name whose file lies elsewhere once symlinks are followed is
    refused (``..`` is refused by Jinja itself)."""

    def __init__(self, profiles_dir: Path) -> None:
        super().__init__(str(profiles_dir))
        self.profiles_dir = profiles_dir

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        candidate = self.profiles_dir.joinpath(*split_template_path(template))
        if larger_than(candidate, TEXT_LIMIT):
            raise SecurityError(f"template {template!r} is {too_large(TEXT_LIMIT)}")
        source = super().get_source(environment, template)
        if not inside_profiles(self.profiles_dir, Path(source[1])):
            raise SecurityError(
                f"template {template!r} leads outside profiles/ (through a symlink)"
            )
        return source


#: the most characters a profile may render (line marks included): a profile
#: renders one config file, and the YAML parser takes a minute for 100 MB
MAX_RENDERED = 2 * MIB


def _bounded_render(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    """``template.render(context)``, stopped as soon as the output passes
    :data:`MAX_RENDERED` (before the rest is rendered or parsed)."""
    pieces: list[str] = []
    size = 0
    for piece in template.generate(context):
        size += len(piece)
        if size > MAX_RENDERED:
            raise SecurityError(f"the rendered text would be larger than {MAX_RENDERED // MIB} MiB")
        pieces.append(piece)
    return "".join(pieces)


def _bounded_output(value: Any) -> Any:
    """What ``{{ value }}`` prints, refused when its text would pass
    :data:`~fleetcfg.render.bounds.MAX_BUILD` (``str()`` of a list that
    holds one long string a million times builds a terabyte in one C call,
    which the render budget cannot stop)."""
    return check_text(value, "printing a value")


class _ProfileCodeGenerator(CodeGenerator):
    """Jinja's code generator, with every operand of ``~`` and of a
    comparison checked like what ``{{ }}`` prints: ``~`` turns its operands
    into text and ``==``/``in`` compare every item, in one C call each."""

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # Jinja's, with each operand checked
        if frame.eval_ctx.volatile:
            self.write("(markup_join if context.eval_ctx.volatile else str_join)((")
        else:
            self.write("markup_join((" if frame.eval_ctx.autoescape else "str_join((")
        for arg in node.nodes:
            self.write("environment.checked_operand(")
            self.visit(arg, frame)
            self.write("), ")
        self.write("))")

    @optimizeconst
    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        self.write("(environment.checked_operand(")
        self.visit(node.expr, frame)
        self.write(")")
        for op in node.ops:
            self.visit(op, frame)
        self.write(")")

    def visit_Operand(self, node: nodes.Operand, frame: Frame) -> None:
        self.write(f" {operators[node.op]} environment.checked_operand(")
        self.visit(node.expr, frame)
        self.write(")")


_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = 60


class _ProfileUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose message quotes the missing key briefly: Jinja's
    quotes its repr (``{}[key]`` with a list that holds one long string a
    million times as the key: a terabyte)."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint or self._undefined_obj is missing:
            return super()._undefined_message
        kind = "element" if not isinstance(self._undefined_name, str) else "attribute"
        owner = object_type_repr(self._undefined_obj)
        owner = owner if kind == "element" else repr(owner)
        return f"{owner} has no {kind} {_BRIEF.repr(self._undefined_name)}"


class _ProfileSandbox(SandboxedEnvironment):
    """Jinja's sandbox, with what one operation may build bounded
    (:mod:`fleetcfg.render.bounds`): a profile under review must not make
    lint build a string of gigabytes (``'x' * 10**10``, ``'x'|center(10**10)``)
    or a number of millions of digits. (``range`` is bounded by Jinja itself;
    loops and what they build over time by the render budget.)"""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _ProfileCodeGenerator

    @staticmethod
    def checked_operand(value: Any) -> Any:
        """An operand of ``~`` or of a comparison (:class:`_ProfileCodeGenerator`)."""
        return check_text(value, "'~' or a comparison")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        check_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def select_template(self, names: Any, *args: Any, **kwargs: Any) -> jinja2.Template:
        # include/import/extends of a list: Jinja's error joins every name
        check_text(names, "a list of template names")
        return super().select_template(names, *args, **kwargs)


def make_environment(profiles_dir: Path) -> SandboxedEnvironment:
    """The Jinja environment profiles render in."""
    env = _ProfileSandbox(
        loader=_ProfilesLoader(profiles_dir),
        undefined=_ProfileUndefined,
        finalize=_bounded_output,
        extensions=[_LineMarks],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        auto_reload=False,
        cache_size=-1,
    )
    env.filters.update(bounded_filters(env.filters))
    env.filters["to_json"] = _to_json
    env.filters["urlquote"] = urlquote
    env.filters.update(text_checked(env.filters, "filter"))
    env.tests.update(text_checked(env.tests, "test"))
    return env


class EngineVersionVar(str):
    """``engine_version`` in templates: prints as ``26.1`` and compares as a
    version with strings (``engine_version >= "25.0"``)."""

    version: EngineVersion

    def __new__(cls, version: EngineVersion) -> EngineVersionVar:
        obj = super().__new__(cls, str(version))
        obj.version = version
        return obj

    @property
    def major(self) -> int:
        return self.version.major

    @property
    def minor(self) -> int:
        return self.version.minor

    @property
    def patch(self) -> int:
        return self.version.patch

    @staticmethod
    def _other(other: object) -> EngineVersion | None:
        if isinstance(other, EngineVersionVar):
            return other.version
        if isinstance(other, EngineVersion):
            return other
        if isinstance(other, str | int | float) and not isinstance(other, bool):
            try:
                return EngineVersion.parse(str(other))
            except ValueError:
                return None
        return None

    def _compare(self, other: object) -> int:
        parsed = self._other(other)
        if parsed is None:
            raise TypeError(f"cannot compare engine_version with {other!r}")
        return (self.version > parsed) - (self.version < parsed)

    def __eq__(self, other: object) -> bool:
        parsed = self._other(other)
        return parsed is not None and self.version == parsed

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __lt__(self, other: object) -> bool:
        return self._compare(other) < 0

    def __le__(self, other: object) -> bool:
        return self._compare(other) <= 0

    def __gt__(self, other: object) -> bool:
        return self._compare(other) > 0

    def __ge__(self, other: object) -> bool:
        return self._compare(other) >= 0

    __hash__ = str.__hash__


@dataclass(eq=False)
class Analysis:
    """What a template reads.

    ``used``: the names it reads (None when unknowable, e.g. a dynamic
    include); ``passthrough``: names it only ever prints bare (``{{ name }}``);
    ``refs``: template line -> variables (with attribute paths) read there;
    ``source_lines``: the template text."""

    used: tuple[str, ...] | None
    passthrough: frozenset[str]
    refs: dict[int, tuple[tuple[str, ...], ...]]
    source_lines: list[str]


_CAPTURING = (nodes.FilterBlock, nodes.Macro, nodes.CallBlock, nodes.AssignBlock)


def analyse(ast: nodes.Template, source: str) -> Analysis:
    used = meta.find_undeclared_variables(ast)
    total: dict[str, int] = {}
    bare: dict[str, int] = {}
    for name_node in ast.find_all(nodes.Name):
        if name_node.ctx == "load":
            total[name_node.name] = total.get(name_node.name, 0) + 1

    def walk(node: nodes.Node, captured: bool) -> None:
        captured = captured or isinstance(node, _CAPTURING)
        if isinstance(node, nodes.Output) and not captured:
            for item in node.nodes:
                if isinstance(item, nodes.Name) and item.ctx == "load":
                    bare[item.name] = bare.get(item.name, 0) + 1
        for child in node.iter_child_nodes():
            walk(child, captured)

    walk(ast, False)
    return Analysis(
        used=tuple(sorted(used)),
        passthrough=frozenset(n for n in used if total.get(n) and bare.get(n) == total.get(n)),
        refs=_line_refs(ast),
        source_lines=source.split("\n"),
    )


def _ref_of(start: nodes.Node) -> tuple[str, ...] | None:
    """``proxy.http`` / ``proxy["http"]`` -> ("proxy", "http")."""
    parts: list[str] = []
    node: nodes.Node = start
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            parts.append(str(node.arg.value))
            node = node.node
        elif isinstance(node, nodes.Name):
            parts.append(node.name)
            return tuple(reversed(parts))
        else:
            return None


def _line_refs(ast: nodes.Template) -> dict[int, tuple[tuple[str, ...], ...]]:
    """Template line -> the variables read on it; loop variables and
    ``{% set %}`` names resolve to what they were built from."""
    aliases: dict[str, list[tuple[str, ...]]] = {}
    by_line: dict[int, list[tuple[str, ...]]] = {}

    def refs_in(node: nodes.Node) -> list[tuple[str, ...]]:
        ref = _ref_of(node)
        if ref is not None:
            return aliases.get(ref[0], [ref])
        return [r for child in node.iter_child_nodes() for r in refs_in(child)]

    def names(target: nodes.Node) -> list[str]:
        own = [target.name] if isinstance(target, nodes.Name) else []
        return own + [n.name for n in target.find_all(nodes.Name)]

    def visit(node: nodes.Node) -> None:
        if isinstance(node, nodes.For | nodes.Assign):
            source = node.iter if isinstance(node, nodes.For) else node.node
            built_from = refs_in(source)
            for name in names(node.target):
                aliases[name] = built_from
        ref = _ref_of(node)
        if ref is not None:
            if ref[0] != "loop":
                by_line.setdefault(node.lineno, []).extend(aliases.get(ref[0], [ref]))
            return
        for child in node.iter_child_nodes():
            visit(child)

    visit(ast)
    return {line: tuple(dict.fromkeys(refs)) for line, refs in by_line.items()}


_REFERENCING = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


def _referenced_templates(ast: nodes.Template) -> list[tuple[str | None, int]]:
    """(name, line) of every template an include/import/extends pulls in;
    ``None`` for a name computed at render time."""
    found: list[tuple[str | None, int]] = []
    for node in ast.find_all(_REFERENCING):
        assert isinstance(node, nodes.Include | nodes.Import | nodes.FromImport | nodes.Extends)
        target = node.template
        name = target.value if isinstance(target, nodes.Const) else None
        found.append((name if isinstance(name, str) else None, node.lineno))
    return found


def _undefined_message(text: str) -> str:
    m = re.fullmatch(r"'(.+)' is undefined", text)
    if m:
        return f"undefined variable {m.group(1)!r}"
    m = re.fullmatch(r"'(.+)' has no attribute '(.+)'", text)
    if m:
        return f"{m.group(1)} has no attribute {m.group(2)!r}"
    return text


class TemplateSet:
    """The profiles of one repo: lookup, compiled templates, analyses and
    rendering with located errors (all cached)."""

    def __init__(self, profiles_dir: Path, profiles_display: str) -> None:
        self.profiles_dir = profiles_dir
        self.profiles_display = profiles_display
        self.env = make_environment(profiles_dir)
        self._resolved_dir = profiles_dir.resolve()
        self._profiles: dict[str, ProfileFile] = {}
        self._analyses: dict[str, Analysis] = {}

    def profile(self, name: str) -> ProfileFile:
        found = self._profiles.get(name)
        if found is None:
            found = find_profile(self.profiles_dir, self.profiles_display, name)
            self._profiles[name] = found
        return found

    def analysis(
        self, profile: ProfileFile, host: str, including: tuple[str, ...] = ()
    ) -> Analysis:
        """What ``profile`` reads, with the templates it includes
        (``including``: the templates whose analysis includes this one; a
        template that includes itself, directly or not, adds nothing more:
        its render ends in a recursion error if nothing stops it)."""
        found = self._analyses.get(profile.template)
        if found is not None:
            return found
        if profile.template in including:
            return Analysis(used=(), passthrough=frozenset(), refs={}, source_lines=[])
        source = read_source(profile, host)
        try:
            ast = self.env.parse(source, profile.template, str(profile.path))
            # compiling checks filter and test names (an unknown one is an
            # assertion error, a kind of syntax error, raised here)
            analysis = analyse(ast, source)
            referenced = _referenced_templates(ast)
        except jinja2.TemplateSyntaxError as exc:
            raise self._syntax_error(exc, profile, host) from None
        if referenced:
            # included/imported templates read the same context: memoise on
            # what all of them use, and print every variable for real
            used: set[str] | None = set(analysis.used or ())
            chain = (*including, profile.template)
            for name, line in referenced:
                sub = None if name is None else self._included(name, profile, host, line, chain)
                if used is None or sub is None or sub.used is None:
                    used = None
                else:
                    used |= set(sub.used)
            analysis = replace(
                analysis,
                used=None if used is None else tuple(sorted(used)),
                passthrough=frozenset(),
            )
        self._analyses[profile.template] = analysis
        return analysis

    def _included(
        self, name: str, parent: ProfileFile, host: str, line: int, chain: tuple[str, ...]
    ) -> Analysis:
        try:
            included = included_template(self.profiles_dir, self.profiles_display, name)
        except TemplateError as exc:
            raise TemplateError(
                exc.message, file=parent.display, line=line, host=host, hint=exc.hint
            ) from None
        if not included.path.is_file():
            raise TemplateError(
                f"template {name!r} (included by {parent.display}) not found",
                file=parent.display,
                line=line,
                host=host,
            )
        return self.analysis(included, host, chain)

    def render(
        self,
        profile: ProfileFile,
        context: Mapping[str, Any],
        host: str,
        mask: Callable[[str], str],
    ) -> tuple[str, list[int]]:
        """The rendered text and the template line of each of its lines."""
        try:
            template = self.env.get_template(profile.template)
        except jinja2.TemplateSyntaxError as exc:
            raise self._syntax_error(exc, profile, host) from None
        watch = None
        try:
            with render_budget() as watch:
                text = _bounded_render(template, context)
        except RenderBudgetExceeded as exc:
            stopped = rewrite_traceback_stack()  # template lines, as Jinja does for errors
            file, line = self._traceback_line(stopped, profile)
            raise TemplateError(
                f"rendering stopped: {why_stopped(exc, watch)}",
                file=file,
                line=line,
                host=host,
                hint="a profile renders one config file: bound its loops and what they build",
            ) from None
        except Exception as exc:  # every template error, located below
            raise self._render_error(exc, profile, host, mask) from None
        return strip_marks(text)

    def display(self, filename: str | None, fallback: ProfileFile) -> str:
        if filename is None or filename.startswith("<"):  # "<introspection>"
            return fallback.display
        try:
            rel = Path(filename).resolve().relative_to(self._resolved_dir)
        except ValueError:
            return filename
        return f"{self.profiles_display}/{rel.as_posix()}"

    def _syntax_error(
        self, exc: jinja2.TemplateSyntaxError, profile: ProfileFile, host: str
    ) -> TemplateError:
        message = f"template syntax error: {exc.message}"
        hint = "check the {% %} and {{ }} tags on this line"
        unknown = re.fullmatch(r"No (filter|test) named '(.*)'\.?", exc.message or "")
        if unknown:
            kind, name = unknown.groups()
            message = f"unknown {kind} {name!r}"
            known = sorted(self.env.filters if kind == "filter" else self.env.tests)
            close = difflib.get_close_matches(name, known, n=3)
            hint = (
                f"did you mean {' or '.join(close)}?"
                if close
                else f"profiles can use Jinja's built-in {kind}s (and the filters to_json, urlquote)"
            )
        return TemplateError(
            message,
            file=self.display(exc.filename, profile),
            line=exc.lineno,
            host=host,
            hint=hint,
        )

    def _render_error(
        self, exc: Exception, profile: ProfileFile, host: str, mask: Callable[[str], str]
    ) -> TemplateError:
        if isinstance(exc, jinja2.TemplateSyntaxError):  # in an included template
            return self._syntax_error(exc, profile, host)
        file, line = self._traceback_line(exc, profile)
        hint: str | None = None
        error_class: type[TemplateError] = TemplateError
        if isinstance(exc, SecretLookupError):
            message, hint, error_class = exc.message, exc.hint, SecretLookupError
        elif isinstance(exc, jinja2.UndefinedError):
            message = _undefined_message(str(exc.message or exc))
            hint = (
                "define it under vars: in inventory.yaml (defaults, a group or the host), "
                "or write {{ name | default(...) }}"
                if message.startswith("undefined variable")
                else "check the variable's structure in inventory.yaml"
            )
        elif isinstance(exc, jinja2.TemplateNotFound):
            message = f"template {_BRIEF.repr(exc.name)} not found"
        elif isinstance(exc, SecurityError):
            message = f"not allowed in a profile: {exc}"
        else:
            message = f"error while rendering: {type(exc).__name__}: {exc}"
        return error_class(mask(message), file=file, line=line, host=host, hint=hint)

    def _traceback_line(self, exc: BaseException, profile: ProfileFile) -> tuple[str, int | None]:
        """The innermost template frame (Jinja rewrites tracebacks so that
        template frames carry the template's file name and line)."""
        found: tuple[str, int | None] = (profile.display, None)
        tb: types.TracebackType | None = exc.__traceback__
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if filename == str(profile.path) or self._in_profiles(filename):
                found = (self.display(filename, profile), tb.tb_lineno)
            tb = tb.tb_next
        return found

    def _in_profiles(self, filename: str) -> bool:
        try:
            Path(filename).resolve().relative_to(self._resolved_dir)
        except (ValueError, OSError):
            return False
        return True
