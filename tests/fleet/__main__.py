"""``python -m tests.fleet start|stop|status|reset``: a fleet outside pytest
(benchmarks, manual testing). ``start`` leaves the sshd hosts running in the
background and prints where the client files are."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tests.fleet.config import DEFAULT_ENGINE_VERSION
from tests.fleet.errors import FleetError
from tests.fleet.fleet import Fleet


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.fleet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a fleet in the background")
    start.add_argument("--hosts", type=int, default=3, help="number of hosts (default 3)")
    start.add_argument("--dir", required=True, type=Path, help="the fleet's folder")
    start.add_argument("--block", default="127.0.30", help="address block (default 127.0.30)")
    start.add_argument("--engine", default=DEFAULT_ENGINE_VERSION, help="engine version")
    start.add_argument("--json", action="store_true", help="print a JSON description")
    start.add_argument(
        "--real", action="store_true", help="real containerd + dockerd on every host"
    )
    for name, text in (
        ("stop", "stop the fleet in DIR and delete its files"),
        ("status", "show the fleet in DIR"),
        ("reset", "reset every host of the fleet in DIR"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--dir", required=True, type=Path, help="the fleet's folder")
        if name == "status":
            cmd.add_argument("--json", action="store_true", help="print a JSON description")
    return parser


def _print_fleet(fleet: Fleet, *, as_json: bool) -> None:
    info = fleet.describe()
    if as_json:
        print(json.dumps(info, indent=2))
        return
    hosts = fleet.hosts
    print(f"fleet:        {len(hosts)} hosts, {hosts[0].address} .. {hosts[-1].address} port 22")
    print(f"dir:          {info['dir']}")
    print(f"ssh_config:   {info['ssh_config']}   (ssh -F {info['ssh_config']} {hosts[0].name})")
    print(f"known_hosts:  {info['known_hosts']}")
    print(f"identity:     {info['identity_file']}")
    print(f"stop:         python -m tests.fleet stop --dir {info['dir']}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "start":
            fleet = Fleet.start(
                args.hosts,
                base_dir=args.dir,
                address_block=args.block,
                engine_version=args.engine,
                detach=True,
                real=args.real,
            )
            _print_fleet(fleet, as_json=args.json)
        elif args.command == "stop":
            if not (args.dir / "fleet.json").exists():
                print(f"no fleet in {args.dir}", file=sys.stderr)
                return 0
            Fleet.attach(args.dir).stop_detached()
            print(f"stopped the fleet in {args.dir}")
        elif args.command == "status":
            fleet = Fleet.attach(args.dir)
            if not args.json:
                down = [h.name for h in fleet.hosts if not h.is_listening()]
                print(f"listening:    {len(fleet.hosts) - len(down)} of {len(fleet.hosts)} hosts")
                if down:
                    print(f"not listening: {', '.join(down)}")
            _print_fleet(fleet, as_json=args.json)
        elif args.command == "reset":
            Fleet.attach(args.dir).reset()
            print(f"reset {args.dir}")
    except FleetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
