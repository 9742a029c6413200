"""known_hosts: what OpenSSH writes is understood, verdicts name the line,
accept-new appends safely from many threads."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import pytest

from fleetcfg.core.errors import HostKeyError
from fleetcfg.host.transport import known_hosts
from fleetcfg.host.transport.known_hosts import (
    KnownHostEntry,
    KnownHostsIndex,
    KnownHostsStore,
    Verdict,
    check_host_key,
    fingerprint,
    hash_hostname,
    host_matches,
    key_label,
    known_key_types,
    parse_known_hosts,
)
from tests.unit.transport.test_named_files import special

ED = "ssh-ed25519"
KEY_A = b"\x00\x00\x00\x0bssh-ed25519" + b"A" * 32
KEY_B = b"\x00\x00\x00\x0bssh-ed25519" + b"B" * 32
RSA = b"\x00\x00\x00\x07ssh-rsa" + b"R" * 64


def line(hosts: str, key_type: str, blob: bytes, marker: str = "") -> str:
    prefix = f"{marker} " if marker else ""
    return f"{prefix}{hosts} {key_type} {base64.b64encode(blob).decode()} comment\n"


def test_a_listed_key_is_known() -> None:
    entries = parse_known_hosts(line("web1,10.0.0.1", ED, KEY_A))
    assert check_host_key(entries, "10.0.0.1", ED, KEY_A).verdict is Verdict.KNOWN


def test_an_unlisted_host_is_unknown() -> None:
    entries = parse_known_hosts(line("web1", ED, KEY_A))
    assert check_host_key(entries, "web2", ED, KEY_A).verdict is Verdict.UNKNOWN


def test_a_different_key_of_the_same_type_is_a_change_and_names_the_line() -> None:
    text = "# fleet hosts\n\n" + line("db1", ED, KEY_B) + line("web1", ED, KEY_A)
    check = check_host_key(parse_known_hosts(text, "/kh"), "web1", ED, KEY_B)
    assert check.verdict is Verdict.CHANGED
    assert (check.entries[0].file, check.entries[0].line) == ("/kh", 4)


def test_a_key_of_another_type_is_new_not_changed_like_openssh() -> None:
    entries = parse_known_hosts(line("web1", "ssh-rsa", RSA))
    check = check_host_key(entries, "web1", ED, KEY_A)
    assert check.verdict is Verdict.UNKNOWN
    assert check.other_types == ("ssh-rsa",)


def test_hashed_entries_match_their_host_only() -> None:
    text = line(hash_hostname("10.0.0.1"), ED, KEY_A)
    entries = parse_known_hosts(text)
    assert check_host_key(entries, "10.0.0.1", ED, KEY_A).verdict is Verdict.KNOWN
    assert check_host_key(entries, "10.0.0.2", ED, KEY_A).verdict is Verdict.UNKNOWN


def test_hashed_entries_written_by_openssh_are_understood() -> None:
    # `ssh-keygen -H` output for 127.0.0.1 and [10.1.2.3]:2222
    text = (
        "|1|iDPM3lycgwSkI60Jj9YIRgXsE5g=|6JIs6NK2RJGtg1pQvqLkQnh/L9c= ssh-ed25519 QUFBQQ==\n"
        "|1|nNsgjnWGqMeBQ89+pU4p+PcoBNE=|y4yWOZUvkhNv5BTRVxlU3TcgNGk= ssh-ed25519 QUFBQQ==\n"
    )
    entries = parse_known_hosts(text)
    for name in ("127.0.0.1", "[10.1.2.3]:2222"):
        assert check_host_key(entries, name, ED, b"AAAA").verdict is Verdict.KNOWN
    assert check_host_key(entries, "10.1.2.3", ED, b"AAAA").verdict is Verdict.UNKNOWN


def test_non_default_ports_use_bracketed_names() -> None:
    entries = parse_known_hosts(line("[10.0.0.1]:2222", ED, KEY_A))
    assert check_host_key(entries, "[10.0.0.1]:2222", ED, KEY_A).verdict is Verdict.KNOWN
    assert check_host_key(entries, "10.0.0.1", ED, KEY_A).verdict is Verdict.UNKNOWN


def test_wildcards_and_negation_follow_openssh() -> None:
    assert host_matches(["*.example.com"], "web1.example.com")
    assert host_matches(["10.0.0.?"], "10.0.0.7")
    assert not host_matches(["*.example.com", "!db.example.com"], "db.example.com")
    assert host_matches(["WEB1"], "web1")
    assert not host_matches(["[10.0.0.1]:22"], "10.0.0.1")


def test_a_revoked_key_is_refused_even_if_listed() -> None:
    text = line("*", ED, KEY_A, "@revoked") + line("web1", ED, KEY_A)
    check = check_host_key(parse_known_hosts(text), "web1", ED, KEY_A)
    assert check.verdict is Verdict.REVOKED


def test_cert_authority_and_malformed_lines_are_skipped() -> None:
    text = line("*", ED, KEY_B, "@cert-authority") + "garbage\nweb1 ssh-ed25519 !!!\n"
    check = check_host_key(parse_known_hosts(text), "web1", ED, KEY_A)
    assert check.verdict is Verdict.UNKNOWN


def test_fingerprints_look_like_openssh() -> None:
    fp = fingerprint(KEY_A)
    assert fp.startswith("SHA256:") and not fp.endswith("=") and len(fp) == 7 + 43
    assert key_label("ssh-ed25519") == "ED25519"
    assert key_label("ecdsa-sha2-nistp256") == "ECDSA"
    assert key_label("ssh-rsa") == "RSA"


def test_accept_new_records_the_key_and_creates_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ssh" / "known_hosts"
    store = KnownHostsStore()
    assert store.add(str(path), "[10.0.0.1]:2222", ED, KEY_A, create=True).verdict is Verdict.KNOWN
    assert path.stat().st_mode & 0o777 == 0o600
    assert store.check([str(path)], "[10.0.0.1]:2222", ED, KEY_A).verdict is Verdict.KNOWN


def test_accept_new_never_overwrites_a_changed_key(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(line("web1", ED, KEY_A))
    check = KnownHostsStore().add(str(path), "web1", ED, KEY_B, create=False)
    assert check.verdict is Verdict.CHANGED
    assert path.read_text() == line("web1", ED, KEY_A)


def test_accept_new_can_hash_the_host_name(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    KnownHostsStore().add(str(path), "web1", ED, KEY_A, create=True, hashed=True)
    assert "web1" not in path.read_text()
    assert KnownHostsStore().check([str(path)], "web1", ED, KEY_A).verdict is Verdict.KNOWN


def test_accept_new_appends_after_a_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(line("web1", ED, KEY_A).rstrip("\n"))
    KnownHostsStore().add(str(path), "web2", ED, KEY_B, create=False)
    assert len(path.read_text().splitlines()) == 2


def test_concurrent_accepts_record_each_host_exactly_once(tmp_path: Path) -> None:
    path = str(tmp_path / "known_hosts")
    stores = [KnownHostsStore(), KnownHostsStore()]  # like two runs at once
    start = threading.Barrier(40)

    def accept(i: int) -> None:
        start.wait()
        stores[i % 2].add(path, f"10.0.0.{i % 20}", ED, KEY_A, create=True)

    threads = [threading.Thread(target=accept, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = [entry.patterns[0] for entry in parse_known_hosts(Path(path).read_text())]
    assert sorted(names) == sorted(f"10.0.0.{i}" for i in range(20))


def test_the_store_rereads_a_file_that_changed(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    store = KnownHostsStore()
    assert store.check([str(path)], "web1", ED, KEY_A).verdict is Verdict.UNKNOWN
    path.write_text(line("web1", ED, KEY_A))
    assert store.check([str(path)], "web1", ED, KEY_A).verdict is Verdict.KNOWN


MIXED = (
    line("web1,10.0.0.1", ED, KEY_A)
    + line(hash_hostname("[10.0.0.2]:2222"), ED, KEY_A)
    + line("WEB3", "ssh-rsa", RSA)
    + line("web3", ED, KEY_B)
    + line("*.example.com,!db.example.com", ED, KEY_B)
    + line("10.0.0.?", "ssh-rsa", RSA)
    + line(f"web*,!{hash_hostname('web9')}", ED, KEY_A)
    + line("*", ED, KEY_A, "@revoked")
    + line("*", ED, KEY_B, "@cert-authority")
)


@pytest.mark.parametrize(
    "name",
    [
        "web1",
        "WEB1",
        "10.0.0.1",
        "[10.0.0.2]:2222",
        "10.0.0.2",
        "web3",
        "app.example.com",
        "db.example.com",
        "10.0.0.7",
        "nowhere",
    ],
)
def test_the_index_finds_the_same_lines_as_matching_every_line(name: str) -> None:
    entries = parse_known_hosts(MIXED)
    scanned = [e for e in entries if e.marker is None and host_matches(e.patterns, name)]
    assert KnownHostsIndex(entries).lookup(name) == scanned


def test_plain_and_hashed_names_are_found_without_matching_patterns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fleet's known_hosts is one line per host: looking a host up must not
    match it against every line (quadratic in the fleet)."""
    text = "".join(line(f"[10.0.{i // 250}.{i % 250}]:22", ED, KEY_A) for i in range(500))
    text += line(hash_hostname("hashed-host"), ED, KEY_B)
    index = KnownHostsIndex(parse_known_hosts(text))

    def no_scan(self: KnownHostEntry, name: str) -> bool:
        raise AssertionError(f"pattern match of line {self.line} for {name}")

    monkeypatch.setattr(KnownHostEntry, "matches", no_scan)
    assert check_host_key(index, "[10.0.1.7]:22", ED, KEY_A).verdict is Verdict.KNOWN
    assert check_host_key(index, "hashed-host", ED, KEY_B).verdict is Verdict.KNOWN
    assert check_host_key(index, "other", ED, KEY_B).verdict is Verdict.UNKNOWN
    assert known_key_types(index, "[10.0.1.7]:22") == [ED]


