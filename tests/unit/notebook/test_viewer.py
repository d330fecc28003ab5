"""The series viewer, on real files in folder stores, asserted on widget trait values."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from pydicom import Dataset
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomlab.core.render import to_display_array
from dicomlab.errors import InvalidRequestError, NotFoundError
from dicomlab.notebook.viewer import (
    PUBLIC_OHIF_VIEWER,
    WINDOW_PRESETS,
    SeriesViewer,
    build_instance_location,
    build_ohif_url,
    metadata_rows,
    order_instances,
    window_for,
)
from dicomlab.notebook.viewing import instance_labels
from dicomlab.notebook.widgets import WIDGET_VIEW_MIMETYPE
from dicomlab.samples.sample import seed_sample_store
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.folder import FolderStore


class Wrapped:
    """A store seen through another URL, counting fetches, optionally failing them."""

    def __init__(self, inner: FolderStore, url: str | None = None, fail: bool = False):
        self.inner, self._url, self.fail = inner, url, fail
        self.fetched: list[str] = []

    @property
    def url(self) -> str:
        return self._url or self.inner.url

    def search_instances(self, fields=None, limit=None, **filters):
        return self.inner.search_instances(fields, limit, **filters)

    def fetch_instance(self, ref: InstanceRef) -> Dataset:
        self.fetched.append(ref.instance)
        if self.fail:
            raise NotFoundError(f"{ref.instance} vanished")
        return self.inner.fetch_instance(ref)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> FolderStore:
    folder = tmp_path_factory.mktemp("viewer") / "store"
    seed_sample_store(folder)
    return FolderStore(folder)


def _largest_series(store: FolderStore, modality: str) -> tuple[str, str, pd.DataFrame]:
    found = store.search_instances(Modality=modality)
    series = found["SeriesInstanceUID"].value_counts().index[0]
    rows = found[found["SeriesInstanceUID"] == series]
    return str(rows["StudyInstanceUID"].iloc[0]), str(series), rows


@pytest.fixture(scope="module")
def mr(cohort: FolderStore) -> tuple[str, str, pd.DataFrame]:
    """The cohort's 7-instance MR series (16×16 frames with a stored window)."""
    return _largest_series(cohort, "MR")


@pytest.fixture(scope="module")
def no_pixels(cohort: FolderStore) -> tuple[str, str, pd.DataFrame]:
    """The cohort's 50-instance CT series, whose instances carry no PixelData."""
    return _largest_series(cohort, "CT")


def _single_file_store(tmp_path: Path, name: str) -> FolderStore:
    """A folder store holding one pydicom test file, in an encoding it can retrieve."""
    folder = tmp_path / name.split(".")[0]
    folder.mkdir()
    source = get_testdata_file(name, download=False)
    ds = pydicom.dcmread(source)
    if ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian:
        # DICOMfileClient retrieves no Implicit VR files (it answers 500): re-encode.
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # rtdose.dcm has an invalid UID
            ds.save_as(folder / name)
    else:
        shutil.copyfile(source, folder / name)
    return FolderStore(folder)


def _viewer(store, uids, **options) -> SeriesViewer:
    study, series, _ = uids
    return SeriesViewer(store, study, series, size=64, **options)


def _meta(viewer: SeriesViewer, label: str) -> str:
    return dict(metadata_rows(viewer.dataset))[label]


# ---- pure helpers -------------------------------------------------------------------------


def test_order_instances_number_then_position_then_uid():
    df = pd.DataFrame(
        {
            "SOPInstanceUID": ["1.10", "1.9", "1.2", "1.3", "1.4"],
            "InstanceNumber": pd.array([2, None, 2, 1, 1], dtype="Int64"),
            "ImagePositionPatient": [None, None, None, "0\\0\\5.5", [0.0, 0.0, -3.0]],
        }
    )
    ordered = order_instances(df)
    assert ordered["SOPInstanceUID"].tolist() == ["1.4", "1.3", "1.2", "1.10", "1.9"]
    assert ordered.index.tolist() == [0, 1, 2, 3, 4]


def test_window_for_presets_and_the_dataset_window():
    ds = Dataset()
    ds.WindowCenter, ds.WindowWidth = "149", "359"
    assert window_for("default", ds) == (149.0, 359.0)
    assert window_for("default", Dataset()) is None
    for name, window in WINDOW_PRESETS.items():
        if window is not None:
            assert window_for(name, ds) == window
    assert window_for("lung", None) == (-600.0, 1500.0)
    with pytest.raises(InvalidRequestError, match="'lungs' is unknown") as caught:
        window_for("lungs", ds)
    assert caught.value.value == "lungs"


