"""Corpus text and EMNIST Lines, on tiny hand-made corpora and a fake character dataset."""

from __future__ import annotations

import string
import zipfile
from pathlib import Path

import numpy as np
import pytest

from textrec_cli.data import corpus, emnist_lines
from textrec_cli.data.charsets import EMNIST_BYCLASS
from textrec_cli.data.corpus import TextSampler, load_sentences
from textrec_cli.data.h5store import CharDataset, Split, write_dataset
from textrec_cli.data.line_store import read_lines
from textrec_cli.errors import TextrecError

SHARED_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

BROWN_LINES = [
    "The/at Fulton/np-tl County/nn-tl ,/, said/vbd ``/`` no/at ''/'' ./.",
    "Was/bedz it/pps (/( really/rb )/) over/rb ?/. ?/.",
    "He/pps liked/vbd '/' pro/jj '/' letters/nns --/-- $5/nns each/dt ;/. ;/.",
]
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    'She said, "Really?" and left; nobody (not even Tom) followed!',
    "It's 3:15 - well-known facts/figures don't lie.",
    "Short one.",
    "A sentence with a ridiculouslylongwordthatcannotfitonanysinglelineatall in it.",
]


def write_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


@pytest.fixture
def brown_zip(tmp_path: Path) -> Path:
    """NLTK's layout: tab-indented tagged sentences between blank lines, plus non-text files."""
    body = "".join(f"\n\n\t{line}\n" for line in BROWN_LINES)
    members = {"brown/ca01": body, "brown/README": "not text", "brown/cats.txt": "ca01 news"}
    return write_zip(tmp_path / "brown.zip", members)


def test_brown_detokenization(brown_zip: Path) -> None:
    assert load_sentences([brown_zip]) == [
        'The Fulton County, said "no".',
        "Was it (really) over?",
        "He liked 'pro' letters - $5 each;",
    ]


def test_plain_text_is_split_into_sentences(tmp_path: Path) -> None:
    text = "Mr. Speaker, I thank you. We won -- at last! Did we? Yes.\n \nHARRY S. TRUMAN\n"
    archive = write_zip(
        tmp_path / "inaugural.zip", {"inaugural/1789-X.txt": text, "inaugural/README": "x. Y."}
    )
    assert load_sentences([archive]) == [
        "Mr. Speaker, I thank you.",
        "We won - at last!",
        "Did we?",
        "Yes.",
        "HARRY S. TRUMAN",
    ]


def test_sampler_respects_length_and_charset_and_is_deterministic() -> None:
    charset = list(string.ascii_letters + " .,'")
    sampler = TextSampler(SENTENCES, charset=charset, min_chars=8, max_chars=20)
    texts = [sampler.sample(np.random.default_rng(seed)) for seed in range(300)]
    assert all(8 <= len(t) <= 20 for t in texts), [t for t in texts if not 8 <= len(t) <= 20]
    assert set("".join(texts)) <= set(charset)
    assert "  " not in "".join(texts) and all(t == t.strip() for t in texts)
    assert len(set(texts)) > 30  # full sentences and cut pieces, not one fixed text
    assert "Short one." in texts  # short sentences come out whole
    again = [sampler.sample(np.random.default_rng(seed)) for seed in range(300)]
    assert again == texts
    assert sampler.sample(np.random.default_rng(0), max_chars=12) != ""
    assert all(len(sampler.sample(np.random.default_rng(s), max_chars=12)) <= 12 for s in range(50))


def fake_chars(per_class: int = 3, mapping: list[str] = EMNIST_BYCLASS) -> CharDataset:
    """Random bright boxes of varied size (like glyphs of varied aspect), per split."""
    rng = np.random.default_rng(42)
    splits = {}
    for name in ("train", "val", "test"):
        x = np.zeros((len(mapping) * per_class, 28, 28), np.uint8)
        for image in x:
            h, w = rng.integers(16, 26), rng.integers(8, 21)  # mostly taller than wide
            top, left = (28 - h) // 2, (28 - w) // 2
            image[top : top + h, left : left + w] = rng.integers(100, 256, size=(h, w))
        splits[name] = Split(x, np.repeat(np.arange(len(mapping)), per_class))
    return CharDataset("fake", list(mapping), splits)


