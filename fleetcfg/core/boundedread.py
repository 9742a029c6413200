"""Reading the repo's files with a size bound.

The repo under review is untrusted (DESIGN.md, Trust model), and git keeps a
file of gigabytes of one repeated byte in a blob of a few megabytes: a pull
request can add a 300 MB profile that makes lint read, decode and lex it for
minutes, with gigabytes of memory. Every file fleetcfg reads from the repo
(inventory.yaml, profiles and the templates they include, ``file()``
secrets, ssh_config files) is read through :func:`read_bounded`, which never
reads more than its limit and one byte.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MIB = 1 << 20
#: profiles, the templates they include, ``file()`` secrets, ssh_config files
TEXT_LIMIT = 1 * MIB
#: inventory.yaml (about 40 to 60 bytes a host: 250,000 hosts fit; loading
#: takes about 80 times its size in memory: 6.4 MB for 2,000 hosts in 78 KB)
INVENTORY_LIMIT = 16 * MIB


def too_large(limit: int) -> str:
    """Why a file over ``limit`` bytes is not read (an OSError's strerror)."""
    return f"larger than {limit // MIB} MiB, the most fleetcfg reads of such a file"


def read_bounded(path: Path | str, limit: int) -> bytes:
    """The bytes of ``path``; ``OSError`` (errno EFBIG, its ``strerror`` says
    why) when it holds more than ``limit`` bytes. Reads at most ``limit`` + 1
    bytes, so a file of gigabytes costs nothing."""
    with Path(path).open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, too_large(limit), str(path))
    return data


def read_regular(path: Path | str, limit: int) -> bytes:
    """The bytes of ``path`` when it is a regular file of at most ``limit``
    bytes, else ``OSError`` (``strerror`` says why). For files that a repo
    under review may name anywhere on this machine (known_hosts, private
    keys, ssh_config): opened without blocking and refused unless regular, so
    that ``/dev/zero``, ``/dev/stdin`` or a named pipe neither fills the
    memory nor waits forever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, too_large(limit), str(path))
    return data


def work_tree(lexical: Path) -> Path:
    """The git work tree ``lexical`` lies in (the nearest folder above it with
    a ``.git``), else its own folder."""
    for folder in lexical.parents:
        if (folder / ".git").exists():
            return folder
    return lexical.parent


def link_out_of(path: Path | str) -> Path | None:
    """Where ``path`` leads when a symbolic link on its way takes it out of
    the repo it was named in, else None. The repo is the git work tree the
    path lies in (a CI job's checkout; a pull request cannot commit a
    ``.git``), or without git the path's own folder. A pull request can
    commit ``inventory.yaml`` (or a daemon.json that CI lints) as a link to
    ``/etc/shadow`` or ``~/.kube/config``: lint would print what it found
    there. Links within the repo are the repo's own content, but for git's
    own folder ``.git`` (in CI, ``.git/config`` holds the job's token)."""
    lexical = Path(os.path.abspath(path))  # noqa: PTH100 (lexical: links are not followed)
    resolved = lexical.resolve()
    top = work_tree(lexical).resolve()
    inside = resolved.is_relative_to(top) and ".git" not in resolved.relative_to(top).parts
    return None if inside else resolved


def larger_than(path: Path | str, limit: int) -> bool:
    """Whether ``path`` is a file of more than ``limit`` bytes (for readers
    that open the file themselves, such as Jinja's loader)."""
    try:
        return Path(path).stat().st_size > limit
    except OSError:
        return False
