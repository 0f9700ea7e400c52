"""A PDF written page by page, in constant memory however many pages (a city's 200,000 letters in one file).

Why not reportlab: its canvas keeps every page of a document until `save()` (26 KB a letter page, measured:
about 5 GB for a city). Here a page goes to the file when it is added; what stays is one offset per
object. Text uses the standard Japanese CID font HeiseiKakuGo-W5 through the predefined CMap
UniJIS-UCS2-HW-H (ASCII as half-width glyphs, so widths are known without font files), not embedded:
PDF viewers and printers supply their Japanese Gothic for it, as they do for reportlab's CID fonts.
Repeated content (a letter's fixed half) is a Form XObject, written once and drawn by reference.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Sequence
from typing import BinaryIO

FONT = "HeiseiKakuGo-W5"
ENCODING = "UniJIS-UCS2-HW-H"
PAGE_W, PAGE_H = 595.28, 841.89  # A4 in points
_KIDS_PER_NODE = 256
_GETA = "〓"
_SPACES = {" ": 500, "\u3000": 1000}  # width in thousandths of an em  # 下駄記号: the typesetter's stand-in for a character the font cannot set


def _half_width(ch: str) -> bool:
    o = ord(ch)
    return 0x20 <= o <= 0x7E or 0xFF61 <= o <= 0xFF9F


def text_width(text: str, size: float) -> float:
    """Width in points: ASCII and half-width katakana are half an em, everything else a full em."""
    return size * sum(0.5 if _half_width(ch) else 1.0 for ch in text)


def _settable(ch: str) -> str:
    if ord(ch) > 0xFFFF:  # outside UCS-2 (e.g. 𠮷): the CMap cannot reach it
        return _GETA
    if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
        return " "
    return ch


def _hex(text: str) -> str:
    return "".join(_settable(ch) for ch in text).encode("utf-16-be").hex()


def _num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


class Canvas:
    """Drawing operators of one page or form. y grows upwards from the bottom edge, as in PDF."""

    def __init__(self) -> None:
        self.ops: list[str] = []

    def text(self, x: float, y: float, size: float, text: str, gray: float = 0.0) -> None:
        # Spaces are moves, not glyphs: substituted fonts (poppler's) draw the half-width space as a box.
        parts: list[str] = []
        run = ""
        for ch in text:
            if ch in _SPACES:
                if run:
                    parts.append(f"<{_hex(run)}>")
                    run = ""
                parts.append(str(-_SPACES[ch]))
            else:
                run += ch
        if run:
            parts.append(f"<{_hex(run)}>")
        self.ops.append(f"{_num(gray)} g BT /F1 {_num(size)} Tf {_num(x)} {_num(y)} Td [{' '.join(parts)}] TJ ET")

    def rect(self, x: float, y: float, w: float, h: float, *, line: float = 0.8, gray: float = 0.0) -> None:
        self.ops.append(f"{_num(gray)} G {_num(line)} w {_num(x)} {_num(y)} {_num(w)} {_num(h)} re S")

    def hline(self, x1: float, x2: float, y: float, *, line: float = 0.5, gray: float = 0.5) -> None:
        self.ops.append(f"{_num(gray)} G {_num(line)} w {_num(x1)} {_num(y)} m {_num(x2)} {_num(y)} l S")

    def matrix(self, rows: Sequence[Sequence[int]], x: float, y: float, size: float) -> None:
        """A QR code's modules (top row first, quiet zone included) as black runs in a `size` square."""
        n = len(rows)
        cell = size / n
        out = ["0 g"]
        for r, row in enumerate(rows):
            top = y + size - (r + 1) * cell
            c = 0
            while c < n:
                if row[c]:
                    start = c
                    while c < n and row[c]:
                        c += 1
                    out.append(f"{_num(x + start * cell)} {_num(top)} {_num((c - start) * cell)} {_num(cell)} re")
                else:
                    c += 1
        out.append("f")
        self.ops.append(" ".join(out))

    def form(self, name: str) -> None:
        self.ops.append(f"/{name} Do")

    def data(self) -> bytes:
        return "\n".join(self.ops).encode("ascii")