def build(seed: int = 0, chars: CharDataset | None = None, count: int = 6):
    sampler = TextSampler(SENTENCES, max_chars=24)
    counts = {"train": count, "val": 2, "test": 2}
    return emnist_lines.build(chars or fake_chars(), sampler, counts, max_length=24, seed=seed)


def test_emnist_lines_are_deterministic() -> None:
    a, b, c = build(0), build(0), build(1)
    for name in ("train", "val", "test"):
        assert a.splits[name].texts == b.splits[name].texts
        assert all(
            np.array_equal(x, y)
            for x, y in zip(a.splits[name].images, b.splits[name].images, strict=True)
        )
    different = a.splits["train"].texts != c.splits["train"].texts or any(
        x.shape != y.shape or not np.array_equal(x, y)
        for x, y in zip(a.splits["train"].images, c.splits["train"].images, strict=True)
    )
    assert different


def test_emnist_lines_format() -> None:
    dataset = build(count=12)
    allowed = set(EMNIST_BYCLASS) | set(emnist_lines.PUNCTUATION) | {" "}
    assert dataset.height == 40 and [len(s) for s in dataset.splits.values()] == [12, 2, 2]
    for split in dataset.splits.values():
        for image, text in zip(split.images, split.texts, strict=True):
            assert text and text == text.strip() and len(text) <= 24 and set(text) <= allowed
            assert image.dtype == np.uint8 and image.shape[0] == 40
            assert image.shape[1] >= 2 * len(text)  # a word space or glyph per character
            border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
            assert image.max() > 200 and np.median(border) < 30  # ink bright on black
    texts = "".join(t for s in dataset.splits.values() for t in s.texts)
    assert set(texts) & set(",.;?!\"'()-") and any(c.islower() for c in texts)


@pytest.mark.parametrize("mark", list(emnist_lines.PUNCTUATION))
def test_punctuation_is_drawn_with_ink(mark: str) -> None:
    rng = np.random.default_rng(0)
    glyph, top = emnist_lines.draw_punctuation(mark, 28.0, rng)
    assert glyph.max() > 200 and (glyph > 128).sum() >= 4
    assert -1.3 * 28 <= top <= 0.2 * 28  # placed around the baseline, not anywhere
    chars = fake_chars(1)
    glyphs = emnist_lines._Glyphs(chars, chars.splits["train"])
    image = emnist_lines.render_line(f"a{mark}b", glyphs, rng, 40)
    assert (image > 128).sum() > 20


def test_case_is_visible_and_missing_case_falls_back() -> None:
    chars = fake_chars(1)
    glyphs = emnist_lines._Glyphs(chars, chars.splits["train"])
    rng = np.random.default_rng(0)
    small, _ = glyphs.draw("o", 28.0, rng)
    capital, _ = glyphs.draw("O", 28.0, rng)
    descender, descender_top = glyphs.draw("g", 28.0, rng)
    assert small.shape[0] < 0.8 * capital.shape[0]
    assert descender_top + descender.shape[0] > 5  # g hangs below the baseline
    upper_only = fake_chars(1, list(string.digits + string.ascii_uppercase))
    fallback = emnist_lines._Glyphs(upper_only, upper_only.splits["train"])
    assert fallback.drawable("Café, 5 €!") == "CAFE, 5 !"


@pytest.fixture
def inaugural_zip(tmp_path: Path) -> Path:
    """A public-domain corpus in NLTK's plain layout, beside the Brown fixture."""
    text = " ".join(SENTENCES) + "\n"
    return write_zip(tmp_path / "inaugural.zip", {"inaugural/1789-Washington.txt": text})


