"""The fast path of an export: one row straight from Part 10 bytes, without a Dataset.

Pure: no I/O. A bare ``dcmread`` builds a raw element per tag and a Dataset
around them; flattening then converts each one. For the common file (explicit
VR, little endian, one character set) the same row comes straight from the
bytes, by the rules of :mod:`dicomlab.rows.placement`. Anything else is
declined, and the caller reads the file with pydicom: the fast path never guesses.
"""

from __future__ import annotations

import functools
import struct
import warnings

from pydicom.charset import convert_encodings
from pydicom.uid import UID

from dicomlab.rows.placement import (
    LEFT_OUT,
    MAX_VALUE_BYTES,
    OTHER_TEXT,
    Effect,
    Level,
    Walk,
    add_sequence,
    close_level,
    combined,
    finish_row,
    placement,
    replay,
    tag_info,
)
from dicomlab.rows.schema import EXCLUDED_VRS, FlatRow
from dicomlab.rows.values import decode_raw

__all__ = ["MoreBytesNeeded", "flatten_part10"]

_ELEMENT = struct.Struct("<HH2sH")
_TAG_LENGTH = struct.Struct("<HHL")
_LONG_LENGTH = struct.Struct("<L")
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # where dcmread stops
_CHARSET_TAG = 0x00080005
_TRANSFER_SYNTAX_TAG = 0x00020010
_SOP_CLASS_TAG = 0x00020002
_DICOMDIR = "1.2.840.10008.1.3.10"
_REQUIRED = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
_TWO_LETTER_VRS = (
    "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL "
    "US UR UT UV"
)
_VRS = {vr.encode(): vr for vr in _TWO_LETTER_VRS.split()}  # UN is left out: declined
# VRs with a 2-byte reserved field and a 4-byte length
_LONG_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
_CHARSET_DEPENDENT_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_DEFAULT_ENCODING = "iso8859"  # pydicom's codec for the default repertoire


class _Memory:
    """What the Part 10 reader keeps from file to file for one character encoding.

    A series repeats most of its header from file to file. :attr:`effects`
    holds the effect of each element's bytes (tag, VR, length and value);
    :attr:`runs` holds runs of elements seen together before, keyed by their
    first element's bytes: ``(their bytes, the last one's tag, their combined
    effect)``. Both are forgotten whole once they hold about :data:`MAX_HELD`
    bytes.
    """

    MAX_HELD = 8 << 20
    MAX_ELEMENT = 4096  # longer values are decoded each time: rare, and not worth the memory

    def __init__(self) -> None:
        self.effects: dict[bytes, Effect] = {}
        self.runs: dict[bytes, tuple[bytes, int, Effect]] = {}
        self.held = 0

    def _hold(self, size: int) -> None:
        self.held += size
        if self.held > self.MAX_HELD:
            self.effects.clear()
            self.runs.clear()
            self.held = size

    def keep_effect(self, key: bytes, effect: Effect) -> None:
        """Keep the effect of an element's bytes ``key``."""
        if len(key) <= self.MAX_ELEMENT:
            self._hold(2 * len(key))  # the bytes, and about as much for the values
            self.effects[key] = effect

    def keep_run(self, key: bytes, run_bytes: bytes, effects: list[Effect], last: int) -> None:
        """Keep a run of elements: ``effects`` of ``run_bytes``, the first one's bytes ``key``."""
        run = combined(effects)
        if run is not None:
            self._hold(len(run_bytes) + len(key))
            self.runs[key] = (run_bytes, last, run)


_MEMORIES: dict[str, _Memory] = {}


def _memory(encoding: str) -> _Memory:
    memory = _MEMORIES.get(encoding)
    if memory is None:
        memory = _MEMORIES[encoding] = _Memory()
    return memory


class _Declined(Exception):
    """The file is outside the fast path: read it with pydicom."""


class MoreBytesNeeded(Exception):
    """The header goes on past the bytes given: read the file up to :attr:`needed` and retry.

    Raised by :func:`flatten_part10` when it is given the start of a larger file.
    """

    def __init__(self, needed: int) -> None:
        super().__init__(f"the header goes on past byte {needed}")
        self.needed = needed


@functools.lru_cache(maxsize=64)
def _explicit_little_endian(transfer_syntax: str) -> bool:
    uid = UID(transfer_syntax)
    if not uid.is_transfer_syntax:
        return False
    return uid.is_little_endian and not uid.is_implicit_VR and not uid.is_deflated


@functools.lru_cache(maxsize=64)
def _encoding(raw: bytes) -> str | None:
    """The one Python codec of a Specific Character Set value, or ``None`` (declined)."""
    values = decode_raw("CS", raw, _DEFAULT_ENCODING)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            codecs = convert_encodings(values or None)
        except Exception:  # an unknown or odd character set: pydicom decides how to cope
            return None
    return codecs[0] if len(codecs) == 1 else None


