"""A series' datasets and rendered frames for the viewer, fetched and rendered ahead of the slider.

:class:`SeriesFrames` keeps the most recently used datasets and rendered
images of one series, and renders the neighbours of the instance shown on one
background thread while the user looks at it, so that moving the slider to
the next instance shows an image already made. A rendering the slider needs
that is under way is waited for, never done twice; neighbours no longer
wanted are dropped before they start. Only bytes are made in the background:
widgets are touched by the viewer, on the caller's thread.

>>> mr = lab.store.search_instances(Modality="MR")
>>> mr = mr[mr["SeriesInstanceUID"] == mr["SeriesInstanceUID"].value_counts().index[0]]
>>> uids = mr[["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]]
>>> frames = SeriesFrames(lab.store, [InstanceRef(*r) for r in uids.values], size=64)
>>> image, applied = frames.rendered(3, 0, None)
>>> image[:4], applied.source
(b'\\x89PNG', 'dataset')
>>> frames.prefetch([(4, 0), (2, 0)], None)    # rendered meanwhile, on another thread
>>> frames.close()
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from dicomlab.stores.base import InstanceRef, Store

if TYPE_CHECKING:
    from pydicom import Dataset

    from dicomlab.core.render import AppliedWindow

__all__ = ["SeriesFrames", "neighbours"]

logger = logging.getLogger(__name__)

Window = tuple[float, float] | None
Key = tuple[str, int, Window]
Rendered = tuple[bytes, "AppliedWindow"]


def neighbours(index: int, step: int, count: int, length: int) -> list[int]:
    """Positions to prepare after ``index``: mostly ahead in the direction of ``step``.

    >>> neighbours(10, 1, 5, 200)
    [11, 12, 9, 13, 14]
    >>> neighbours(0, -1, 3, 4)
    [1, 2, 3]
    """
    ahead = 1 if step >= 0 else -1
    wanted: list[int] = []
    candidates = [index + ahead * d for d in range(1, length)]
    behind = [index - ahead * d for d in range(1, length)]
    # Two ahead for each one behind: a slider is mostly moved on in one direction.
    while candidates or behind:
        wanted += [p for p in candidates[:2] if 0 <= p < length]
        candidates = candidates[2:]
        wanted += [p for p in behind[:1] if 0 <= p < length]
        behind = behind[1:]
        if len(wanted) >= count:
            break
    return wanted[:count]


class SeriesFrames:
    """Fetched datasets and rendered frames of one series, with rendering ahead.

    Parameters
    ----------
    store
        Where the instances come from.
    refs
        The series' instances in viewing order.
    size
        Largest side of the rendered PNGs.
    cache_size
        How many datasets to keep (rendered images: four times as many).
    prefetch
        How many neighbours to render ahead; 0 renders only what is shown.
    """

    def __init__(
        self,
        store: Store,
        refs: Sequence[InstanceRef],
        *,
        size: int,
        cache_size: int = 16,
        prefetch: int = 4,
    ) -> None:
        self.store, self.refs, self.size = store, list(refs), size
        self._lock = threading.Lock()
        self._datasets: OrderedDict[str, Dataset] = OrderedDict()
        self._images: OrderedDict[Key, Rendered] = OrderedDict()
        self._pending: dict[Key, Future[Rendered | None]] = {}
        self._cache_size, self._prefetch = cache_size, prefetch
        self._pool = (
            ThreadPoolExecutor(1, thread_name_prefix="dicomlab-viewer") if prefetch else None
        )

    # ---- what the viewer asks for --------------------------------------------------------

    def dataset(self, index: int) -> Dataset:
        """The instance at ``index``, fetched once while it is among the most recent."""
        ref = self.refs[index]
        with self._lock:
            if ref.instance in self._datasets:
                self._datasets.move_to_end(ref.instance)
                return self._datasets[ref.instance]
        ds = self.store.fetch_instance(ref)
        with self._lock:
            self._datasets[ref.instance] = ds
            while len(self._datasets) > self._cache_size:
                self._datasets.popitem(last=False)
        return ds

    def rendered(self, index: int, frame: int, window: Window) -> Rendered:
        """The PNG of ``frame`` of the instance at ``index`` and the window it got.

        Raises
        ------
        RenderError
            The frame cannot be rendered.
        """
        key = (self.refs[index].instance, frame, window)
        with self._lock:
            if key in self._images:
                self._images.move_to_end(key)
                return self._images[key]
            pending = self._pending.get(key)
        if pending is not None and not pending.cancelled():
            done = pending.result()  # under way: wait rather than render it twice
            if done is not None:
                return done
        return self._render(index, frame, window)

    def prefetch(self, targets: Iterable[tuple[int, int]], window: Window) -> None:
        """Render ``(index, frame)`` targets in the background, in order; drop older requests."""
        with self._lock:
            if self._pool is None:
                return
            for key, future in list(self._pending.items()):
                if future.cancel():  # not started: no longer wanted
                    del self._pending[key]
            for index, frame in list(targets)[: self._prefetch]:
                key = (self.refs[index].instance, frame, window)
                if key not in self._images and key not in self._pending:
                    self._pending[key] = self._pool.submit(self._ahead, index, frame, window)

    def close(self) -> None:
        """Stop rendering ahead (what is under way finishes)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # ---- work ------------------------------------------------------------------------------

    def _render(self, index: int, frame: int, window: Window) -> Rendered:
        from dicomlab.core.render import render_frame

        done = render_frame(
            self.dataset(index), size=self.size, media_type="image/png", frame=frame, window=window
        )
        with self._lock:
            self._images[(self.refs[index].instance, frame, window)] = done
            while len(self._images) > 4 * self._cache_size:
                self._images.popitem(last=False)
        return done

    def _ahead(self, index: int, frame: int, window: Window) -> Rendered | None:
        """A background rendering; failures are left for the viewer to meet and show."""
        key = (self.refs[index].instance, frame, window)
        try:
            frames = int(self.dataset(index).get("NumberOfFrames") or 1)
            return self._render(index, min(frame, frames - 1), window)
        except Exception as exc:  # the viewer renders it again and shows the error
            logger.debug("rendering ahead of the viewer failed: %s", exc)
            return None
        finally:
            with self._lock:
                self._pending.pop(key, None)