def test_the_store_indexes_a_file_once_for_all_hosts(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(line("web1", ED, KEY_A) + line("web2", ED, KEY_B))
    store = KnownHostsStore()
    first = store.entries([str(path)])
    assert store.entries([str(path)]) is first
    assert [e.line for e in first] == [1, 2]
    path.write_text(line("web1", ED, KEY_A))
    assert len(store.entries([str(path)])) == 1


# -- a known_hosts path named by the repo under review -----------------------------


@pytest.mark.parametrize(
    "content",
    [
        "root:x:0:0:root:/root:/bin/bash\n",  # /etc/passwd
        "export PATH=$PATH:/opt/bin\n",  # ~/.bashrc
        "%sudo ALL=(ALL:ALL) ALL\n",  # /etc/sudoers.d/...
        line("web1", ED, KEY_A) + "not a host key line\n",
    ],
    ids=["passwd", "bashrc", "sudoers", "one-foreign-line"],
)
def test_accept_new_adds_no_line_to_a_file_that_is_not_a_known_hosts_file(
    tmp_path: Path, content: str
) -> None:
    # the attack: `ssh: {known_hosts: ~/.bashrc}` in a pull request's
    # inventory, and plan run with --accept-new-host-keys: fleetcfg appended
    # "ADDRESS ssh-ed25519 AAAA..." to whatever file the repo named
    path = tmp_path / "victim"
    path.write_text(content)
    with pytest.raises(HostKeyError) as caught:
        KnownHostsStore().add(str(path), "10.0.0.9", ED, KEY_B, create=True)
    assert "is not a known_hosts file" in caught.value.message
    assert str(path) in caught.value.message
    assert path.read_text() == content


def test_accept_new_creates_no_file_it_was_not_allowed_to(tmp_path: Path) -> None:
    # a new file anywhere (/etc/sudoers.d/x would stop sudo): only
    # ~/.ssh/known_hosts is created; any other file must exist already
    path = tmp_path / "sudoers.d" / "known_hosts"
    path.parent.mkdir()
    with pytest.raises(HostKeyError) as caught:
        KnownHostsStore().add(str(path), "10.0.0.9", ED, KEY_B, create=False)
    assert "does not exist" in caught.value.message and caught.value.hint
    assert f"touch {path}" in caught.value.hint
    assert not path.exists()
    path.touch()  # an empty file the operator made is a known_hosts file
    check = KnownHostsStore().add(str(path), "10.0.0.9", ED, KEY_B, create=False)
    assert check.verdict is Verdict.KNOWN and "10.0.0.9" in path.read_text()


def test_dev_null_records_nothing_and_reads_as_empty() -> None:
    store = KnownHostsStore()
    assert store.add("/dev/null", "10.0.0.9", ED, KEY_B, create=False).verdict is Verdict.KNOWN
    assert store.check(["/dev/null"], "10.0.0.9", ED, KEY_B).verdict is Verdict.UNKNOWN


@pytest.mark.parametrize("kind", ["zero", "fifo", "stdin"])
def test_a_known_hosts_path_that_is_not_a_file_is_an_error_not_a_hang(
    tmp_path: Path, kind: str
) -> None:
    # /dev/zero filled the memory (MemoryError on this machine), a named pipe
    # or /dev/stdin waited forever
    path = special(tmp_path, kind)
    store = KnownHostsStore()
    with pytest.raises(HostKeyError) as caught:
        store.check([path], "10.0.0.9", ED, KEY_B)
    assert caught.value.message == f"cannot use known_hosts file {path}: not a regular file"
    with pytest.raises(HostKeyError):
        store.add(path, "10.0.0.9", ED, KEY_B, create=False)


def test_a_known_hosts_file_past_the_bound_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(known_hosts, "KNOWN_HOSTS_LIMIT", 1024)
    path = tmp_path / "known_hosts"
    path.write_text(line("web1", ED, KEY_A) * 40)
    with pytest.raises(HostKeyError, match="larger than"):
        KnownHostsStore().check([str(path)], "web1", ED, KEY_A)
    with pytest.raises(HostKeyError, match="larger than"):
        KnownHostsStore().add(str(path), "web2", ED, KEY_B, create=False)
