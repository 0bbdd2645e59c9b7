"""A private file is never readable by others, at any moment, and never seen half written."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulkhead.plumbing.files import open_private, write_private


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def no_chmod(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any chmod is a test failure: the mode must be right from the file's first moment."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("chmod after creation")

    for name in ("chmod", "fchmod", "lchmod"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refuse)
    monkeypatch.setattr(Path, "chmod", refuse)


@pytest.mark.usefixtures("no_chmod", "permissive_umask")
def test_a_private_file_is_created_0600_without_a_chmod(tmp_path: Path) -> None:
    write_private(tmp_path / "secret.json", b"{}")
    assert mode_of(tmp_path / "secret.json") == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.json"]


@pytest.mark.usefixtures("permissive_umask")
def test_the_temporary_file_is_owner_only_before_its_first_byte(tmp_path: Path) -> None:
    with open_private(tmp_path / "secret") as handle:
        (temporary,) = [p for p in tmp_path.iterdir() if p.name != "secret"]
        assert mode_of(temporary) == 0o600
        assert temporary.stat().st_size == 0
        handle.write(b"key")
        handle.flush()
        assert mode_of(temporary) == 0o600
        assert not (tmp_path / "secret").exists()
    assert (tmp_path / "secret").read_bytes() == b"key"
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


def test_an_existing_0644_file_rewritten_becomes_0600(tmp_path: Path) -> None:
    target = tmp_path / "api.json"
    target.write_text("old")
    target.chmod(0o644)
    write_private(target, "new")
    assert mode_of(target) == 0o600
    assert target.read_text() == "new"


def test_an_existing_file_is_never_widened(tmp_path: Path) -> None:
    target = tmp_path / "key"
    target.write_text("old")
    target.chmod(0o400)
    write_private(target, "new", 0o644)
    assert mode_of(target) == 0o400
    assert target.read_text() == "new"


def test_a_file_others_must_read_gets_its_mode_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        write_private(tmp_path / "users.acl", "user default off\n", 0o644)
    finally:
        os.umask(previous)
    assert mode_of(tmp_path / "users.acl") == 0o644


def test_missing_folders_are_created_owner_only(tmp_path: Path) -> None:
    write_private(tmp_path / "secrets" / "alpha" / "api_key", "k\n")
    assert mode_of(tmp_path / "secrets") == 0o700
    assert mode_of(tmp_path / "secrets" / "alpha") == 0o700
    assert (tmp_path / "secrets" / "alpha" / "api_key").read_text() == "k\n"


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    write_private(folder / "file", b"x")
    assert mode_of(folder) == 0o755


def test_text_is_written_as_utf8(tmp_path: Path) -> None:
    write_private(tmp_path / "note", "Größe ✓")
    assert (tmp_path / "note").read_bytes() == "Größe ✓".encode()


def test_a_private_write_that_fails_removes_its_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_private(tmp_path / "secret.json", b"{}")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_keeps_the_old_file_and_leaves_nothing_else(
    tmp_path: Path,
) -> None:
    target = tmp_path / "state.json"
    write_private(target, "old")

    def interrupted() -> None:
        with open_private(target) as handle:
            handle.write(b"ne")
            raise ValueError("half way")

    with pytest.raises(ValueError, match="half way"):
        interrupted()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_planted_temporary_name_is_never_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / ".secret.planted.tmp").symlink_to(elsewhere)
    monkeypatch.setattr(secrets, "token_hex", lambda n: "planted")
    with pytest.raises(FileExistsError):
        write_private(tmp_path / "secret", b"key")
    assert not elsewhere.exists()
    assert not (tmp_path / "secret").exists()


def test_the_data_and_the_folder_are_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        synced.append(descriptor)
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    write_private(tmp_path / "snap.json", b"{}")
    assert len(synced) == 2  # the file, then the folder holding the new name


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
def test_an_owner_is_given_before_the_file_appears(tmp_path: Path) -> None:
    write_private(tmp_path / "secret", b"k", owner=(1000, 1000))
    info = (tmp_path / "secret").stat()
    assert (info.st_uid, info.st_gid) == (1000, 1000)
