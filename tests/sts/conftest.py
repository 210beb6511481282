"""Shared fixtures for the STS engine tests: the public compliance vectors and the test keys."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

# The package may not be installed into the environment (plain `pytest` from a fresh clone):
# make the repository root importable so `gridvend.sts` resolves without Django or pip.
_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

VECTORS_PATH = Path(__file__).parent / "vectors.json"
SHARED_VECTORS_PATH = Path(__file__).parents[2] / ".." / "shared" / "sts" / "vectors.json"

#: The public CTS test vending key (STS 531-1-0-02); never a production key.
TEST_VUDK_HEX = "ABABABABABABABAB"
#: The public CTS 160-bit vending key used with DKGA04.
TEST_VK160_HEX = "ABABABABABABABAB949494949494949401234567"


def load_vectors() -> list[dict[str, Any]]:
    return json.loads(VECTORS_PATH.read_text(encoding="utf-8"))["vectors"]


def vectors_of(*kinds: str) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in load_vectors() if v["kind"] in kinds]


@pytest.fixture(scope="session")
def all_vectors() -> list[dict[str, Any]]:
    return load_vectors()
