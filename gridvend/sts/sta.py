"""EA07, the STS Standard Transfer Algorithm (a 16-round SP network, not DES), table-driven."""

from __future__ import annotations

from functools import lru_cache

from gridvend.sts.tables import TableSet, sta_tables

MASK64 = (1 << 64) - 1
ROUNDS = 16

# One round touches each of the 8 bytes of the block once: a 256-entry table per byte position
# and S-box pair maps the byte to its substituted-and-permuted contribution, which is OR-able
# because the permutation is a bit permutation. So a round is 8 lookups instead of 64 bit moves.
_ByteTables = tuple[list[int], ...]


def _lookup(tables: _ByteTables, x: int) -> int:
    """One table-driven step: each byte of the block through its own table, ORed together."""
    t0, t1, t2, t3, t4, t5, t6, t7 = tables
    return (
        t0[x & 255]
        | t1[x >> 8 & 255]
        | t2[x >> 16 & 255]
        | t3[x >> 24 & 255]
        | t4[x >> 32 & 255]
        | t5[x >> 40 & 255]
        | t6[x >> 48 & 255]
        | t7[x >> 56]
    )


def _permute(value: int, permutation: tuple[int, ...]) -> int:
    out = 0
    for i in range(64):
        if value >> i & 1:
            out |= 1 << permutation[i]
    return out


def _invert(values: tuple[int, ...]) -> tuple[int, ...]:
    inverse = [0] * len(values)
    for i, v in enumerate(values):
        inverse[v] = i
    return tuple(inverse)


class _StaTableSet:
    """Key-independent lookup tables for one STA table set (built once per process)."""

    def __init__(self, table_set: TableSet) -> None:
        data = sta_tables(table_set)
        sboxes = (data.sbox_bit0, data.sbox_bit1)
        inv_sboxes = (_invert(data.sbox_bit0), _invert(data.sbox_bit1))
        perm = data.permutation
        inv_perm = _invert(perm)
        # [byte position][combo = low-nibble key bit | high-nibble key bit << 1] -> 256 entries
        self.enc: list[list[list[int]]] = []
        self.dec: list[list[list[int]]] = []
        self.inv_sub: list[list[list[int]]] = []
        self.inv_perm: list[list[int]] = []
        for j in range(8):
            shift = 8 * j
            self.inv_perm.append([_permute(b << shift, inv_perm) for b in range(256)])
            enc_j: list[list[int]] = []
            dec_j: list[list[int]] = []
            sub_j: list[list[int]] = []
            for combo in range(4):
                lo_box, hi_box = sboxes[combo & 1], sboxes[combo >> 1]
                lo_inv, hi_inv = inv_sboxes[combo & 1], inv_sboxes[combo >> 1]
                enc_j.append(
                    [
                        _permute((hi_box[b >> 4] << 4 | lo_box[b & 15]) << shift, perm)
                        for b in range(256)
                    ]
                )
                sub_j.append([(hi_inv[b >> 4] << 4 | lo_inv[b & 15]) << shift for b in range(256)])
                dec_j.append([_permute(v, inv_perm) for v in sub_j[-1]])
            self.enc.append(enc_j)
            self.dec.append(dec_j)
            self.inv_sub.append(sub_j)


@lru_cache(maxsize=2)
def _table_set(table_set: TableSet) -> _StaTableSet:
    return _StaTableSet(table_set)


def _round_keys(key: int) -> list[int]:
    inverted = ~key & MASK64
    k = ((inverted >> 12) | (inverted << 52)) & MASK64
    keys = []
    for _ in range(ROUNDS):
        keys.append(k)
        k = ((k << 1) | (k >> 63)) & MASK64
    return keys


def _combos(round_key: int) -> list[int]:
    # Nibble n is substituted with S-box 2 when bit 4n+3 of the round key is set.
    return [(round_key >> (8 * j + 3) & 1) | (round_key >> (8 * j + 7) & 1) << 1 for j in range(8)]


class StaCipher:
    """STA with one decoder key; holds the per-key round tables, never prints the key."""

    __slots__ = ("_dec_first", "_dec_last", "_dec_rounds", "_enc_rounds")

    def __init__(self, key: int, table_set: TableSet = TableSet.REAL) -> None:
        if not 0 <= key <= MASK64:
            raise ValueError("STA key must be a 64-bit integer")
        tables = _table_set(table_set)
        combos = [_combos(k) for k in _round_keys(key)]
        self._enc_rounds: list[_ByteTables] = [
            tuple(tables.enc[j][c[j]] for j in range(8)) for c in combos
        ]
        self._dec_first: _ByteTables = tuple(tables.inv_perm)
        self._dec_rounds: list[_ByteTables] = [
            tuple(tables.dec[j][c[j]] for j in range(8)) for c in reversed(combos[1:])
        ]
        self._dec_last: _ByteTables = tuple(tables.inv_sub[j][combos[0][j]] for j in range(8))

    def __repr__(self) -> str:
        return "StaCipher(<redacted>)"

    def encrypt_block(self, block: int) -> int:
        x = block
        for tables in self._enc_rounds:
            x = _lookup(tables, x)
        return x

    def decrypt_block(self, block: int) -> int:
        x = _lookup(self._dec_first, block)
        for tables in self._dec_rounds:
            x = _lookup(tables, x)
        return _lookup(self._dec_last, x)


def reference_encrypt(block: int, key: int, table_set: TableSet = TableSet.REAL) -> int:
    """Bit-by-bit STA exactly as written in the brief; slow, kept to cross-check the fast tables."""
    data = sta_tables(table_set)
    k = _round_keys(key)[0]
    x = block
    for _ in range(ROUNDS):
        substituted = 0
        for n in range(16):
            box = data.sbox_bit1 if k >> (4 * n + 3) & 1 else data.sbox_bit0
            substituted |= box[x >> (4 * n) & 15] << (4 * n)
        x = _permute(substituted, data.permutation)
        k = ((k << 1) | (k >> 63)) & MASK64
    return x


def reference_decrypt(block: int, key: int, table_set: TableSet = TableSet.REAL) -> int:
    """The meters' shortcut decryption (raw key, rotate right) bit by bit, for cross-checks."""
    data = sta_tables(table_set)
    dec_box0, dec_box1 = _invert(data.sbox_bit1), _invert(data.sbox_bit0)
    inv_perm = _invert(data.permutation)
    k = key
    x = block
    for _ in range(ROUNDS):
        x = _permute(x, inv_perm)
        out = 0
        for n in range(16):
            box = dec_box1 if k >> (4 * n) & 1 else dec_box0
            out |= box[x >> (4 * n) & 15] << (4 * n)
        x = out
        k = ((k >> 1) | (k << 63)) & MASK64
    return x