class PdfStream:
    """Pages appended to an open binary file; `close()` writes the page tree, the index and the trailer."""

    def __init__(self, out: BinaryIO, title: str = "") -> None:
        self.out = out
        self.title = title
        self._pos = 0
        self._offsets = array("Q", [0])  # by object number; 0 is the free head
        self._forms: dict[str, int] = {}
        self._nodes: list[tuple[int, int]] = []  # (object, pages) of the filled nodes under the root
        self._node = 0
        self._kids: list[int] = []
        self.pages = 0
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        self._catalog, self._root = self._reserve(), self._reserve()
        self._font = self._reserve()
        cid, descriptor = self._reserve(), self._reserve()
        self._object(self._font, f"<< /Type /Font /Subtype /Type0 /BaseFont /{FONT}-{ENCODING} /Encoding /{ENCODING}"
                                 f" /DescendantFonts [{cid} 0 R] >>")
        self._object(cid, f"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /{FONT} /CIDSystemInfo"
                          f" << /Registry (Adobe) /Ordering (Japan1) /Supplement 2 >> /FontDescriptor {descriptor} 0 R"
                          " /DW 1000 /W [231 632 500] >>")
        self._object(descriptor, f"<< /Type /FontDescriptor /FontName /{FONT} /Flags 4"
                                 " /FontBBox [-92 -250 1010 922] /ItalicAngle 0 /Ascent 752 /Descent -221"
                                 " /CapHeight 737 /StemV 114 >>")

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self._pos += len(data)

    def _reserve(self) -> int:
        self._offsets.append(0)
        return len(self._offsets) - 1

    def _object(self, num: int, body: str, stream: bytes | None = None) -> None:
        self._offsets[num] = self._pos
        if stream is None:
            self._write(f"{num} 0 obj\n{body}\nendobj\n".encode("ascii"))
            return
        packed = zlib.compress(stream, 6)
        self._write(f"{num} 0 obj\n<< {body} /Length {len(packed)} /Filter /FlateDecode >>\nstream\n".encode("ascii"))
        self._write(packed)
        self._write(b"\nendstream\nendobj\n")

    def _resources(self) -> str:
        forms = " ".join(f"/{name} {num} 0 R" for name, num in self._forms.items())
        return f"<< /Font << /F1 {self._font} 0 R >> /XObject << {forms} >> >>"

    def add_form(self, name: str, canvas: Canvas) -> None:
        """Content drawn by `canvas.form(name)` on later pages (page-sized, fonts as for pages)."""
        num = self._reserve()
        self._object(num, f"/Type /XObject /Subtype /Form /BBox [0 0 {PAGE_W} {PAGE_H}]"
                          f" /Resources << /Font << /F1 {self._font} 0 R >> >>", canvas.data())
        self._forms[name] = num

    def add_page(self, canvas: Canvas) -> None:
        if not self._node:
            self._node = self._reserve()
        contents, page = self._reserve(), self._reserve()
        self._object(contents, "", canvas.data())
        self._object(page, f"<< /Type /Page /Parent {self._node} 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}]"
                           f" /Resources {self._resources()} /Contents {contents} 0 R >>")
        self._kids.append(page)
        self.pages += 1
        if len(self._kids) == _KIDS_PER_NODE:
            self._close_node()

    def _close_node(self) -> None:
        kids = " ".join(f"{k} 0 R" for k in self._kids)
        self._object(self._node, f"<< /Type /Pages /Parent {self._root} 0 R /Kids [{kids}] /Count {len(self._kids)} >>")
        self._nodes.append((self._node, len(self._kids)))
        self._node, self._kids = 0, []

    def close(self) -> None:
        if self._kids:
            self._close_node()
        kids = " ".join(f"{n} 0 R" for n, _ in self._nodes)
        self._object(self._root, f"<< /Type /Pages /Kids [{kids}] /Count {self.pages} >>")
        self._object(self._catalog, f"<< /Type /Catalog /Pages {self._root} 0 R >>")
        info = self._reserve()
        title = ("\ufeff" + self.title).encode("utf-16-be").hex()
        self._object(info, f"<< /Title <{title}> /Producer (SafetyNet) >>")
        xref = self._pos
        self._write(f"xref\n0 {len(self._offsets)}\n0000000000 65535 f \n".encode("ascii"))
        for start in range(1, len(self._offsets), 10_000):  # 20 bytes an object: written in slices
            chunk = self._offsets[start : start + 10_000]
            self._write("".join(f"{off:010d} 00000 n \n" for off in chunk).encode("ascii"))
        self._write(f"trailer\n<< /Size {len(self._offsets)} /Root {self._catalog} 0 R /Info {info} 0 R >>\n"
                    f"startxref\n{xref}\n%%EOF\n".encode("ascii"))
