"""The package's layers: imports point one way (DEVELOPERS.md, "Layout").

core <- dockerd <- inventory <- render <- {lint, plan} <- apply <- cli, and
host/ (transports, host programs, host state, service commands) imports only
core; the layers above dockerd may use it. The core never
imports typer, rich or paramiko; the fakes live in tests/fakes, out of the wheel.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "fleetcfg"

#: what each part of the package may import from fleetcfg (besides itself)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "host": {"core"},
    "dockerd": {"core"},
    "inventory": {"core", "dockerd", "host"},
    "render": {"core", "dockerd", "inventory", "host"},
    "lint": {"core", "dockerd", "inventory", "render", "host"},
    "plan": {"core", "dockerd", "inventory", "render", "host"},
    "apply": {"core", "dockerd", "inventory", "render", "host", "plan"},
    "cli": {"core", "dockerd", "inventory", "render", "host", "plan", "apply", "lint"},
}
#: third-party packages only these parts may import
RESTRICTED = {"typer": {"cli"}, "rich": {"cli"}, "paramiko": {"host"}, "click": {"cli"}}
#: the one package that may import paramiko
PARAMIKO_PACKAGE = "host/transport/ssh/"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, int]] = []
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((module, node.lineno))
            found += [(f"{module}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else ""


def test_no_module_sits_at_the_top_of_the_package_but_init_and_main() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py"]


def test_every_part_is_a_known_layer() -> None:
    parts = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert parts == set(ALLOWED)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path: Path) -> None:
    part = _part(path)
    bad = []
    for module, line in _imports(path):
        top = module.split(".")
        if top[0] == "fleetcfg" and len(top) > 1 and part:
            target = top[1]
            if target in ALLOWED and target != part and target not in ALLOWED[part]:
                bad.append(f"line {line}: {part}/ imports {module}")
        if top[0] in RESTRICTED and part not in RESTRICTED[top[0]]:
            bad.append(f"line {line}: {part or 'fleetcfg'}/ imports {top[0]}")
        if top[0] == "paramiko" and not path.relative_to(PACKAGE).as_posix().startswith(
            PARAMIKO_PACKAGE
        ):
            bad.append(f"line {line}: only {PARAMIKO_PACKAGE} imports paramiko")
        if top[0] == "tests":
            bad.append(f"line {line}: the package imports the tests ({module})")
    assert not bad, "\n".join(bad)


def test_the_fakes_are_not_in_the_package() -> None:
    names = {p.stem for p in _modules()}
    assert not {n for n in names if n.startswith("fake")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_two_modules_import_each_other() -> None:
    """Not even through a function-level import (dockerd/daemon.py and
    dockerd/keys.py used to)."""
    graph: dict[str, set[str]] = {}
    modules = {_module_name(p): p for p in _modules()}
    for name, path in modules.items():
        targets = set()
        for imported, _line in _imports(path):
            module = imported
            while module and module not in modules:
                module = module.rpartition(".")[0]
            if module and module != name:
                targets.add(module)
        graph[name] = targets
    cycles = sorted(
        f"{a} <-> {b}" for a, targets in graph.items() for b in targets if a < b and a in graph[b]
    )
    assert not cycles, "\n".join(cycles)


def test_the_wheel_ships_the_package_only_not_the_tests_or_their_fakes() -> None:
    """What setuptools puts in the wheel, computed the way it does from
    pyproject.toml (``packages.find`` and ``package-data``)."""
    import tomllib

    import setuptools

    root = PACKAGE.parent
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = setuptools.find_packages(where=str(root), **config["packages"]["find"])
    assert "fleetcfg" in packages and "fleetcfg.host.transport.ssh" in packages
    assert not [p for p in packages if p.split(".")[0] != "fleetcfg"]
    shipped = [
        path
        for package in packages
        for path in (root / package.replace(".", "/")).iterdir()
        if path.suffix == ".py"
    ]
    assert not [p for p in shipped if "fake" in p.name]
    data = config.get("package-data", {})
    assert set(data) <= {"fleetcfg"}, "package data only from the package itself"


#: modules longer than this say why in their docstring ("more than 500 lines")
MAX_LINES = 500


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_long_module_says_why_in_its_docstring(path: Path) -> None:
    text = path.read_text()
    if text.count("\n") <= MAX_LINES:
        return
    doc = ast.get_docstring(ast.parse(text)) or ""
    assert f"more than {MAX_LINES} lines" in doc, (
        f"{path.relative_to(PACKAGE)} has {text.count(chr(10))} lines: split it along its "
        f'seams, or say in its docstring why it stays one module ("Why more than {MAX_LINES} '
        'lines: ...")'
    )
