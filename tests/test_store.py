"""Checkpoint files read back: whatever is not a whole record of the expected shape and identity is
set aside into damaged/ and reported, never read as a result and never blocking a rerun."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from glu_prune.errors import UserError
from glu_prune.store import CheckpointStore, check_writable, identity_key, shape_problem, writer_alive

IDENTITY = {"kind": "test", "x": 1}


def valid(record):
    return None if record["status"] != "done" else shape_problem(record["result"], {"value": int})


@pytest.fixture
def store(tmp_path):
    s = CheckpointStore(tmp_path / "ckpt", "test", valid)
    s.save(IDENTITY, {"value": 7}, "label")
    s.save({"kind": "other", "y": 2}, [1, 2, 3], "foreign")  # another kind sharing the folder
    return s


def test_a_saved_record_reads_back(store):
    assert store.load(IDENTITY, "label")["result"] == {"value": 7}
    assert [r["identity"] for r in store.records()] == [IDENTITY]  # its own kind only
    assert store.damaged == []


DAMAGE = [
    ('{"identity": {"kind": "te', "Unterminated string"),  # torn
    ("[1, 2, 3]", "a JSON list, not a checkpoint record"),
    ('"done"', "a JSON str"),
    ('{"status": "done", "result": {"value": 7}}', "no identity"),
    ('{"identity": {"kind": "test", "x": 2}, "status": "done", "result": {"value": 7}}', "file name"),
    ('{"identity": {"kind": "test", "x": 1}, "status": "finished", "result": {"value": 7}}', "status"),
    ('{"identity": {"kind": "test", "x": 1}, "status": "done", "result": "7"}', "a str, not an object"),
    ('{"identity": {"kind": "test", "x": 1}, "status": "done", "result": {"value": true}}', "'value'"),
    ('{"identity": {"kind": "test", "x": 1}, "status": "done", "result": {}}', "no 'value'"),
    (b"\xff\xfe\x00garbage", "codec can't decode"),
]


@pytest.mark.parametrize("text,problem", DAMAGE)
def test_damaged_record_is_set_aside_reported_and_missing(store, text, problem):
    path = store.path(IDENTITY, "label")
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.warns(UserWarning, match="damaged checkpoint") as caught:
        assert store.load(IDENTITY, "label") is None
    assert problem in str(caught[0].message) and path.name in str(caught[0].message)
    assert not path.exists() and [p.parent.name for p in store.damaged] == ["damaged"]
    assert store.damaged[0].read_bytes() == (text if isinstance(text, bytes) else text.encode())
    store.save(IDENTITY, {"value": 7}, "label")  # the redone work lands where the damaged file was
    assert store.load(IDENTITY, "label")["result"] == {"value": 7}


def test_stray_files_in_the_folder_are_set_aside_by_a_scan(store):
    (store.root / "notes.json").write_text("[]")  # a stray JSON list
    (store.root / "dir.json").mkdir()  # a directory with a record's name
    with pytest.warns(UserWarning, match="damaged checkpoint"):
        records = store.records()
    assert [r["identity"] for r in records] == [IDENTITY]
    assert sorted(p.name.split(".json")[0] for p in store.damaged) == ["dir", "notes"]
    assert store.records() == records  # nothing left to set aside


def test_a_failed_record_is_no_result_and_its_work_is_redone(store):
    store.save(IDENTITY, None, "label", status="failed", error="boom")
    assert store.load(IDENTITY, "label") is None and store.damaged == []


def test_check_writable_refuses_before_any_work(tmp_path, read_only):
    check_writable(tmp_path / "new" / "deeper", "folder")  # created later, inside a writable one
    locked = read_only(tmp_path / "locked")
    for path in (locked, locked / "sub"):
        with pytest.raises(UserError, match="is not writable"):
            check_writable(path, "checkpoint folder")
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="is not a directory"):
        check_writable(tmp_path / "file" / "sub", "folder")


def test_writer_alive_tells_a_gone_or_reused_pid():
    me = writer_alive(socket.gethostname(), os.getpid(), time.time())
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    gone = int(proc.stdout)
    assert me is True
    assert writer_alive(socket.gethostname(), gone, time.time()) is False
    assert writer_alive(socket.gethostname(), os.getpid(), time.time() - 3600) is False  # reused pid
    assert writer_alive("another-host", gone, time.time()) is True  # cannot be known from here


def test_identity_key_is_the_file_name():
    assert CheckpointStore("x").path(IDENTITY, "a b").name == f"a_b-{identity_key(IDENTITY)}.json"
