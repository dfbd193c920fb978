from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from textrec_cli.data import synthetic_chars
from textrec_cli.data.fonts import discover_fonts, family_of, split_families
from textrec_cli.data.h5store import read_dataset


def test_font_families_group_styles() -> None:
    assert family_of(Path("DancingScript-Bold.otf")) == family_of(
        Path("dancing-script-latin-400-normal.woff")
    )
    assert family_of(Path("dkgBI.ttf")) == family_of(Path("dkg.ttf"))
    assert family_of(Path("Purisa-BoldOblique.ttf")) == "purisa"
    assert family_of(Path("scripts.jhf")) == family_of(Path("scriptc.jhf"))


def test_split_families_is_stable_and_complete() -> None:
    families = [f"font{i}" for i in range(20)]
    split = split_families(families)
    assert split == split_families(list(reversed(families)))
    assert set(split.values()) == {"train", "val", "test"}
    assert sum(v == "test" for v in split.values()) == 3


@pytest.fixture
def few_fonts(tmp_path: Path, shared_fonts: Path) -> Path:
    """Three families (enough for a train/val/test split) linked into a temp folder."""
    folder = tmp_path / "fonts"
    (folder / "hershey").mkdir(parents=True)
    for name in ("Kristi.ttf", "kalam-latin-400-normal.woff"):
        (folder / name).symlink_to(shared_fonts / name)
    (folder / "hershey" / "futural.jhf").symlink_to(shared_fonts / "hershey" / "futural.jhf")
    return folder


def test_build_is_deterministic_and_split_by_font(tmp_path: Path, few_fonts: Path) -> None:
    per_class = {"train": 2, "val": 1, "test": 1}
    charset = list("aB3")
    a = synthetic_chars.build(
        few_fonts, per_class, seed=7, charset=charset, workers=1, show_progress=False
    )
    b = synthetic_chars.build(
        few_fonts, per_class, seed=7, charset=charset, workers=1, show_progress=False
    )
    c = synthetic_chars.build(
        few_fonts, per_class, seed=8, charset=charset, workers=1, show_progress=False
    )
    for split in a.splits:
        np.testing.assert_array_equal(a.splits[split].x, b.splits[split].x)
    assert not np.array_equal(a.splits["train"].x, c.splits["train"].x)
    fonts_by_split = {}
    for font, split in a.metadata["fonts"].items():
        fonts_by_split.setdefault(split, set()).add(font)
    assert set(fonts_by_split) == {"train", "val", "test"}
    train = a.splits["train"]
    assert train.x.shape[1:] == (28, 28) and train.x.dtype == np.uint8
    assert sorted(set(train.y.tolist())) == [0, 1, 2]
    assert train.x.reshape(len(train.x), -1).max(axis=1).min() == 255  # every glyph has ink


def test_prepare_writes_a_readable_dataset(tmp_path: Path, few_fonts: Path) -> None:
    path = synthetic_chars.prepare(
        tmp_path / "data",
        few_fonts,
        per_class_train=1,
        per_class_eval=1,
        workers=1,
        show_progress=False,
    )
    dataset = read_dataset(path)
    assert dataset.mapping[:3] == ["0", "1", "2"] and len(dataset.mapping) == 62
    assert dataset.input_shape == (28, 28, 1)


def test_caps_only_font_lowercase_is_excluded(shared_fonts: Path) -> None:
    humor = next(s for s in discover_fonts(shared_fonts) if s.path.name == "Humor-Sans.ttf")
    chars = synthetic_chars.available_chars(humor, list("AaBb"))
    assert "A" in chars and "B" in chars
    assert "a" not in chars and "b" not in chars
