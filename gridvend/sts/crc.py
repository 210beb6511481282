"""The STS token CRC: CRC-16/MODBUS over class ‖ payload, stored with its bytes swapped."""

from __future__ import annotations


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte
        for _ in range(8):
            reg = (reg >> 1) ^ 0xA001 if reg & 1 else reg >> 1
        table.append(reg)
    return tuple(table)


_TABLE = _table()


def crc16_modbus(data: bytes) -> int:
    reg = 0xFFFF
    for byte in data:
        reg = (reg >> 8) ^ _TABLE[(reg ^ byte) & 0xFF]
    return reg


def token_crc(first50: int, *, currency: bool = False) -> int:
    """CRC field for the 50 bits class ‖ subclass ‖ payload (CRC_C for currency tokens).

    CRC_C (class 0 subclasses 4-7) appends one byte 0x01; that rule has a single
    third-party source and is low confidence.
    """
    data = first50.to_bytes(7, "big")
    if currency:
        data += b"\x01"
    reg = crc16_modbus(data)
    # The field holds the register in Modbus transmission order: low byte first.
    return (reg & 0xFF) << 8 | reg >> 8
