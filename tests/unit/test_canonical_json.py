"""canonical_json writes exactly what json.dumps(indent=2, sort_keys=True,
ensure_ascii=False) writes: every file fleetcfg wrote before keeps its bytes
(and its sha256, which saved plans and state.json record)."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetcfg.core.hashing import canonical_json


def _reference(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _values, max_size=6))
def test_the_bytes_are_those_json_dumps_writes(data: dict[str, Any]) -> None:
    assert canonical_json(data) == _reference(data)


@pytest.mark.parametrize(
    "data",
    [
        {1: "an int key", 2: "b"},
        {"a": {True: 1, False: 2}, "b": {1.5: 3, 0.5: 4}},
        OrderedDict(b=1, a=2),
        {"a": [OrderedDict(z=1, y=None)]},
        {'é\u2028\x00"\\': "\U0001f600 \x7f \u202e"},
        {"n": float("nan"), "i": -float("inf"), "big": 10**30, "e": 1e-7},
    ],
)
def test_keys_and_types_json_dumps_handles_its_own_way_come_out_the_same(
    data: dict[Any, Any],
) -> None:
    assert canonical_json(data) == _reference(data)


@pytest.mark.parametrize(
    "data", [{"a": 1, 2: "b"}, {"a": {None: 1, True: 2}}, {"a": {1, 2}}, {"a": object()}]
)
def test_what_json_dumps_refuses_is_refused_the_same_way(data: dict[Any, Any]) -> None:
    with pytest.raises(TypeError) as ours:
        canonical_json(data)
    with pytest.raises(TypeError) as theirs:
        _reference(data)
    assert str(ours.value) == str(theirs.value)
