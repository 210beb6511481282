"""`gridvend backup` and `gridvend restore` as an operator runs them, on a demo utility in
databases of their own (issue 19: a backup of the demo restores and verifies; a tampered one is
refused). The test uses no test database of the suite: everything runs in child processes, so it
carries no django_db mark (a transactional mark flushed the worker's database afterwards and left
its audit heads behind its events, failing every later test of that worker)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.operations.test_backup import _count_in, _target_holds_tables, fresh_database

__all__ = ["fresh_database"]


@pytest.mark.long
def test_the_commands_back_up_and_restore_a_demo_database(
    tmp_path: Path, fresh_database: Callable[[], str]
) -> None:
    """`gridvend backup` and `gridvend restore` as an operator runs them, on the demo utility in
    a database of its own (issue 19: a backup of the demo restores and verifies)."""
    environ = {
        **os.environ,
        "GRIDVEND_DATABASE_URL": fresh_database(),
        "GRIDVEND_VAR_DIR": str(tmp_path / "var"),
        "GRIDVEND_BACKUP_KEY": secrets.token_hex(32),
        "GRIDVEND_BACKUP_DIR": str(tmp_path / "backups"),
        "GRIDVEND_DEMO": "1",
        "GRIDVEND_REQUIRE_ADMIN_TOTP": "false",
    }
    gridvend = [sys.executable, "-m", "gridvend"]

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*gridvend, *args], env=environ, capture_output=True, text=True, check=False
        )
        if check:
            assert done.returncode == 0, done.stderr[-2000:]
        return done

    run("migrate", "--verbosity", "0")
    run("demo")
    made = run("backup")
    assert "backup written:" in made.stdout
    (path,) = (tmp_path / "backups").glob("*.gvbackup")
    assert "authentic" in run("backup", "verify", str(path)).stdout
    target = fresh_database()
    restored = run("restore", str(path), "--database-url", target)
    assert restored.stdout.strip().endswith("restore verified"), restored.stdout
    assert "FAIL" not in restored.stdout
    assert _count_in(target, "vending_sale") > 0  # the demo sold, and the sales came back
    # A tampered copy is refused with its code, and nothing is written.
    tampered = tmp_path / "tampered.gvbackup"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    tampered.write_bytes(bytes(data))
    untouched = fresh_database()
    refused = run("restore", str(tampered), "--database-url", untouched, check=False)
    assert refused.returncode != 0 and "BACKUP_TAMPERED" in refused.stderr
    assert not _target_holds_tables(untouched)
