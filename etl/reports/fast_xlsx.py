"""One-sheet XLSX workbooks written fast: a row's XML is one join of f-strings, the parts zipped as they come.

xlsxwriter spends ~8 µs a cell in Python (a cell record, then an XML writer call per cell); the copies of the
outbox's CSVs run to millions of cells. The parts written here follow what xlsxwriter writes for the same
sheet, less its theme (nothing here refers to one). Formats are given in xlsxwriter's vocabulary (the keys in
FORMAT_KEYS), so a sheet looks the same whichever writer wrote it.

Cells arrive typed: None is no value, a str a text cell (never a formula, whatever it starts with), an int or
a float a number. Text that XML cannot hold (control characters) is escaped as Excel and xlsxwriter escape it,
`_xHHHH_`, and a literal `_xHHHH_` as `_x005F_xHHHH_`, so the file always parses. Every zip entry is dated
1980-01-01: the same inputs give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

from etl.core.errors import ReliefError

Cell = str | int | float | None
FORMAT_KEYS = frozenset({"bold", "bg_color", "top", "bottom", "num_format"})
MAX_ROWS = 1_048_576  # Excel's rows a sheet
MAX_COLUMNS = 16_384  # Excel's columns a sheet
_BORDERS = {1: "thin", 2: "medium"}  # xlsxwriter's border indexes
_BUILT_IN_FORMATS = {"General": 0, "0": 1}  # number formats Excel knows by id (xlsxwriter's choice of them)
_COMPRESS_LEVEL = 3  # zlib's default (6) takes twice the time for a file ~10% smaller
_CHUNK_ROWS = 1_000  # rows joined and encoded at a time
_MAX_PART = zipfile.ZIP64_LIMIT  # a bigger part needs ZIP64, which Excel reads only in its own dialect

# What a text needs done before it goes into XML: &, <, > escaped; characters XML cannot hold (control
# characters but tab and newline; CR too, which a parser would read as a newline; non-characters; lone
# surrogates, which cannot be encoded) written as Excel's `_xHHHH_`, a literal `_xHHHH_` as `_x005F_xHHHH_`.
_UNSAFE = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")
_LITERAL = re.compile(r"_x[0-9A-Fa-f]{4}_")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")

_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT_TYPES = (
    f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/docProps/app.xml"'
    ' ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
    '<Override PartName="/docProps/core.xml"'
    ' ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
    '<Override PartName="/xl/styles.xml"'
    ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/xl/workbook.xml"'
    ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml"'
    ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml"'
    ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    f'{_XML}<Relationships xmlns="{_PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
    f'<Relationship Id="rId2" Type="{_PKG_REL_NS}/metadata/core-properties" Target="docProps/core.xml"/>'
    f'<Relationship Id="rId3" Type="{_REL_NS}/extended-properties" Target="docProps/app.xml"/>'
    "</Relationships>"
)
_WORKBOOK_RELS = (
    f'{_XML}<Relationships xmlns="{_PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL_NS}/styles" Target="styles.xml"/>'
    f'<Relationship Id="rId3" Type="{_REL_NS}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)


class SheetWriter:
    """One worksheet built row by row (`row`), then the workbook's bytes (`xlsx`).

    `formats` are xlsxwriter format properties; a cell or column styled k takes formats[k - 1], 0 none. Texts
    go to the shared-strings table (a repeated text is stored and escaped once). Rows are kept as encoded XML
    until `xlsx`: the column widths, which come first in the sheet, are known only once every row is in.
    """

    def __init__(self, columns: int, formats: Sequence[Mapping[str, Any]]):
        if not 0 < columns <= MAX_COLUMNS:
            raise ValueError(f"a sheet holds 1 to {MAX_COLUMNS:,} columns, not {columns:,}")
        for fmt in formats:
            if set(fmt) - FORMAT_KEYS:
                raise ValueError(f"format keys not supported: {', '.join(sorted(set(fmt) - FORMAT_KEYS))}")
        self.formats = list(formats)
        self.columns = columns
        self.rows = 0
        self._refs = [column_letter(i) for i in range(columns)]
        self._styles = ["", *(f' s="{k}"' for k in range(1, len(self.formats) + 1))]
        self._strings: dict[str, int] = {}  # the shared strings, each with its index
        self._text_cells = 0
        self._pending: list[str] = []
        self._encoded: list[bytes] = []

    def row(self, cells: Sequence[Cell], styles: Sequence[int]) -> None:
        """The next row: cell i styled styles[i]. A None cell is written only when styled (a blank that keeps
        its format); cells past the sheet's columns are left out."""
        if self.rows >= MAX_ROWS:
            raise ReliefError(f"more rows than a worksheet holds ({MAX_ROWS:,})")
        n = str(self.rows + 1)
        strings = self._strings
        index = strings.setdefault
        attrs = self._styles
        parts = []
        texts = 0
        for ref, style, cell in zip(self._refs, styles, cells):
            if isinstance(cell, str):
                texts += 1
                parts.append(f'<c r="{ref}{n}"{attrs[style]} t="s"><v>{index(cell, len(strings))}</v></c>')
            elif cell is None:
                if style:
                    parts.append(f'<c r="{ref}{n}"{attrs[style]}/>')
            elif isinstance(cell, int):
                parts.append(f'<c r="{ref}{n}"{attrs[style]}><v>{cell}</v></c>')
            else:
                parts.append(f'<c r="{ref}{n}"{attrs[style]}><v>{cell:.16G}</v></c>')
        self._pending.append(f'<row r="{n}" spans="1:{self.columns}">{"".join(parts)}</row>')
        self._text_cells += texts
        self.rows += 1
        if len(self._pending) >= _CHUNK_ROWS:
            self._flush()

    def _flush(self) -> None:
        self._encoded.append("".join(self._pending).encode())
        self._pending.clear()

    def xlsx(
        self,
        sheet: str,
        widths: Sequence[float],
        column_styles: Sequence[int],
        *,
        created: dt.datetime,
        author: str = "",
        title: str | None = None,
        filter_rows: int | None = None,
    ) -> bytes:
        """The workbook: this sheet named `sheet`, its header row frozen, its columns `widths` characters wide
        and styled `column_styles` (a cell typed in later takes it), an autofilter over its first `filter_rows`
        rows when given; the workbook's properties `created`, `author` and `title`."""
        self._flush()
        buf = io.BytesIO()
        # Entries opened by name take the archive's compression and ZipInfo's date, 1980-01-01.
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=_COMPRESS_LEVEL) as z:
            _part(z, "[Content_Types].xml", [_CONTENT_TYPES])
            _part(z, "_rels/.rels", [_ROOT_RELS])
            _part(z, "xl/_rels/workbook.xml.rels", [_WORKBOOK_RELS])
            _part(z, "xl/worksheets/sheet1.xml", self._sheet_xml(widths, column_styles, filter_rows))
            _part(z, "xl/workbook.xml", [self._workbook_xml(sheet, filter_rows)])
            _part(z, "xl/sharedStrings.xml", self._shared_strings_xml())
            _part(z, "xl/styles.xml", [_styles_xml(self.formats)])
            _part(z, "docProps/core.xml", [_core_xml(created, author, title)])
            _part(z, "docProps/app.xml", [_app_xml(sheet)])
        return buf.getvalue()

    def _sheet_xml(
        self, widths: Sequence[float], column_styles: Sequence[int], filter_rows: int | None
    ) -> Iterator[str | bytes]:
        last = self._refs[-1]
        corner = f"{last}{max(self.rows, 1)}"
        dimension = "A1" if corner == "A1" else f"A1:{corner}"
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{_stored_width(width)}"'
            + (f' style="{style}"' if style else "")
            + ' customWidth="1"/>'
            for i, (width, style) in enumerate(zip(widths, column_styles), start=1)
        )
        yield (
            f'{_XML}<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}"><dimension ref="{dimension}"/>'
            '<sheetViews><sheetView tabSelected="1" workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft"/></sheetView></sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>'
        )
        yield from self._encoded
        autofilter = f'<autoFilter ref="A1:{last}{filter_rows}"/>' if filter_rows else ""
        yield (
            f"</sheetData>{autofilter}"
            '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>'
        )

    def _workbook_xml(self, sheet: str, filter_rows: int | None) -> str:
        names = ""
        if filter_rows:  # the autofilter's range as Excel records it (xlsxwriter writes it too)
            where = "'" + sheet.replace("'", "''") + f"'!$A$1:${self._refs[-1]}${filter_rows}"
            names = (
                '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
                f"{_escape(where)}</definedName></definedNames>"
            )
        return (
            f'{_XML}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
            '<fileVersion appName="xl" lastEdited="4" lowestEdited="4" rupBuild="4505"/><workbookPr/>'
            '<bookViews><workbookView xWindow="240" yWindow="15" windowWidth="16095" windowHeight="9660"/>'
            f'</bookViews><sheets><sheet name={_attr(sheet)} sheetId="1" r:id="rId1"/></sheets>{names}'
            '<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>'
        )

    def _shared_strings_xml(self) -> Iterator[str]:
        yield f'{_XML}<sst xmlns="{_MAIN_NS}" count="{self._text_cells}" uniqueCount="{len(self._strings)}">'
        texts = iter(self._strings)  # in insertion order: the order of their indexes
        while batch := list(itertools.islice(texts, 10 * _CHUNK_ROWS)):
            yield "".join([f"<si>{_t(text)}</si>" for text in batch])
        yield "</sst>"


