"""EA11: the MISTY1 block cipher (RFC 2994), written in-house for STS 128-bit decoder keys."""

from __future__ import annotations

from gridvend.sts.tables import misty1_sboxes

MASK32 = 0xFFFFFFFF
MASK64 = (1 << 64) - 1


class Misty1Cipher:
    """MISTY1 with one 128-bit key; the expanded key is computed once per instance."""

    __slots__ = ("_ek", "_s7", "_s9")

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("MISTY1 key must be 16 bytes")
        self._s7, self._s9 = misty1_sboxes()
        k = [int.from_bytes(key[2 * i : 2 * i + 2], "big") for i in range(8)]
        self._ek = k + [self._fi(k[i], k[(i + 1) % 8]) for i in range(8)]

    def __repr__(self) -> str:
        return "Misty1Cipher(<redacted>)"

    def _fi(self, fi_in: int, fi_key: int) -> int:
        s7, s9 = self._s7, self._s9
        d9 = fi_in >> 7
        d7 = fi_in & 0x7F
        d9 = s9[d9] ^ d7
        d7 = (s7[d7] ^ d9) & 0x7F
        d7 ^= fi_key >> 9
        d9 ^= fi_key & 0x1FF
        d9 = s9[d9] ^ d7
        return d7 << 9 | d9

    def _fo(self, fo_in: int, k: int) -> int:
        ek = self._ek
        t0 = fo_in >> 16
        t1 = fo_in & 0xFFFF
        t0 ^= ek[k]
        t0 = self._fi(t0, ek[(k + 5) % 8 + 8])
        t0 ^= t1
        t1 ^= ek[(k + 2) % 8]
        t1 = self._fi(t1, ek[(k + 1) % 8 + 8])
        t1 ^= t0
        t0 ^= ek[(k + 7) % 8]
        t0 = self._fi(t0, ek[(k + 3) % 8 + 8])
        t0 ^= t1
        t1 ^= ek[(k + 4) % 8]
        return t1 << 16 | t0

    def _fl(self, fl_in: int, k: int) -> int:
        ek = self._ek
        d0 = fl_in >> 16
        d1 = fl_in & 0xFFFF
        if k % 2 == 0:
            d1 ^= d0 & ek[k // 2]
            d0 ^= d1 | ek[(k // 2 + 6) % 8 + 8]
        else:
            d1 ^= d0 & ek[((k - 1) // 2 + 2) % 8 + 8]
            d0 ^= d1 | ek[((k - 1) // 2 + 4) % 8]
        return d0 << 16 | d1

    def _flinv(self, fl_in: int, k: int) -> int:
        ek = self._ek
        d0 = fl_in >> 16
        d1 = fl_in & 0xFFFF
        if k % 2 == 0:
            d0 ^= d1 | ek[(k // 2 + 6) % 8 + 8]
            d1 ^= d0 & ek[k // 2]
        else:
            d0 ^= d1 | ek[((k - 1) // 2 + 4) % 8]
            d1 ^= d0 & ek[((k - 1) // 2 + 2) % 8 + 8]
        return d0 << 16 | d1

    def encrypt_block(self, block: int) -> int:
        d0 = block >> 32
        d1 = block & MASK32
        for rnd in range(0, 8, 2):
            # An FL layer precedes every pair of Feistel rounds (RFC 2994 section 2.2.1).
            d0 = self._fl(d0, rnd)
            d1 = self._fl(d1, rnd + 1)
            d1 ^= self._fo(d0, rnd)
            d0 ^= self._fo(d1, rnd + 1)
        d0 = self._fl(d0, 8)
        d1 = self._fl(d1, 9)
        return d1 << 32 | d0

    def decrypt_block(self, block: int) -> int:
        d1 = block >> 32
        d0 = block & MASK32
        d0 = self._flinv(d0, 8)
        d1 = self._flinv(d1, 9)
        for rnd in range(6, -1, -2):
            d0 ^= self._fo(d1, rnd + 1)
            d1 ^= self._fo(d0, rnd)
            d0 = self._flinv(d0, rnd)
            d1 = self._flinv(d1, rnd + 1)
        return d0 << 32 | d1