class _Part10:
    """One file's bytes being walked; ``_Declined`` at the first thing off the fast path."""

    def __init__(self, data: bytes, file_size: int) -> None:
        self.data = data
        self.size = len(data)
        self.file_size = file_size
        self.walk = Walk()

    def short(self, needed: int) -> Exception:
        """What to raise when the bytes up to ``needed`` are not all there."""
        if self.size < needed <= self.file_size:
            return MoreBytesNeeded(needed)
        return _Declined()  # the file itself ends there: cut short

    def elements(self, pos: int, end: int, level: Level, *, part: str, encoding: str) -> int:
        """Read elements from ``pos`` to ``end`` into ``level``; the position after them.

        ``part`` is ``"meta"`` (group 0002), ``"top"`` (the data set, up to pixel
        data; it may set its own ``encoding``), ``"item"`` (a defined-length
        sequence item, up to ``end``) or ``"open item"`` (an undefined-length one,
        up to its delimiter).
        """
        last = -1
        data, size, walk = self.data, self.size, self.walk
        meta, top, item = part == "meta", part == "top", part.endswith("item")
        memory = _memory(encoding)
        effects, runs = memory.effects, memory.runs
        # The elements just replayed one by one from the cache (a run in the making):
        # where the first starts, its bytes, the last one's tag, and their effects.
        making_start, making_key, making_last = 0, b"", 0
        making: list[Effect] = []
        while pos < end:
            start = pos
            if pos + 8 > size:
                raise self.short(pos + 8)
            group, element, vr_code, length = _ELEMENT.unpack_from(data, pos)
            number = group << 16 | element
            if meta and group != 2:
                return pos
            if top and number in _PIXEL_TAGS:
                return pos
            if item and number == _ITEM_END:
                return pos + 8  # in a defined-length item, the caller declines
            if group == 0xFFFE:
                raise _Declined  # an item or delimiter tag where an element belongs
            if number <= last:
                raise _Declined  # out of order or repeated: pydicom sorts and keeps the last
            last = number
            vr = _VRS.get(vr_code)
            if vr is None:
                raise _Declined  # UN (pydicom may re-type it), or not explicit VR after all
            if vr in _LONG_VRS:
                if pos + 12 > size:
                    raise self.short(pos + 12)
                length = _LONG_LENGTH.unpack_from(data, pos + 8)[0]
                pos += 12
            else:
                pos += 8
            effect = None
            if vr != "SQ" and number > _CHARSET_TAG and length <= _Memory.MAX_ELEMENT:
                key = data[start : pos + length]
                known = runs.get(key)
                # A run of elements seen before, byte for byte, from here: replayed at once.
                if known and start + len(known[0]) <= end and data.startswith(known[0], start):
                    if len(making) > 1:
                        memory.keep_run(making_key, data[making_start:start], making, making_last)
                    making = []
                    run_bytes, last, run = known
                    replay(run, level, walk)
                    pos = start + len(run_bytes)
                    continue
                effect = effects.get(key)
            if effect is not None:  # seen before: replayed, and added to the run in the making
                if not making:
                    making_start, making_key = start, key
                making.append(effect)
                making_last = number
                pos += length
                if effect[0] == OTHER_TEXT:  # a private element: the commonest by far
                    level.other.append({"Tag": effect[1], "Data": list(effect[2])})
                else:
                    replay(effect, level, walk)
                continue
            if len(making) > 1:
                memory.keep_run(making_key, data[making_start:start], making, making_last)
            making = []
            if vr != "SQ":
                pos, encoding = self.value(number, vr, start, pos, length, level, part, encoding)
                memory = _memory(encoding)
                effects, runs = memory.effects, memory.runs
                continue
            if number in LEFT_OUT or not element or (top and number < _CHARSET_TAG):
                raise _Declined
            items, pos = self.sequence(pos, length, encoding)
            add_sequence(tag_info(number).name, items, level)
        if len(making) > 1:
            memory.keep_run(making_key, data[making_start:pos], making, making_last)
        if part == "open item":
            raise self.short(pos + 8)  # an undefined-length item without its delimiter
        return pos

    def value(
        self,
        number: int,
        vr: str,
        start: int,
        pos: int,
        length: int,
        level: Level,
        part: str,
        encoding: str,
    ) -> tuple[int, str]:
        """Place the value (not a sequence) of the element at ``start``, whose value starts
        at ``pos``; the position after it, and the character encoding of the elements
        that follow."""
        stop = pos + length
        if length == _UNDEFINED:
            raise _Declined  # undefined length outside a sequence
        if number in LEFT_OUT or not number & 0xFFFF:
            self.walk.skipped += 1
            return stop, encoding
        if vr in EXCLUDED_VRS or length > MAX_VALUE_BYTES:
            # Dropped whatever it holds: its bytes are never needed, only its length.
            if stop > self.file_size:
                raise _Declined  # cut short
            replay(placement(number, vr, [], length), level, self.walk)
            return stop, encoding
        if stop > self.size:
            raise self.short(stop)
        if number == _CHARSET_TAG:
            found = _encoding(self.data[pos:stop]) if part == "top" else None
            if found is None:
                raise _Declined  # an item with its own character set, or several sets
            encoding = found
        elif vr in _CHARSET_DEPENDENT_VRS and part == "top" and number < _CHARSET_TAG:
            raise _Declined  # text before the character set is known
        # The element's bytes (tag, VR, length, value) and the encoding decide its effect.
        # A long value is never kept: it is neither copied nor hashed for a look-up.
        memory = _memory(encoding)
        key = self.data[start:stop] if length <= _Memory.MAX_ELEMENT else None
        effect = memory.effects.get(key) if key is not None else None
        if effect is None:
            try:
                items = decode_raw(vr, self.data[pos:stop], encoding)
            except (UnicodeDecodeError, LookupError, struct.error):
                raise _Declined from None  # pydicom's conversion copes with bad bytes
            effect = placement(number, vr, items, length)
            if key is not None:
                memory.keep_effect(key, effect)
        replay(effect, level, self.walk)
        return stop, encoding

    def sequence(self, pos: int, length: int, encoding: str) -> tuple[list[Level], int]:
        """The flattened items of a sequence whose value starts at ``pos``."""
        data, size = self.data, self.size
        end = size if length == _UNDEFINED else pos + length
        if end > size:
            raise self.short(end)
        items: list[Level] = []
        while pos < end:
            if pos + 8 > size:
                raise self.short(pos + 8)
            group, element, item_length = _TAG_LENGTH.unpack_from(data, pos)
            number = group << 16 | element
            pos += 8
            if number == _SEQUENCE_END and length == _UNDEFINED:
                return items, pos
            if number != _ITEM:
                raise _Declined
            level = Level()
            if item_length == _UNDEFINED:
                pos = self.elements(pos, size, level, part="open item", encoding=encoding)
            else:
                stop = pos + item_length
                if stop > end:
                    raise _Declined
                reached = self.elements(pos, stop, level, part="item", encoding=encoding)
                if reached != stop:
                    raise _Declined  # an item delimiter inside a defined-length item
                pos = stop
            items.append(close_level(level))
        if length == _UNDEFINED:
            raise self.short(pos + 8)  # no sequence delimiter before the end of the bytes
        return items, pos