def column_letter(index: int) -> str:
    """A column's letters from its 0-based index: 0 is A, 26 is AA."""
    letters = ""
    n = index + 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _escape(text: str) -> str:
    """Text as XML character data, escaped as xlsxwriter escapes it (see _UNSAFE)."""
    if _UNSAFE.search(text) is None:  # nearly every text: one scan, no copy
        return text
    text = _LITERAL.sub(lambda m: "_x005F" + m.group(), text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _t(text: str) -> str:
    """A `<t>` element holding `text`, its leading and trailing spaces kept (Excel strips them otherwise)."""
    text = _escape(text)
    if text.strip() != text:
        return f'<t xml:space="preserve">{text}</t>'
    return f"<t>{text}</t>"


def _attr(text: str) -> str:
    """An attribute value, quoted, control characters escaped as in cells."""
    return quoteattr(_CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text))


def _stored_width(chars: float) -> float:
    """A column width in characters as Excel stores it (xlsxwriter's conversion: 7-pixel digits, 5 padding)."""
    pixels = int(chars * 7 + 0.5) + 5 if chars >= 1 else int(chars * 12 + 0.5)
    return int(pixels / 7 * 256) / 256


def _part(z: zipfile.ZipFile, name: str, chunks: Iterable[str | bytes]) -> None:
    """One entry of the archive, written as its chunks come."""
    size = 0
    with z.open(name, "w") as entry:
        for chunk in chunks:
            data = chunk.encode() if isinstance(chunk, str) else chunk
            size += len(data)
            if size > _MAX_PART:  # zipfile would fail when the entry closes: say why, and stop now
                raise ReliefError(f"{name} over {_MAX_PART:,} bytes: too big for a workbook (no ZIP64 for Excel)")
            entry.write(data)


