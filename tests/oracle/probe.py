"""Explore dockerd 26.1.5 (the oracle) beyond the reference. Not a test.

    python -m tests.oracle.probe run '{"debug": "true"}' FILE.json ...
    python -m tests.oracle.probe keys      # every key that passes the unknown-key check
    python -m tests.oracle.probe fields    # which of those keys dockerd actually decodes
    python -m tests.oracle.probe syntax    # Go JSON syntax error texts
    python -m tests.oracle.probe types     # type error shapes per key kind

Findings go to tests/oracle/NOTES.md.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from tests.oracle.dockerd import dockerd_binary, validate_bytes, validate_many_bytes

_UNKNOWN_RE = re.compile(r"don't match any configuration option: (.*)")


def _show(label: str, raw: bytes) -> None:
    v = validate_bytes(raw)
    verdict = "OK    " if v.accepted else "REJECT"
    print(f"{verdict} {label}\n       {v.error}")


def cmd_run(args: argparse.Namespace) -> None:
    for item in args.items:
        p = Path(item)
        if p.is_file():
            _show(str(p), p.read_bytes())
        else:
            _show(item, item.encode())


def _strings(binary: Path) -> list[str]:
    out = subprocess.run(
        ["strings", "-n", "2", str(binary)], capture_output=True, text=True, check=False
    )
    return out.stdout.split("\n")


def candidate_keys(binary: Path, max_len: int = 45) -> set[str]:
    """Every lowercase kebab-case substring of the binary's string data.

    Go packs string literals back to back, so ``strings`` prints runs such as
    ``containerd-plugins-namespacePath to...``: we take every substring of every
    lowercase run (bounded length) and let dockerd tell us which are flag names.
    """
    cands: set[str] = set()
    for line in _strings(binary):
        for run in re.findall(r"[a-z][a-z0-9-]*", line):
            n = len(run)
            for i in range(n):
                if not run[i].isalpha():
                    continue
                for j in range(i + 1, min(n, i + max_len) + 1):
                    s = run[i:j]
                    if s[-1] != "-" and "--" not in s and ("-" in s or len(s) <= 16):
                        cands.add(s)
    return cands


def accepted_keys(cands: set[str]) -> set[str]:
    """Put every candidate into one file (values null) and read back the unknown ones."""
    doc = json.dumps(dict.fromkeys(sorted(cands))).encode()
    v = validate_bytes(doc)
    if v.accepted:
        return set(cands)
    m = _UNKNOWN_RE.search(v.message)
    if not m:
        raise SystemExit(f"unexpected dockerd output: {v.message[:500]}")
    unknown = {k.strip() for k in m.group(1).split(",")}
    return cands - unknown


def cmd_keys(args: argparse.Namespace) -> None:
    cands = candidate_keys(dockerd_binary())
    keys = sorted(accepted_keys(cands))
    print(f"# {len(cands)} candidates, {len(keys)} accepted as top-level keys")
    for k in keys:
        print(k)


#: a value no Go type in Config accepts except interface{} (a nested array of numbers)
_BAD_VALUE = [[1]]


def cmd_fields(args: argparse.Namespace) -> None:
    """A key whose value ``[[1]]`` gives a json type error is decoded into Config;
    a key dockerd accepts with that value is never read (ignored)."""
    keys = sorted(accepted_keys(candidate_keys(dockerd_binary())))
    docs = {k: json.dumps({k: _BAD_VALUE}).encode() for k in keys}
    for k, v in sorted(validate_many_bytes(docs).items()):
        kind = "IGNORED" if v.accepted else "FIELD  "
        print(f"{kind} {k:36} {'' if v.accepted else v.error}")


SYNTAX_CASES: dict[str, bytes] = {
    "line comment": b'{\n  // c\n  "debug": true\n}\n',
    "block comment": b'{\n  /* c */ "debug": true\n}\n',
    "hash comment": b'# c\n{"debug": true}\n',
    "trailing comma object": b'{\n  "debug": true,\n}\n',
    "trailing comma array": b'{\n  "dns": ["1.1.1.1",]\n}\n',
    "single quotes": b"{\n  'debug': true\n}\n",
    "unquoted key": b"{\n  debug: true\n}\n",
    "trailing data": b'{"debug": true}\n{"debug": false}\n',
    "trailing garbage": b'{"debug": true} x\n',
    "truncated": b'{\n  "debug": true\n',
    "truncated in string": b'{\n  "data-root": "/var/li',
    "only open brace": b"{",
    "NaN": b'{\n  "mtu": NaN\n}\n',
    "Infinity": b'{\n  "mtu": Infinity\n}\n',
    "leading zero": b'{\n  "mtu": 01500\n}\n',
    "plus sign": b'{\n  "mtu": +1500\n}\n',
    "hex number": b'{\n  "mtu": 0x5dc\n}\n',
    "missing colon": b'{\n  "debug" true\n}\n',
    "missing comma": b'{\n  "debug": true\n  "ipv6": false\n}\n',
    "capital True": b'{\n  "debug": True\n}\n',
    "misspelt literal": b'{\n  "debug": ture\n}\n',
    "space in literal": b'{\n  "debug": t rue\n}\n',
    "control char in string": b'{\n  "data-root": "/var/\tlib"\n}\n',
    "bad escape": b'{\n  "data-root": "C:\\docker"\n}\n',
    "invalid utf-8 in string": b'{\n  "data-root": "/var/\xff"\n}\n',
    "invalid utf-8 in key": b'{\n  "\xc3(": true\n}\n',
    "nul byte": b'{"debug": true}\x00',
    "utf-32 bom": b"\x00\x00\xfe\xff" + '{"debug": true}'.encode("utf-32-be"),
    "utf-16 without bom": '{"debug": true}'.encode("utf-16-le"),
    "unclosed array": b'{\n  "dns": ["1.1.1.1"\n}\n',
    "extra close": b'{"debug": true}}\n',
    "top-level array": b"[]\n",
    "top-level string": b'"debug"\n',
    "top-level number": b"42\n",
    "top-level true": b"true\n",
    "top-level null": b"null\n",
}


def cmd_syntax(args: argparse.Namespace) -> None:
    for label, v in validate_many_bytes(SYNTAX_CASES).items():
        print(f"{'OK    ' if v.accepted else 'REJECT'} {label:28} {v.error}")


TYPE_CASES: dict[str, object] = {
    "bool as string": {"debug": "true"},
    "bool as 1": {"debug": 1},
    "bool nested (ipv6)": {"ipv6": "yes"},
    "bool live-restore 0": {"live-restore": 0},
    "int as string": {"mtu": "1500"},
    "int as float": {"mtu": 1500.0},
    "int as 1e3": {"mtu": 1e3},
    "int 3.5": {"max-concurrent-downloads": 3.5},
    "int huge": {"mtu": 99999999999999999999},
    "string as int": {"data-root": 5},
    "string as bool": {"log-driver": True},
    "list as string": {"labels": "a=b"},
    "list of ints": {"dns-search": [1]},
    "map as list": {"log-opts": ["max-size=10m"]},
    "log-opts number": {"log-opts": {"max-file": 3}},
    "log-opts bool": {"log-opts": {"compress": True}},
    "features string": {"features": {"buildkit": "true"}},
    "default-shm-size number": {"default-shm-size": 67108864},
    "default-shm-size bad suffix": {"default-shm-size": "64q"},
    "default-network-opts number": {
        "default-network-opts": {"bridge": {"com.docker.network.bridge.mtu": 1400}}
    },
    "default-ulimits string": {"default-ulimits": {"nofile": "1024:2048"}},
    "runtimes path number": {"runtimes": {"x": {"path": 5}}},
    "pool size string": {"default-address-pools": [{"base": "10.0.0.0/8", "size": "24"}]},
    "builder gc enabled string": {"builder": {"gc": {"enabled": "true"}}},
    "dns not ip": {"dns": ["1.1.1.1o"]},
    "ip not ip": {"ip": "localhost"},
    "proxies string": {"proxies": "http://proxy:3128"},
    "proxies http number": {"proxies": {"http-proxy": 3}},
}


def cmd_types(args: argparse.Namespace) -> None:
    docs = {label: json.dumps(doc).encode() for label, doc in TYPE_CASES.items()}
    for label, v in validate_many_bytes(docs).items():
        print(f"{'OK    ' if v.accepted else 'REJECT'} {label:28} {v.error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="validate JSON snippets or files")
    run.add_argument("items", nargs="+")
    run.set_defaults(func=cmd_run)
    for name, func in (
        ("keys", cmd_keys),
        ("fields", cmd_fields),
        ("syntax", cmd_syntax),
        ("types", cmd_types),
    ):
        sub.add_parser(name).set_defaults(func=func)
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
