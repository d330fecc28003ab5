"""Adapters seen through a share mode: pseudonyms out, real values in, scrubbed errors."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from dicomlab.errors import DicomlabError, RenderError
from dicomlab.stores.bulk import fetch_thumbnails

if TYPE_CHECKING:
    import pandas as pd

    from dicomlab.share.mode import ShareMode

__all__ = ["ShareDecisionLog", "ShareProxy", "scrub_exception", "scrubbed_errors"]

_PIXEL_METHODS = ("fetch_thumbnail", "fetch_rendered", "fetch_instance", "fetch_frames")


class ShareProxy:
    """A store, warehouse or bucket seen through a :class:`ShareMode`.

    Arguments go through :meth:`ShareMode.real`, results through
    :meth:`ShareMode.shown`; images that may carry burned-in text raise
    :class:`~dicomlab.errors.RenderError` (a labelled placeholder in the
    widgets) unless the mode shows images. Error messages are scrubbed too.
    """

    def __init__(self, target: Any, share: ShareMode) -> None:
        self._target, self._share = target, share

    def __repr__(self) -> str:
        return f"{self._share.shown(repr(self._target))} (share mode)"

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return self._share.shown(attribute) if isinstance(attribute, str) else attribute
        share = self._share
        if name == "fetch_thumbnails":
            return self._thumbnails

        def call(*args: Any, **kwargs: Any) -> Any:
            args, kwargs = share.real(args), share.real(kwargs)
            if name in _PIXEL_METHODS and args:
                ref = args[0]
                instance = getattr(ref, "instance", None)
                if instance is not None and not share.may_show(str(instance)):
                    raise RenderError(
                        f"image withheld in share mode (instance {share.shown(str(instance))}): "
                        "it may carry burned-in text; connect with share='images' to show it"
                    )
            try:
                result = attribute(*args, **kwargs)
            except DicomlabError as exc:
                scrub_exception(exc, share)
                raise
            return share.shown(result)

        return call

    def _thumbnails(self, df: pd.DataFrame, **options: Any) -> list[bytes | None]:
        """The store's ``fetch_thumbnails``, each image fetched through this proxy.

        So a withheld image becomes the store's labelled placeholder saying why.
        The rows are the shown ones, matched against the searches' shown UIDs.
        """
        rows = self._share.shown(self._share.real(df))
        return fetch_thumbnails(self, rows, **options)


class ShareDecisionLog:
    """A review's decision log seen through a :class:`ShareMode`.

    The review works on shown hits, so its decisions name pseudonyms: they are
    written with the real UIDs, and read back shown (the decision times as
    they were: they are the reviewers', not the patients').
    """

    def __init__(self, log: Any, share: ShareMode) -> None:
        self._log, self._share = log, share
        self.table: str = log.table

    def __repr__(self) -> str:
        return f"{self._share.shown(repr(self._log))} (share mode)"

    @property
    def warehouse(self) -> Any:
        """The log's warehouse, seen through the mode."""
        return ShareProxy(self._log.warehouse, self._share)

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write ``rows`` with their pseudonyms mapped back to the real UIDs."""
        self._log.append([self._share.real(dict(row)) for row in rows])

    def history(self, review: str) -> pd.DataFrame:
        """Every decision of ``review``, shown."""
        found = self._log.history(review)
        shown: pd.DataFrame = self._share.frame(found)
        if "decided_at" in found:
            shown["decided_at"] = found["decided_at"].to_numpy()
        return shown


def scrub_exception(exc: BaseException, share: ShareMode) -> BaseException:
    """``exc`` with the text of its message, its text fields and its causes de-identified."""
    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        seen.args = tuple(share.shown(a) if isinstance(a, str) else a for a in seen.args)
        for name, value in vars(seen).items():
            if isinstance(value, (str, list)):  # uid, paths, resource, filename...
                setattr(seen, name, share.shown(value))
        seen = seen.__cause__ or seen.__context__
    return exc


_Method = TypeVar("_Method", bound="Callable[..., Any]")


def scrubbed_errors(method: _Method) -> _Method:
    """Decorate a Lab verb: in share mode, de-identify the errors it raises (and their causes).

    The Lab's ``_share`` is its :class:`~dicomlab.share.mode.ShareMode`, or ``None``.
    """

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except DicomlabError as exc:
            if self._share is not None:
                scrub_exception(exc, self._share)
            raise

    return cast(_Method, call)
