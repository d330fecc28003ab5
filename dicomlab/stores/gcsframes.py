"""Frames of an instance as stored, taken from its whole data set (no frame index needed).

As dicomweb-client's file client answers ``application/octet-stream``: each
frame's bytes as the file holds them, raw pixels for native transfer
syntaxes, the compressed fragment(s) of the frame for encapsulated ones.

>>> from pydicom.data import get_testdata_file
>>> from dicomlab.stores.headers import read_instance_file
>>> ds = read_instance_file(get_testdata_file("CT_small.dcm", download=False))
>>> len(frames_of(ds, [1])[0]) == ds.Rows * ds.Columns * 2
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dicomlab.errors import InvalidRequestError, NotFoundError, RenderError

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = ["frames_of"]

AS_STORED = "application/octet-stream"


def frames_of(dataset: Dataset, numbers: Sequence[int], media_type: str = AS_STORED) -> list[bytes]:
    """The 1-based frames ``numbers`` of ``dataset``, as stored.

    Raises :class:`~dicomlab.errors.NotFoundError` for a frame past the last,
    :class:`~dicomlab.errors.InvalidRequestError` for another media type.
    """
    if media_type != AS_STORED:
        raise InvalidRequestError(
            f"media_type={media_type!r}: this store gives frames as stored only; "
            f"pass {AS_STORED!r}, or fetch_rendered() for an image",
            value=media_type,
        )
    if "PixelData" not in dataset:
        raise RenderError(f"instance {dataset.get('SOPInstanceUID', '?')} has no pixel data")
    count = int(dataset.get("NumberOfFrames", 1) or 1)
    past = [n for n in numbers if n > count]
    if past:
        raise NotFoundError(
            f"frames {past} of instance {dataset.SOPInstanceUID} do not exist: it has {count}"
        )
    if dataset.file_meta.TransferSyntaxUID.is_encapsulated:
        from pydicom.encaps import generate_frames

        stored = list(generate_frames(dataset.PixelData, number_of_frames=count))
        return [bytes(stored[n - 1]) for n in numbers]
    data = dataset.PixelData
    length = len(data) // count
    return [bytes(data[(n - 1) * length : n * length]) for n in numbers]
