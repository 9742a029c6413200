"""Profile files on disk: finding ``profiles/NAME.*`` and reading it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fleetcfg.core.boundedread import TEXT_LIMIT, read_bounded
from fleetcfg.core.errors import TemplateError

Format = Literal["yaml", "json"]

#: the suffixes a profile may have, in lookup order: (suffix, format, Jinja?)
PROFILE_SUFFIXES: tuple[tuple[str, Format, bool], ...] = (
    (".yaml.j2", "yaml", True),
    (".yml.j2", "yaml", True),
    (".json.j2", "json", True),
    (".yaml", "yaml", False),
    (".yml", "yaml", False),
    (".json", "json", False),
)


@dataclass(frozen=True, slots=True)
class ProfileFile:
    """One profile file: ``name`` as referenced, ``template`` its path
    relative to ``profiles/`` (the Jinja loader name)."""

    name: str
    template: str
    path: Path
    display: str
    format: Format
    templated: bool


def inside_profiles(profiles_dir: Path, path: Path) -> bool:
    """Whether ``path``, once symlinks are followed, is a file of
    ``profiles_dir``, itself inside the repo (the folder that holds it)."""
    folder = profiles_dir.resolve()
    return folder.is_relative_to(profiles_dir.parent.resolve()) and path.resolve().is_relative_to(
        folder
    )


def _contained(profiles_dir: Path, profile: ProfileFile) -> ProfileFile:
    if not inside_profiles(profiles_dir, profile.path):
        raise TemplateError(
            f"{profile.display} leads outside profiles/ (through '..' or a symlink)",
            file=profile.display,
            hint="profiles and the templates they include must be files in profiles/",
        )
    return profile


def find_profile(profiles_dir: Path, profiles_display: str, name: str) -> ProfileFile:
    """The file of profile ``name`` (``base`` or ``base.yaml.j2``); a
    :class:`TemplateError` when there is none or more than one."""
    explicit = [
        (name, fmt, templated)
        for suffix, fmt, templated in PROFILE_SUFFIXES
        if name.endswith(suffix)
    ][:1]
    candidates = explicit or [(name + s, fmt, tpl) for s, fmt, tpl in PROFILE_SUFFIXES]
    found = [c for c in candidates if (profiles_dir / c[0]).is_file()]
    if len(found) > 1:
        names = ", ".join(f"{profiles_display}/{c[0]}" for c in found)
        raise TemplateError(
            f"profile {name!r} is ambiguous: {names}",
            file=f"{profiles_display}/{found[0][0]}",
            hint="keep one file per profile name",
        )
    if not found:
        available = sorted(available_profiles(profiles_dir))
        close = [p for p in available if p[:3] == name[:3]][:3]
        raise TemplateError(
            f"profile {name!r} not found in {profiles_display}/ "
            f"(looked for {', '.join(c[0] for c in candidates)})",
            hint=f"did you mean {', '.join(close)}?"
            if close
            else f"profiles there: {', '.join(available) or 'none'}",
        )
    template, fmt, templated = found[0]
    profile = ProfileFile(
        name=name,
        template=template,
        path=profiles_dir / template,
        display=f"{profiles_display}/{template}",
        format=fmt,
        templated=templated,
    )
    return _contained(profiles_dir, profile)


def included_template(profiles_dir: Path, profiles_display: str, name: str) -> ProfileFile:
    """A template pulled in with ``{% include %}``/``{% import %}`` (any name
    of a file in profiles/)."""
    profile = ProfileFile(
        name=name,
        template=name,
        path=profiles_dir / name,
        display=f"{profiles_display}/{name}",
        format="json" if ".json" in name else "yaml",
        templated=True,
    )
    return _contained(profiles_dir, profile)


def available_profiles(profiles_dir: Path) -> set[str]:
    """Profile names in ``profiles_dir`` (without their suffixes)."""
    names: set[str] = set()
    if not profiles_dir.is_dir():
        return names
    for path in profiles_dir.rglob("*"):
        rel = path.relative_to(profiles_dir).as_posix()
        for suffix, _, _ in PROFILE_SUFFIXES:
            if rel.endswith(suffix) and path.is_file():
                names.add(rel[: -len(suffix)])
                break
    return names


def read_source(profile: ProfileFile, host: str | None = None) -> str:
    """The text of a profile file (UTF-8, a BOM is accepted)."""
    try:
        raw = read_bounded(profile.path, TEXT_LIMIT)
    except FileNotFoundError:
        raise TemplateError(
            f"{profile.display} not found", file=profile.display, host=host
        ) from None
    except OSError as exc:
        raise TemplateError(
            f"cannot read {profile.display}: {exc.strerror}", file=profile.display, host=host
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TemplateError(
            "the profile is not UTF-8 text", file=profile.display, host=host
        ) from None
