"""Loads the STA and MISTY1 constant tables shipped with the package as tables.json."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


class TableSet(enum.Enum):
    """Which STA table set to use: meters in the field only accept the real tables."""

    REAL = "real"
    SAMPLE = "sample"


@dataclass(frozen=True, slots=True)
class StaTableData:
    sbox_bit0: tuple[int, ...]
    sbox_bit1: tuple[int, ...]
    permutation: tuple[int, ...]


@cache
def _raw() -> dict[str, Any]:
    text = resources.files("gridvend.sts").joinpath("tables.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _check_sbox(values: list[int]) -> tuple[int, ...]:
    if sorted(values) != list(range(16)):
        raise ValueError("STA S-box in tables.json is not a permutation of 0..15")
    return tuple(values)


def _check_permutation(values: list[int]) -> tuple[int, ...]:
    if sorted(values) != list(range(64)):
        raise ValueError("STA permutation in tables.json is not a permutation of 0..63")
    return tuple(values)


@cache
def sta_tables(table_set: TableSet) -> StaTableData:
    sta = _raw()["sta"]
    if table_set is TableSet.REAL:
        return StaTableData(
            _check_sbox(sta["encrypt_sbox_1_key_bit_0"]),
            _check_sbox(sta["encrypt_sbox_2_key_bit_1"]),
            _check_permutation(sta["encrypt_permutation_out_index_for_in_bit_i"]),
        )
    return StaTableData(
        _check_sbox(sta["sample_encrypt_sbox_1"]),
        _check_sbox(sta["sample_encrypt_sbox_2"]),
        _check_permutation(sta["sample_encrypt_permutation"]),
    )


@cache
def sta_published_decrypt_tables() -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """The real-table decryption S-boxes and inverse permutation as published (for cross-checks)."""
    sta = _raw()["sta"]
    return (
        tuple(sta["decrypt_sbox_1"]),
        tuple(sta["decrypt_sbox_2"]),
        tuple(sta["decrypt_permutation_out_index_for_in_bit_i"]),
    )


@cache
def misty1_sboxes() -> tuple[tuple[int, ...], tuple[int, ...]]:
    misty = _raw()["misty1"]
    s7 = tuple(misty["S7"])
    s9 = tuple(misty["S9"])
    if sorted(s7) != list(range(128)) or sorted(s9) != list(range(512)):
        raise ValueError("MISTY1 S-boxes in tables.json are not permutations")
    return s7, s9