def flatten_part10(data: bytes, *, file_size: int | None = None) -> FlatRow | None:
    """Flatten a DICOM Part 10 file from its bytes, or ``None`` when pydicom must read it.

    The fast path of an export: files in Explicit VR Little Endian (compressed
    pixel data included) with one character set give the very row of
    ``flatten_dataset(dcmread(path, stop_before_pixels=True))``, several times
    faster. ``None`` for anything else (no ``DICM`` preamble, implicit VR, big
    endian, deflate, several character sets, ``UN`` elements, elements out of
    order, undecodable text, a file cut short, a DICOMDIR, a missing study,
    series or instance UID): read those with pydicom, which also says what is
    wrong with a bad file.

    ``data`` may be the start of a file of ``file_size`` bytes: the header is
    read up to pixel data, and values that are dropped whatever they hold
    (binary VRs, values over :data:`MAX_VALUE_BYTES`) are passed over unread,
    so a large file's pixels and bulk data are never needed. When the header
    goes on past ``data``, :class:`MoreBytesNeeded` says how far to read.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> path = get_testdata_file("CT_small.dcm")
    >>> data = open(path, "rb").read()
    >>> row = flatten_part10(data)
    >>> import pydicom
    >>> from dicomlab.rows.flatten import flatten_dataset
    >>> row.values == flatten_dataset(pydicom.dcmread(path, stop_before_pixels=True)).values
    True
    >>> flatten_part10(data[:1000], file_size=len(data))
    Traceback (most recent call last):
    ...
    dicomlab.rows.part10.MoreBytesNeeded: the header goes on past byte 1066
    >>> flatten_part10(b"not DICOM") is None
    True
    """
    size = len(data) if file_size is None else max(file_size, len(data))
    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    reader = _Part10(data, size)
    level = Level()
    try:
        pos = reader.elements(132, size, level, part="meta", encoding=_DEFAULT_ENCODING)
        transfer_syntax = level.values.get("TransferSyntaxUID")
        if not isinstance(transfer_syntax, str) or not _explicit_little_endian(transfer_syntax):
            return None
        if level.values.get("MediaStorageSOPClassUID") == _DICOMDIR:
            return None
        reader.elements(pos, size, level, part="top", encoding=_DEFAULT_ENCODING)
    except _Declined:
        return None
    if any(key not in level.values for key in _REQUIRED):
        return None
    return finish_row(close_level(level), reader.walk)
