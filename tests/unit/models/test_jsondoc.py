"""dockerd-compatible decoding: Go's messages, positions, encodings."""

from __future__ import annotations

import codecs

import pytest

from fleetcfg.core.jsondoc import JsonSyntaxError, format_loc, loads_fast, parse_document


@pytest.mark.parametrize(
    ("raw", "message", "line", "column"),
    [
        (
            b'{"debug": true,}',
            "invalid character '}' looking for beginning of object key string",
            1,
            16,
        ),
        (b"{/* c */}", "invalid character '/' looking for beginning of object key string", 1, 2),
        (
            b"{'debug': true}",
            "invalid character '\\'' looking for beginning of object key string",
            1,
            2,
        ),
        (
            b"{debug: true}",
            "invalid character 'd' looking for beginning of object key string",
            1,
            2,
        ),
        (b'{"debug": true}{}', "invalid character '{' after top-level value", 1, 16),
        (b'{"debug": true', "unexpected end of JSON input", 1, 15),
        (b'{"a": NaN}', "invalid character 'N' looking for beginning of value", 1, 7),
        (b'{"mtu": 01}', "invalid character '1' after object key:value pair", 1, 10),
        (b'{"mtu": 1.}', "invalid character '}' after decimal point in numeric literal", 1, 11),
        (b'{"x": "a\tb"}', "invalid character '\\t' in string literal", 1, 9),
        (b'{"debug": tru }', "invalid character ' ' in literal true (expecting 'e')", 1, 14),
        (b'{"a": nul', "invalid character ' ' in literal null (expecting 'l')", 1, 10),
        (b'{"a": [1,]}', "invalid character ']' looking for beginning of value", 1, 10),
        (
            b'{\n  "a": {"b": 1,\n   }\n}',
            "invalid character '}' looking for beginning of object key string",
            3,
            4,
        ),
        (
            b'{"mtu": 1E400}',
            "json: cannot unmarshal number 1E400 into Go value of type float64",
            1,
            9,
        ),
    ],
)
def test_syntax_errors_use_dockerds_wording_and_point_at_the_character(raw, message, line, column):
    with pytest.raises(JsonSyntaxError) as err:
        parse_document(raw, file="daemon.json")
    assert err.value.go_message == message
    assert (err.value.line, err.value.column) == (line, column)
    assert err.value.file == "daemon.json"


def test_trailing_comma_gets_a_hint_a_person_understands():
    with pytest.raises(JsonSyntaxError) as err:
        parse_document(b'{"debug": true,\n}')
    assert "trailing comma" in err.value.hint_text


def test_invalid_utf8_points_at_the_bad_byte():
    with pytest.raises(JsonSyntaxError) as err:
        parse_document(b'{\n  "labels": ["a=\xe9"]\n}')
    assert "invalid UTF-8" in err.value.go_message
    assert (err.value.line, err.value.column) == (2, 17)


@pytest.mark.parametrize("raw", [b"", b"  \n\t ", b"\x0c"])
def test_empty_file_is_an_empty_config(raw):
    doc = parse_document(raw)
    assert doc.value == {} and doc.empty


@pytest.mark.parametrize(
    "raw",
    [
        codecs.BOM_UTF8 + b'{"debug": true}',
        codecs.BOM_UTF16_LE + '{"debug": true}'.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + '{"debug": true}'.encode("utf-16-be"),
    ],
)
def test_byte_order_marks_are_accepted_like_dockerd(raw):
    assert parse_document(raw).value == {"debug": True}
    assert loads_fast(raw) == {"debug": True}


def test_top_level_null_is_returned_as_is():
    assert parse_document(b"null").value is None


def test_key_positions_are_recorded_for_nested_keys_and_list_items():
    doc = parse_document(
        b'{\n  "log-opts": {\n    "max-size": "10m"\n  },\n  "dns": ["1.1.1.1"]\n}'
    )
    assert doc.locate(("log-opts", "max-size")).line == 3
    assert doc.locate(("dns", 0)).line == 5
    assert doc.locate(("log-opts", "max-size", "deeper")).line == 3


def test_duplicate_keys_keep_the_last_value_and_remember_the_first():
    doc = parse_document(b'{"debug": "x",\n "debug": true}')
    assert doc.value == {"debug": True}
    [(loc, first, last)] = doc.duplicates
    assert loc == ("debug",) and first.line == 1 and last.line == 2
    assert [(loc, value) for loc, value, _ in doc.shadowed] == [(("debug",), "x")]


def test_numbers_keep_their_literal_for_messages():
    doc = parse_document(b'{"mtu": 3.0, "n": 1e3, "i": 7}')
    assert repr(doc.value["mtu"]) == "3.0" and repr(doc.value["n"]) == "1e3"
    assert isinstance(doc.value["i"], int)


def test_surrogate_escapes_decode_like_go():
    assert parse_document(b'{"a": "\\ud83d\\ude00", "b": "\\ud800"}').value == {
        "a": "\U0001f600",
        "b": "\ufffd",
    }


def test_fast_path_agrees_with_the_positional_parser_on_errors():
    with pytest.raises(JsonSyntaxError):
        loads_fast(b'{"a": NaN}')
    with pytest.raises(JsonSyntaxError):
        loads_fast(b'{"a": 1}{}')


def test_key_paths_read_naturally():
    assert format_loc(("log-opts", "max-size")) == "log-opts.max-size"
    assert format_loc(("default-address-pools", 0, "size")) == "default-address-pools[0].size"
    assert format_loc(("labels", "a.b")) == 'labels["a.b"]'


@pytest.mark.parametrize("digits", [400, 5000])
def test_an_integer_past_a_64_bit_float_is_dockerds_error_not_a_crash(digits):
    # dockerd decodes every number as a float64 first: 1 and 400 zeros is
    # "cannot unmarshal number ... into Go value of type float64" (checked
    # with Debian's dockerd 26.1.5, in a known key and an unknown one). Past
    # 4300 digits Python's int() raised a ValueError: a host user's 5 KB
    # config.json made plan and apply fail as "a bug in fleetcfg", and apply
    # left the host's lock behind
    raw = b'{"x": 1' + b"0" * digits + b"}"
    for decode in (lambda: parse_document(raw, file="config.json"), lambda: loads_fast(raw)):
        with pytest.raises(JsonSyntaxError) as err:
            decode()
        assert err.value.go_message.endswith("into Go value of type float64")
        assert (err.value.line, err.value.column) == (1, 7)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"x": "\\ud800"}', "\ufffd"),
        (b'{"x": "a\\uDFFFb"}', "a\ufffdb"),
        (b'{"x": "\\ud83d\\ude00"}', "\U0001f600"),
        (b'{"x": "\\\\ud800"}', "\\ud800"),
    ],
)
def test_the_fast_path_decodes_a_lone_surrogate_escape_like_go(raw, value):
    # json.loads kept "\ud800" as a lone surrogate, which no UTF-8 encoder
    # takes: a host user's config.json holding it made plan (and apply,
    # under the lock) fail as "unexpected UnicodeEncodeError, a bug in
    # fleetcfg". Go, and the positional parser, decode it to U+FFFD
    assert loads_fast(raw) == parse_document(raw).value == {"x": value}
