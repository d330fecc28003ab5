"""Notebooks 01 and 02 run in share mode: no identifier in any output, real UIDs in the bucket."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

from dicomlab.audit import audit_notebook, notebook_texts, table_identifiers  # noqa: E402
from dicomlab.core.deid import token_pattern  # noqa: E402
from tests.support.paths import NOTEBOOKS  # noqa: E402


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """Both notebooks executed with DICOMLAB_SHARE=1 in one data folder, saved with widget state."""
    from nbclient import NotebookClient

    home = tmp_path_factory.mktemp("share-home")
    work = tmp_path_factory.mktemp("share-run")
    saved = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DICOMLAB_SHARE", "1")
        patch.setenv("DICOMLAB_HOME", str(home))
        patch.setenv("MPLBACKEND", "Agg")
        for name in ("01_quickstart.ipynb", "02_cohort_filter_file.ipynb"):
            notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
            NotebookClient(notebook, timeout=180, kernel_name="python3").execute(cwd=str(work))
            path = work / name
            nbformat.write(notebook, path)
            saved.append(path)
    return home, saved


@pytest.mark.slow
def test_shared_notebooks_show_no_identifier(shared_run: tuple[Path, list[Path]]) -> None:
    home, saved = shared_run
    for path in saved:
        # A shown date may fall on another real date by chance: the audit marks it shifted.
        assert [f for f in audit_notebook(path, home=home) if not f.shifted] == [], path.name
    text = "".join(
        t for path in saved for _, t in notebook_texts(nbformat.read(path, as_version=4))
    )
    # The sample's own values, by name: the audit above must have been looking for them.
    for value in ("77654033", "98890234", "1.3.6.1.4.1.5962.1.1.0.0.0.1196527414.5534.0.1"):
        assert not token_pattern([value]).findall(text), value  # not digits of a 2.25. UID
    assert "share mode" in text  # the Lab's display says so
    # The work ran on the real data: notebook 02 lists its filter file and record by pseudonym.
    listing = next(
        c for c in nbformat.read(saved[1], as_version=4).cells if "bucket.list()" in c.source
    )
    assert listing.outputs[0]["data"]["text/plain"].count("cohort-ID-") == 2


@pytest.mark.slow
def test_shared_notebooks_write_real_studies_to_the_bucket(
    shared_run: tuple[Path, list[Path]],
) -> None:
    import dicomlab

    home, _ = shared_run
    lab = dicomlab.connect(home=home, share=False)
    real = lab.sql("SELECT PatientID, StudyInstanceUID, SeriesInstanceUID FROM dicom_metadata")
    for name, patient in (
        ("quickstart-cohort.txt", "77654033"),
        ("cohort-98890234.txt", "98890234"),
    ):
        lines = (home / "bucket" / name).read_text().split()
        expected = real[real.PatientID == patient]
        wanted = {
            f"/studies/{s}/series/{r}"
            for s, r in zip(expected.StudyInstanceUID, expected.SeriesInstanceUID, strict=True)
        }
        assert lines and set(lines) <= wanted, name
    # The provenance records in the bucket keep the real query parameters.
    records = [p.read_text() for p in (home / "bucket").glob("quickstart-cohort.*.provenance.json")]
    assert records and any("77654033" in r for r in records)


def test_an_unshared_output_is_found(tmp_path: Path) -> None:
    """The audit fails a notebook that shows a PatientID, a UID or a study date."""
    import dicomlab

    lab = dicomlab.connect(home=tmp_path / "home", share=False)
    lab.export_metadata(progress=False, workers=1)
    rows = lab.sql("SELECT * FROM dicom_metadata")
    shown = [rows.PatientID[0], rows.SOPInstanceUID[3], rows.StudyDate[5].strftime("%Y-%m-%d")]
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("stream", text=f"a {v} b") for v in shown]
    notebook.cells = [cell]
    nbformat.write(notebook, tmp_path / "leaky.ipynb")
    found = audit_notebook(tmp_path / "leaky.ipynb", home=tmp_path / "home")
    assert [f.value for f in found] == shown
    assert set(shown) <= table_identifiers(rows.to_dict("records"))