def test_metadata_rows_formats_values_and_marks_missing_ones():
    ds = Dataset()
    ds.PatientID, ds.StudyDate, ds.InstanceNumber = "77654033", "20010101", 3
    ds.Rows, ds.Columns, ds.WindowCenter, ds.WindowWidth = 16, 32, "40", "400.0"
    rows = dict(metadata_rows(ds))
    assert rows["PatientID"] == "77654033" and rows["StudyDate"] == "2001-01-01"
    assert rows["InstanceNumber"] == "3" and rows["Rows × Columns"] == "16 × 32"
    assert rows["WindowCenter / Width"] == "40 / 400"
    assert rows["SliceLocation"] == "—" and rows["NumberOfFrames"] == "1"


def test_locations_and_ohif_links():
    ref = InstanceRef("1.2", "1.2.3", "1.2.3.4")
    path = "studies/1.2/series/1.2.3/instances/1.2.3.4"
    assert build_instance_location("file:///tmp/store", ref) == path
    assert build_instance_location("https://h/dicom-web/", ref) == f"https://h/dicom-web/{path}"
    assert (
        build_ohif_url("https://o/viewer?x=1", "1.2")
        == "https://o/viewer?x=1&StudyInstanceUIDs=1.2"
    )


# ---- the widget ---------------------------------------------------------------------------


def test_instance_slider_spans_the_series_in_instance_number_order(cohort, mr):
    viewer = _viewer(cohort, mr, start=0)
    count = len(mr[2])
    assert count == 7 and len(viewer) == count
    assert viewer.instance_slider.value == 0 and viewer.instance_slider.label == "1"
    # labelled with the InstanceNumbers (1-based), valued with positions
    labels = [label for label, _ in viewer.instance_slider.options]
    assert labels == [str(n) for n in range(1, count + 1)]
    assert viewer.instance_slider.layout.display is None
    assert viewer.instances["InstanceNumber"].tolist() == list(range(1, count + 1))
    assert _meta(viewer, "InstanceNumber") == "1"
    first = viewer.image.value
    viewer.instance_slider.value = 3  # as a front end would
    assert viewer.index == 3 and _meta(viewer, "InstanceNumber") == "4"
    assert viewer.instance_slider.label == "4"
    assert ">4</td>" in viewer.metadata_panel.value
    assert viewer.image.value != first and viewer.image.value[:4] == b"\x89PNG"
    assert viewer.current_ref.instance == viewer.instances["SOPInstanceUID"][3]
    assert viewer.message is None and viewer.placeholder.layout.display == "none"


def test_start_defaults_to_the_middle_and_accepts_a_uid(cohort, mr):
    assert _viewer(cohort, mr).index == 3
    uid = str(mr[2].loc[mr[2]["InstanceNumber"] == 6, "SOPInstanceUID"].iloc[0])
    assert _viewer(cohort, mr, start=uid).index == 5
    with pytest.raises(NotFoundError, match=re.escape("instance 9.9 is not in series")):
        _viewer(cohort, mr, start="9.9")
    with pytest.raises(InvalidRequestError, match="start=7 is out of range; use 0 to 6"):
        _viewer(cohort, mr, start=7)


def test_show_moves_the_slider_and_rejects_bad_indexes(cohort, mr):
    viewer = _viewer(cohort, mr, start=0)
    viewer.show(6)
    assert viewer.instance_slider.value == 6 and _meta(viewer, "InstanceNumber") == "7"
    with pytest.raises(InvalidRequestError, match="index 7 is out of range") as caught:
        viewer.show(7)
    assert caught.value.value == 7


def test_lung_preset_sets_the_window_and_changes_the_image(cohort, mr):
    viewer = _viewer(cohort, mr, start=0)
    assert viewer.preset == "default" and viewer.window is None
    assert (viewer.center_text.value, viewer.width_text.value) == (149.0, 359.0)
    default = viewer.image.value
    viewer.set_preset("lung")
    assert viewer.preset_dropdown.value == "lung" and viewer.window == (-600.0, 1500.0)
    assert (viewer.center_text.value, viewer.width_text.value) == (-600.0, 1500.0)
    assert viewer.image.value != default
    viewer.preset_dropdown.value = "default"  # as a front end would
    assert viewer.image.value == default and viewer.center_text.value == 149.0
    with pytest.raises(InvalidRequestError, match="'spine' is unknown"):
        viewer.set_preset("spine")