def _styles_xml(formats: Sequence[Mapping[str, Any]]) -> str:
    """styles.xml: cell style k is formats[k - 1]; custom number formats numbered from 164, as Excel numbers them."""
    num_formats: dict[str, int] = {}
    fills = ['<fill><patternFill patternType="none"/></fill>', '<fill><patternFill patternType="gray125"/></fill>']
    borders = ["<border><left/><right/><top/><bottom/><diagonal/></border>"]
    xfs = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>']
    for fmt in formats:
        code = fmt.get("num_format", "General")
        num_id = (
            _BUILT_IN_FORMATS[code]
            if code in _BUILT_IN_FORMATS
            else num_formats.setdefault(code, 164 + len(num_formats))
        )
        font_id = 1 if fmt.get("bold") else 0
        fill_id = 0
        if fmt.get("bg_color"):
            rgb = str(fmt["bg_color"]).lstrip("#").upper()
            fill_id = _index(
                fills, f'<fill><patternFill patternType="solid"><fgColor rgb="FF{rgb}"/><bgColor indexed="64"/>'
                "</patternFill></fill>"
            )  # fmt: skip
        border_id = 0
        if fmt.get("top") or fmt.get("bottom"):
            top, bottom = (
                f'<{side} style="{_BORDERS[fmt[side]]}"><color auto="1"/></{side}>' if fmt.get(side) else f"<{side}/>"
                for side in ("top", "bottom")
            )
            border_id = _index(borders, f"<border><left/><right/>{top}{bottom}<diagonal/></border>")
        applied = "".join(
            f' apply{name}="1"'
            for name, used in (("NumberFormat", num_id), ("Font", font_id), ("Fill", fill_id), ("Border", border_id))
            if used
        )
        xfs.append(
            f'<xf numFmtId="{num_id}" fontId="{font_id}" fillId="{fill_id}" borderId="{border_id}" xfId="0"{applied}/>'
        )
    numbers = "".join(f'<numFmt numFmtId="{i}" formatCode={quoteattr(code)}/>' for code, i in num_formats.items())
    font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
    return (
        f'{_XML}<styleSheet xmlns="{_MAIN_NS}">'
        + (f'<numFmts count="{len(num_formats)}">{numbers}</numFmts>' if num_formats else "")
        + f'<fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
        + f'<fills count="{len(fills)}">{"".join(fills)}</fills>'
        + f'<borders count="{len(borders)}">{"".join(borders)}</borders>'
        + '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        + f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
        + '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        + '<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9"'
        + ' defaultPivotStyle="PivotStyleLight16"/></styleSheet>'
    )


