"""The corpus is honest: the real dockerd 26.1.5 agrees with every manifest entry.

Fails (never skips) when dockerd is missing: CI fetches it with scripts/fetch-dockerd.
"""

from __future__ import annotations

import pytest

from fleetcfg.core.rules import all_rules
from tests.oracle.corpus import (
    CORPUS_DIR,
    VERDICTS,
    CorpusFile,
    corpus_ids,
    dockerd_verdict,
    load_corpus,
)
from tests.oracle.dockerd import dockerd_version

CORPUS = load_corpus()
CATEGORIES = ("valid", "warning", "invalid-validate", "invalid-start", "version")


# --- the manifest itself (no dockerd needed) ---------------------------------


def test_every_corpus_file_has_exactly_one_manifest_entry() -> None:
    on_disk = sorted(
        str(p.relative_to(CORPUS_DIR)) for p in CORPUS_DIR.rglob("*.json") if p.is_file()
    )
    listed = [f.file for f in CORPUS]
    assert len(listed) == len(set(listed)), "a file is listed twice in manifest.yaml"
    assert sorted(listed) == on_disk


def test_corpus_is_broad() -> None:
    assert len(CORPUS) >= 150
    for category in CATEGORIES:
        assert sum(f.category == category for f in CORPUS) >= 10, category
    assert {f.category for f in CORPUS} == set(CATEGORIES)


@pytest.mark.parametrize("entry", CORPUS, ids=corpus_ids(CORPUS))
def test_manifest_entry_is_consistent(entry: CorpusFile) -> None:
    known_rules = {r.id for r in all_rules()}
    assert entry.validate in ("ok", "reject")
    assert entry.start in ("ok", "fail")
    assert entry.source, "say where the start verdict comes from"
    if entry.validate == "reject":
        assert entry.start == "fail", "a file --validate rejects cannot start"
        assert entry.messages, "give a distinctive part of dockerd's message"
    else:
        assert not entry.messages
    base = entry.expectation("26.1")
    assert base is not None, "every file needs a 26.1 expectation"
    engines = [e.engine for e in entry.expect]
    assert len(engines) == len(set(engines))
    for exp in entry.expect:
        assert exp.verdict in VERDICTS
        for group in exp.rule_alternatives():
            assert set(group) <= known_rules, f"unknown rule id in {group}"
        assert (exp.line is None) == (exp.column is None)
    # what dockerd 26.1.5 refuses must be an error; what it runs must not be
    assert (base.verdict == "error") == entry.dockerd_refuses
    assert entry.category != "valid" or base.verdict in ("ok", "accept")
    assert entry.category != "warning" or base.verdict == "warning"
    assert entry.category not in ("invalid-validate", "invalid-start") or base.verdict == "error"
    assert entry.category != "invalid-start" or entry.validate == "ok"
    if entry.category == "version":
        assert len(entry.expect) > 1, "a version case needs another engine's expectation"


# --- the oracle ----------------------------------------------------------------


@pytest.mark.oracle
def test_oracle_is_debian_dockerd_26_1_5() -> None:
    assert "26.1.5" in dockerd_version()


@pytest.mark.oracle
@pytest.mark.parametrize("entry", CORPUS, ids=corpus_ids(CORPUS))
def test_dockerd_validate_agrees_with_manifest(entry: CorpusFile) -> None:
    got = dockerd_verdict(entry.file)
    if entry.validate == "ok":
        assert got.accepted, f"dockerd --validate rejected {entry.file}: {got.message}"
    else:
        assert not got.accepted, f"dockerd --validate accepted {entry.file}"
        for snippet in entry.messages:
            assert snippet in got.message, f"{snippet!r} not in {got.message!r}"
