"""The web app's icon (a white check in a ring on the alert red), drawn as PNG in pure Python.

Drawn rather than shipped so there is no binary to keep in step with the design; each size is made
once per process (under a second for 512 px) and kept. The mark stays inside the central 60 % so the
icon is also fit to be masked (Android's round and squircle launchers).
"""

from __future__ import annotations

import functools
import math
import struct
import zlib

SIZES = (180, 192, 512)  # 180: iPhone's apple-touch-icon; 192 and 512: the manifest
BACKGROUND = (183, 28, 28)  # #b71c1c, the theme colour
THEME = "#b71c1c"
_CHECK = ((0.33, 0.51), (0.45, 0.63), (0.66, 0.40))
_RING_RADIUS, _RING_WIDTH, _CHECK_WIDTH = 0.29, 0.045, 0.075


def _segment_distance(px: float, py: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def _coverage(x: float, y: float, pixel: float) -> float:
    """How much of the white mark covers the point (antialiased over one pixel)."""
    ring = abs(math.hypot(x - 0.5, y - 0.5) - _RING_RADIUS) - _RING_WIDTH / 2
    check = min(_segment_distance(x, y, _CHECK[0], _CHECK[1]),
                _segment_distance(x, y, _CHECK[1], _CHECK[2])) - _CHECK_WIDTH / 2
    edge = min(ring, check)
    return max(0.0, min(1.0, 0.5 - edge / pixel))


@functools.cache
def icon_png(size: int) -> bytes:
    if size not in SIZES:
        raise ValueError(f"no icon of {size} px")
    pixel = 1.0 / size
    r0, g0, b0 = BACKGROUND
    rows = bytearray()
    for j in range(size):
        rows.append(0)  # filter: none
        y = (j + 0.5) * pixel
        near = abs(y - 0.5) <= _RING_RADIUS + _RING_WIDTH
        for i in range(size):
            a = _coverage((i + 0.5) * pixel, y, pixel) if near else 0.0
            rows += bytes((round(r0 + (255 - r0) * a), round(g0 + (255 - g0) * a), round(b0 + (255 - b0) * a)))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b"")