def test_typing_a_window_switches_to_custom(cohort, mr):
    viewer = _viewer(cohort, mr, start=0)
    default = viewer.image.value
    viewer.center_text.value = 500.0
    assert viewer.preset == "custom" and viewer.window == (500.0, 359.0)
    assert viewer.image.value != default
    viewer.set_window(149, 359)
    assert viewer.window == (149.0, 359.0) and viewer.preset == "custom"
    viewer.show(1)  # a custom window stays when moving through the series
    assert viewer.window == (149.0, 359.0)
    viewer.width_text.value = 0.0  # an impossible window is shown, not raised
    assert "window width must be positive, got 0.0" in viewer.message
    assert viewer.image.layout.display == "none"
    with pytest.raises(InvalidRequestError, match="width must be positive, got -1"):
        viewer.set_window(40, -1)


@pytest.mark.parametrize(("name", "frames"), [("rtdose.dcm", 15), ("examples_ybr_color.dcm", 30)])
def test_frame_slider_for_multi_frame_instances(tmp_path, name, frames):
    store = _single_file_store(tmp_path, name)
    row = store.search_instances().iloc[0]
    viewer = SeriesViewer(store, row["StudyInstanceUID"], row["SeriesInstanceUID"], size=64)
    assert viewer.instance_slider.layout.display == "none"  # one instance: no slider
    assert viewer.frame_slider.layout.display is None
    assert [label for label, _ in viewer.frame_slider.options] == [
        str(n) for n in range(1, frames + 1)
    ]
    assert viewer.frame_slider.label == "1"
    first = viewer.image.value
    viewer.frame_slider.value = 2
    assert viewer.frame == 2 and viewer.image.value != first and viewer.message is None
    assert viewer.frame_slider.label == "3"
    viewer.set_preset("bone")  # the frame stays; colour frames ignore the window
    assert viewer.frame == 2 and viewer.message is None
    assert f"frame 3 of {frames}" in repr(viewer) and f"frame 3 of {frames}" in viewer.to_html()


def test_frame_slider_hidden_for_single_frames(cohort, mr):
    viewer = _viewer(cohort, mr)
    assert viewer.frame_slider.options == (("1", 0),)
    assert viewer.frame_slider.layout.display == "none"


def test_instances_without_pixels_show_a_message(cohort, no_pixels):
    viewer = _viewer(cohort, no_pixels, start=0)
    assert len(viewer) == 50
    assert "has no pixel data" in viewer.message and viewer.current_ref.instance in viewer.message
    assert viewer.image.layout.display == "none" and viewer.placeholder.layout.display is None
    assert "no pixel data" in viewer.placeholder.value
    viewer.instance_slider.value = 10
    viewer.set_preset("bone")
    assert viewer.index == 10 and "has no pixel data" in viewer.message
    assert _meta(viewer, "Modality") == "CT"
    page = viewer.to_html()
    assert "<img" not in page and "has no pixel data" in page


def test_fetch_failures_show_a_message_and_show_retries(cohort, mr):
    store = Wrapped(cohort, fail=True)
    viewer = _viewer(store, mr, start=0)
    assert "cannot fetch instance" in viewer.message and "vanished" in viewer.message
    viewer.instance_slider.value = 2
    assert viewer.dataset is None and viewer.current_ref.instance in viewer.message
    assert viewer.image.layout.display == "none" and viewer.metadata_panel.value == ""
    store.fail = False
    viewer.show(2)
    assert viewer.message is None and _meta(viewer, "InstanceNumber") == "3"


