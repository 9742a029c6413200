"""The daemon.json corpus (``tests/data/daemon``) and its manifest, as typed data."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, cast

from ruamel.yaml import YAML

from tests.oracle.dockerd import Verdict as DockerdVerdict
from tests.oracle.dockerd import validate_file

CORPUS_DIR = Path(__file__).resolve().parent.parent / "data" / "daemon"
MANIFEST = CORPUS_DIR / "manifest.yaml"

Verdict = Literal["ok", "accept", "warning", "error"]
#: ok: no errors, no warnings; accept: no errors (a warning is defensible);
#: warning: no errors and at least one warning; error: at least one error
VERDICTS: tuple[str, ...] = ("ok", "accept", "warning", "error")
DEFAULT_ENGINE = "26.1"


@dataclass(frozen=True, slots=True)
class Expectation:
    """What fleetcfg must say about one file for one target engine version.

    ``rules`` holds groups: each group is one rule id or alternatives joined by
    ``|``, and at least one id of every group must appear among the findings.
    """

    engine: str
    verdict: Verdict
    rules: tuple[str, ...] = ()
    line: int | None = None
    column: int | None = None

    def rule_alternatives(self) -> list[tuple[str, ...]]:
        return [tuple(group.split("|")) for group in self.rules]


@dataclass(frozen=True, slots=True)
class CorpusFile:
    file: str
    about: str
    validate: Literal["ok", "reject"]
    messages: tuple[str, ...]
    start: Literal["ok", "fail"]
    source: str
    expect: tuple[Expectation, ...]

    @property
    def path(self) -> Path:
        return CORPUS_DIR / self.file

    @property
    def category(self) -> str:
        return self.file.split("/", 1)[0]

    def raw(self) -> bytes:
        return self.path.read_bytes()

    @property
    def dockerd_refuses(self) -> bool:
        """dockerd 26.1.5 rejects it with --validate or would not start with it."""
        return self.validate == "reject" or self.start == "fail"

    def expectation(self, engine: str = DEFAULT_ENGINE) -> Expectation | None:
        for e in self.expect:
            if e.engine == engine:
                return e
        return None

    def __str__(self) -> str:
        return self.file


def _expectation(raw: dict[str, object]) -> Expectation:
    line = raw.get("line")
    column = raw.get("column")
    return Expectation(
        engine=str(raw["engine"]),
        verdict=cast(Verdict, raw["verdict"]),
        rules=tuple(str(r) for r in cast(list[object], raw.get("rules", []))),
        line=int(cast(int, line)) if line is not None else None,
        column=int(cast(int, column)) if column is not None else None,
    )


@cache
def load_corpus() -> tuple[CorpusFile, ...]:
    data = YAML(typ="safe").load(MANIFEST.read_text(encoding="utf-8"))
    out = []
    for item in data["files"]:
        msg = item.get("message")
        messages = (msg,) if isinstance(msg, str) else tuple(msg or ())
        out.append(
            CorpusFile(
                file=item["file"],
                about=item["about"],
                validate=item["validate"],
                messages=messages,
                start=item["start"],
                source=item["source"],
                expect=tuple(_expectation(x) for x in item["expect"]),
            )
        )
    return tuple(out)


def corpus_ids(files: tuple[CorpusFile, ...] | list[CorpusFile]) -> list[str]:
    return [f.file for f in files]


@cache
def dockerd_verdict(file: str) -> DockerdVerdict:
    """``dockerd --validate`` on one corpus file, run once per test process."""
    return validate_file(CORPUS_DIR / file)
