"""remove_emptied_folders: empty folders go, up to the root and never past it."""

from __future__ import annotations

from pathlib import Path

from dicomlab.stores.localfiles import remove_emptied_folders


def test_the_root_and_what_is_above_it_stay_even_when_empty(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "a" / "b").mkdir(parents=True)
    remove_emptied_folders([root / "a" / "b", root], root)
    assert root.is_dir() and not any(root.iterdir()) and tmp_path.is_dir()


def test_a_folder_outside_the_root_is_left_alone(tmp_path: Path) -> None:
    root, outside = tmp_path / "store", tmp_path / "elsewhere" / "empty"
    root.mkdir()
    outside.mkdir(parents=True)
    (root / "link").symlink_to(outside, target_is_directory=True)
    remove_emptied_folders([root / "link", outside], root)
    assert outside.is_dir() and (root / "link").is_symlink()


def test_a_folder_that_is_not_empty_keeps_its_parents(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "c").mkdir()
    (root / "a" / "b" / "keep.txt").write_text("x")
    remove_emptied_folders([root / "a" / "b", root / "a" / "c"], root)
    assert (root / "a" / "b" / "keep.txt").read_text() == "x"
    assert not (root / "a" / "c").exists()