def _index(items: list[str], item: str) -> int:
    """`item`'s index in `items`, appended first when new."""
    if item not in items:
        items.append(item)
    return items.index(item)


def _core_xml(created: dt.datetime, author: str, title: str | None) -> str:
    when = created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    title_xml = f"<dc:title>{_escape(title)}</dc:title>" if title is not None else ""
    return (
        f'{_XML}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
        ' xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"{title_xml}<dc:creator>{_escape(author)}</dc:creator>"
        f"<cp:lastModifiedBy>{_escape(author)}</cp:lastModifiedBy>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{when}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{when}</dcterms:modified></cp:coreProperties>'
    )


def _app_xml(sheet: str) -> str:
    return (
        f'{_XML}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
        ' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
        "<Application>Microsoft Excel</Application><DocSecurity>0</DocSecurity><ScaleCrop>false</ScaleCrop>"
        '<HeadingPairs><vt:vector size="2" baseType="variant"><vt:variant><vt:lpstr>Worksheets</vt:lpstr></vt:variant>'
        "<vt:variant><vt:i4>1</vt:i4></vt:variant></vt:vector></HeadingPairs><TitlesOfParts>"
        f'<vt:vector size="1" baseType="lpstr"><vt:lpstr>{_escape(sheet)}</vt:lpstr></vt:vector></TitlesOfParts>'
        "<Company></Company><LinksUpToDate>false</LinksUpToDate><SharedDoc>false</SharedDoc>"
        "<HyperlinksChanged>false</HyperlinksChanged><AppVersion>12.0000</AppVersion></Properties>"
    )