def test_prepare_writes_split_dataset(
    workdir: Path, brown_zip: Path, inaugural_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = workdir / "data"
    write_dataset(data_dir / "processed" / "synthetic_chars.h5", fake_chars())
    monkeypatch.setenv("TEXTREC_CORPUS_DIR", str(brown_zip.parent))
    monkeypatch.delenv(corpus.CORPORA_ENV, raising=False)
    path = emnist_lines.prepare(data_dir, count=20, max_length=16, show_progress=False)
    assert path == emnist_lines.processed_path(data_dir)
    dataset = read_lines(path)
    assert {k: len(v) for k, v in dataset.splits.items()} == {"train": 16, "val": 2, "test": 2}
    # the non-commercial Brown corpus beside it is left out unless asked for
    assert dataset.metadata["corpus"] == ["inaugural.zip"] and dataset.height == 40
    monkeypatch.setenv(corpus.CORPORA_ENV, "brown,inaugural")
    path = emnist_lines.prepare(data_dir, count=20, max_length=16, show_progress=False)
    assert read_lines(path).metadata["corpus"] == ["brown.zip", "inaugural.zip"]


def test_corpus_selection_is_licence_aware(
    brown_zip: Path, inaugural_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = brown_zip.parent
    monkeypatch.delenv(corpus.CORPORA_ENV, raising=False)
    assert set(corpus.LICENCES) == set(corpus.CORPORA)
    assert corpus.LICENCES["brown"] == corpus.NON_COMMERCIAL and not corpus.is_open("brown")
    assert corpus.is_open("inaugural") and corpus.is_open("state_union")
    assert corpus.selected_corpora() == ["inaugural", "state_union"]
    assert corpus.corpus_zips(folder) == [inaugural_zip]
    assert corpus.corpus_zips(folder, allow_noncommercial=True) == [brown_zip, inaugural_zip]
    assert corpus.corpus_licence(corpus.corpus_zips(folder)) == corpus.PUBLIC_DOMAIN
    assert corpus.corpus_licence(["brown", "inaugural"]) == corpus.NON_COMMERCIAL
    for value, expected in [("brown", [brown_zip]), ("all", [brown_zip, inaugural_zip]),
                            (" inaugural, ", [inaugural_zip])]:  # fmt: skip
        monkeypatch.setenv(corpus.CORPORA_ENV, value)
        assert corpus.corpus_zips(folder) == expected
    monkeypatch.setenv(corpus.CORPORA_ENV, "brown,gutenberg")
    with pytest.raises(TextrecError, match="unknown corpora gutenberg"):
        corpus.corpus_zips(folder)


def test_prepare_without_corpus_says_how_to_get_one(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEXTREC_CORPUS_DIR", str(workdir / "empty"))
    with pytest.raises(TextrecError, match="textrec download corpus"):
        emnist_lines.prepare(workdir / "data", count=10, show_progress=False)


def test_corpus_dir_order_and_offline_download(
    workdir: Path, brown_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = workdir / "data"
    monkeypatch.delenv("TEXTREC_CORPUS_DIR", raising=False)
    monkeypatch.delenv(corpus.CORPORA_ENV, raising=False)
    assert corpus.corpus_dir(data_dir) is None
    with pytest.raises(TextrecError, match="checksum mismatch"):
        corpus.download_corpus("brown", data_dir, brown_zip, show_progress=False)  # not NLTK's
    assert corpus.corpus_dir(data_dir) is None
    (data_dir / "raw" / "corpus").mkdir(parents=True, exist_ok=True)
    (data_dir / "raw" / "corpus" / "inaugural.zip").write_bytes(b"")
    assert corpus.corpus_dir(data_dir) == data_dir / "raw" / "corpus"
    monkeypatch.setenv("TEXTREC_CORPUS_DIR", str(brown_zip.parent))
    assert corpus.corpus_dir(data_dir) == data_dir / "raw" / "corpus"  # Brown alone: skipped
    assert corpus.corpus_dir(data_dir, allow_noncommercial=True) == brown_zip.parent
    monkeypatch.setenv(corpus.CORPORA_ENV, "brown")
    assert corpus.corpus_dir(data_dir) == brown_zip.parent
    with pytest.raises(TextrecError, match="unknown corpus"):
        corpus.download_corpus("gutenberg", data_dir)


@pytest.mark.skipif(
    not (SHARED_CORPUS / "brown.zip").is_file(),
    reason=f"NLTK Brown corpus not present at {SHARED_CORPUS / 'brown.zip'}",
)
def test_real_brown_corpus(tmp_path: Path) -> None:
    source = SHARED_CORPUS / "brown.zip"
    dest = corpus.download_corpus("brown", tmp_path, source=source, show_progress=False)
    sentences = load_sentences([dest])
    assert len(sentences) > 40000
    assert sentences[0].startswith("The Fulton County Grand Jury said Friday")
    assert not any(";;" in s or "??" in s or " ," in s for s in sentences)