def test_importing_the_viewer_loads_no_widget_or_table_library():
    code = (
        "import sys, dicomlab.notebook.viewer; "
        "print([m for m in ('ipywidgets', 'pandas', 'numpy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_datasets_are_fetched_once_and_the_cache_is_bounded(cohort, mr):
    store = Wrapped(cohort)
    viewer = _viewer(store, mr, start=0, cache_size=2, prefetch=0)
    for index in (1, 0, 1, 0):
        viewer.show(index)
    viewer.set_preset("lung")
    assert len(store.fetched) == 2
    viewer.show(2)  # evicts instance 1, the least recently used
    viewer.show(0)
    assert len(store.fetched) == 3
    viewer.show(1)
    assert len(store.fetched) == 4


def test_mimebundle_has_the_widget_and_a_static_image(cohort, mr):
    viewer = _viewer(cohort, mr, start=0)
    bundle = viewer._repr_mimebundle_()
    assert WIDGET_VIEW_MIMETYPE in bundle
    assert bundle[WIDGET_VIEW_MIMETYPE]["model_id"] == viewer.widget.model_id
    page = bundle["text/html"]
    assert page.count('<img src="data:image/png;base64,') == 1
    assert "InstanceNumber" in page and "studies/" in page
    assert bundle["text/plain"].startswith("SeriesViewer(instance 1 of 7")
    assert set(viewer._repr_mimebundle_(include={"text/html"})) == {"text/html"}
    assert "text/html" not in viewer._repr_mimebundle_(exclude={"text/html"})


def test_location_label_for_folder_and_http_stores(cohort, mr):
    study, series, _ = mr
    viewer = _viewer(cohort, mr, ohif_base=PUBLIC_OHIF_VIEWER)
    uid = viewer.current_ref.instance
    path = f"studies/{study}/series/{series}/instances/{uid}"
    label = viewer.location_label.value
    assert label.startswith("<code") and label.endswith(f">{path.replace('/', '/<wbr>')}</code>")
    assert "break-all" not in label and "anywhere" not in label  # never inside a UID
    assert "OHIF" not in label  # no OHIF link for a folder
    remote = Wrapped(cohort, url="http://orthanc:8042/dicom-web")
    remote_label = _viewer(remote, mr).location_label.value.replace("<wbr>", "")
    assert f"http://orthanc:8042/dicom-web/{path}" in remote_label
    linked = _viewer(remote, mr, ohif_base=PUBLIC_OHIF_VIEWER).location_label.value
    assert f'href="https://viewer.ohif.org/viewer?StudyInstanceUIDs={study}"' in linked


def test_instance_labels_use_instance_numbers_and_positions():
    labels = instance_labels(pd.DataFrame({"InstanceNumber": pd.array([1, 2, None], "Int64")}))
    assert labels == ["1", "2", "#3"]
    assert instance_labels(pd.DataFrame({"SOPInstanceUID": ["1.2", "1.3"]})) == ["#1", "#2"]
    repeated = instance_labels(pd.DataFrame({"InstanceNumber": [7, 7]}))
    assert repeated == ["7 (#1)", "7 (#2)"] and len(set(repeated)) == 2


def test_the_dropdown_is_wide_enough_for_its_labels(cohort, mr):
    viewer = _viewer(cohort, mr)
    labels = [label for label, _ in viewer.preset_dropdown.options]
    assert viewer.preset_dropdown.layout.width == "max-content"
    # about 7 px a character in the front ends' 13 px font, beside an 80 px description
    assert 80 + 7 * max(len(label) for label in labels) + 30 <= 260


@pytest.mark.parametrize(
    ("name", "source", "window"),
    [
        ("MR_small.dcm", "dataset", (600.0, 1600.0)),  # its own WindowCenter/Width
        ("CT_small.dcm", "range", None),  # no window stored: the frame's range
        ("rtdose.dcm", "range", (1.0245, 0.459)),  # in Gy, DoseGridScaling applied
        ("examples_rgb_color.dcm", "colour", None),  # colour: no window, no boxes
    ],
)
def test_the_boxes_show_the_window_actually_applied(tmp_path, name, source, window):
    store = _single_file_store(tmp_path, name)
    row = store.search_instances().iloc[0]
    viewer = SeriesViewer(store, row["StudyInstanceUID"], row["SeriesInstanceUID"], size=64)
    assert viewer.applied is not None and viewer.applied.source == source
    shown = (viewer.center_text.value, viewer.width_text.value)
    if source == "colour":
        assert viewer.center_text.layout.display == "none" == viewer.width_text.layout.display
        assert "no window applies" in viewer.window_label.value
        return
    assert viewer.center_text.layout.display is None
    if source == "dataset":
        assert "WindowCenter" in viewer.window_label.value
    assert shown == pytest.approx((viewer.applied.center, viewer.applied.width))
    assert shown != (0.0, 0.0)
    if window is not None:
        assert shown == pytest.approx(window)
    if source == "range":
        assert "range of values" in viewer.window_label.value
        # the range window re-applied as a custom one gives the same picture
        ds = viewer.dataset
        pixels = to_display_array(ds, window=shown)
        assert abs(pixels.astype(int) - to_display_array(ds).astype(int)).max() <= 1
    viewer.set_preset("lung")
    assert viewer.applied.source == "given" and viewer.window_label.value == ""


def test_an_unknown_series_is_not_found(cohort, mr):
    with pytest.raises(NotFoundError, match=re.escape("series 9.9 of study 1.2 has no instances")):
        SeriesViewer(cohort, "1.2", "9.9")
