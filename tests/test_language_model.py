"""Character KenLM + CTC beam search: tokens, building with lmplz, decoding, the `lm build` CLI.

The tools come from `bash scripts/build_kenlm.sh` (on PATH, in $TEXTREC_KENLM_BIN or its cache;
`nox -s tests` runs it when they are missing). Without them the tests that need them skip on a
developer machine, saying how to build them, and fail under CI=true, so CI cannot silently stop
covering them.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from textrec_cli.data.charsets import LINE_CHARSET
from textrec_cli.decoding.greedy import greedy_decode
from textrec_cli.decoding.lm import CTCLanguageModelDecoder, load_lm_decoder
from textrec_cli.errors import TextrecError
from textrec_cli.language import commands
from textrec_cli.language.char_lm import (
    SPACE,
    build_char_lm,
    clean_text,
    combined_licence,
    find_kenlm_tool,
    lm_text,
    lm_tokens,
    source_licences,
)

SUBJECTS = ["the cat", "the dog", "a cat", "my cat", "the bird", "her cat", "the old cat"]
VERBS = ["sat on", "ate", "saw", "ran to", "slept by", "liked"]
OBJECTS = ["the mat", "the dog", "a hat", "the fish", "the tree"]


def sentences() -> list[str]:
    """About 200 short sentences in which `cat` is common and `cet` never occurs."""
    lines = [f"{s} {v} {o}." for s, v, o in itertools.product(SUBJECTS, VERBS, OBJECTS)]
    return [line[0].upper() + line[1:] if i % 3 == 0 else line for i, line in enumerate(lines)]


def missing_kenlm_outcome(problem: str, env: Mapping[str, str]) -> tuple[str, str]:
    """("fail" | "skip", reason) for a test that needs KenLM's tools when they are missing:
    CI (CI=true, as CI services set it) must run these tests, a developer machine may lack a
    C++ toolchain."""
    how = (
        "build them with `bash scripts/build_kenlm.sh` (needs cmake, g++, Boost, zlib, bz2, "
        "lzma dev packages; `nox -s tests` runs it when those are installed)"
    )
    if env.get("CI", "").strip().lower() in ("true", "1", "yes"):
        return "fail", f"{problem}; CI=true, so this fails instead of skipping: {how}"
    return "skip", f"{problem}; skipped (CI=true would fail): {how}"


def require_kenlm() -> None:
    """Skip (developer machine) or fail (CI) unless lmplz and build_binary can be found."""
    try:
        for tool in ("lmplz", "build_binary"):
            find_kenlm_tool(tool)
    except TextrecError as exc:
        outcome, reason = missing_kenlm_outcome(str(exc).split(":")[0], os.environ)
        (pytest.fail if outcome == "fail" else pytest.skip)(reason)


@pytest.fixture(scope="module")
def kenlm() -> None:
    require_kenlm()


@pytest.fixture(scope="module")
def lm_dir(kenlm, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("char_lm")
    build_char_lm(sentences(), output, order=4, prune=(0, 0, 0, 1), show_progress=False)
    return output


def log_probs_for(frames: list[dict[str, float]], charset=LINE_CHARSET) -> np.ndarray:
    """(1, T, C+1) log-probs: each frame gives the named classes ("" = blank) their probability
    and spreads the rest evenly over the other classes."""
    index = {c: i + 1 for i, c in enumerate(charset)} | {"": 0}
    out = np.empty((len(frames), len(charset) + 1))
    for t, probs in enumerate(frames):
        rest = (1.0 - sum(probs.values())) / (out.shape[1] - len(probs))
        out[t] = rest
        for char, p in probs.items():
            out[t, index[char]] = p
    return np.log(out)[None]


def spell(text: str, ambiguous: dict[int, dict[str, float]] | None = None) -> np.ndarray:
    """Two frames per character then a blank; character i's frames use ambiguous[i] if given."""
    frames: list[dict[str, float]] = []
    for i, char in enumerate(text):
        probs = (ambiguous or {}).get(i, {char: 0.9})
        frames += [probs, probs, {"": 0.9}]
    return log_probs_for(frames)


def test_lm_tokens_round_trip():
    text = "Le chat | mange_à 3 €"
    tokens = lm_tokens(text)
    assert tokens == f"L e {SPACE} c h a t {SPACE} | {SPACE} m a n g e _ à {SPACE} 3 {SPACE} €"
    assert lm_text(tokens) == text
    assert lm_text(tokens.split()) == text
    assert clean_text("  l’été\u00a0☃  ok ") == "l'été ok"  # normalized, unknown char dropped


def test_build_writes_binary_and_metadata(lm_dir: Path):
    meta = json.loads((lm_dir / "lm.json").read_text())
    binary = lm_dir / "char_lm.binary"
    assert binary.is_file() and meta["size_bytes"] == binary.stat().st_size > 0
    assert meta["order"] == 4 and meta["tokens"] == f"chars, space={SPACE}"
    assert meta["lm_weight"] is None and meta["word_score"] == 0
    assert meta["sources"] == {"texts": {"lines": len(sentences()), "licence": "unknown"}}
    assert meta["licence"] == "unknown" and meta["attribution"] == []
    assert set(meta["ngram_counts"]) == {"1", "2", "3", "4"}
    assert not list(lm_dir.glob(".*"))  # no temp files left behind


def test_lm_fixes_a_misspelling_greedy_reads(lm_dir: Path):
    # `a` of "cat" is read as `e` slightly more often: greedy says "the cet"
    log_probs = spell("the cat", {5: {"e": 0.5, "a": 0.4}})
    assert greedy_decode(log_probs, LINE_CHARSET)[0][0] == "the cet"

    no_lm = CTCLanguageModelDecoder(lm_dir, LINE_CHARSET, lm_weight=0.0)
    assert [t for t, _ in no_lm.decode(log_probs)] == ["the cet"]
    with_lm = CTCLanguageModelDecoder(lm_dir, LINE_CHARSET, lm_weight=1.0)
    ((text, confidence),) = with_lm.decode(log_probs)
    assert text == "the cat"
    assert 0 < confidence < greedy_decode(log_probs, LINE_CHARSET)[0][1] <= 1

    best = with_lm.nbest(log_probs, 3)[0]
    assert best[0][0] == "the cat" and "the cet" in [t for t, _ in best]
    assert [s for _, s in best] == sorted((s for _, s in best), reverse=True)


def test_zero_weight_is_greedy_and_collapses_like_ctc(lm_dir: Path):
    # repeats without a blank collapse, a blank between two `l` keeps both, a leading blank run
    frames = [{"": 0.9}] * 3 + [{"a": 0.9}] * 3 + [{"l": 0.9}, {"": 0.9}, {"l": 0.9}, {" ": 0.9}]
    frames += [{"b": 0.5, "": 0.4}, {"b": 0.45, "c": 0.4}, {"|": 0.9}]
    rng = np.random.default_rng(0)
    noisy = rng.normal(size=(3, 40, len(LINE_CHARSET) + 1)) * 2.0
    noisy -= np.log(np.exp(noisy).sum(-1, keepdims=True))
    for log_probs in (log_probs_for(frames), noisy):
        greedy = greedy_decode(log_probs, LINE_CHARSET)
        for lm in (lm_dir, None):  # KenLM at weight 0, and flashlight's ZeroLM
            decoded = CTCLanguageModelDecoder(lm, LINE_CHARSET, lm_weight=0.0).decode(log_probs)
            assert [t for t, _ in decoded] == [t for t, _ in greedy]
            np.testing.assert_allclose([c for _, c in decoded], [c for _, c in greedy], rtol=1e-5)
    assert greedy_decode(log_probs_for(frames), LINE_CHARSET)[0][0] == "all b|"


def test_load_lm_decoder_needs_a_weight(lm_dir: Path):
    with pytest.raises(TextrecError, match="lm_weight"):
        load_lm_decoder(lm_dir, LINE_CHARSET)
    decoder = load_lm_decoder(lm_dir, LINE_CHARSET, lm_weight=0.5, beam_size=4)
    assert decoder.lm_weight == 0.5 and decoder.word_score == 0.0
    with pytest.raises(TextrecError, match="log-probs"):
        decoder.decode(np.zeros((1, 5, 10), np.float32))


def test_missing_lmplz_says_how_to_build_it(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TEXTREC_KENLM_BIN", str(tmp_path))
    with pytest.raises(TextrecError, match=r"lmplz.*scripts/build_kenlm\.sh"):
        build_char_lm(["a b c"], tmp_path / "lm", show_progress=False)
    monkeypatch.delenv("TEXTREC_KENLM_BIN")
    with pytest.raises(TextrecError, match="build_kenlm.sh"):
        build_char_lm(["a b c"], tmp_path / "lm", lmplz=tmp_path / "nope", show_progress=False)
    assert not (tmp_path / "lm" / "lm.json").exists()


def test_missing_kenlm_skips_with_reason_but_fails_under_ci(tmp_path: Path, monkeypatch):
    assert missing_kenlm_outcome("lmplz not found", {"CI": "true"})[0] == "fail"
    assert missing_kenlm_outcome("lmplz not found", {"CI": "false"})[0] == "skip"
    outcome, reason = missing_kenlm_outcome("lmplz not found", {})
    assert outcome == "skip" and "lmplz not found" in reason and "build_kenlm.sh" in reason
    monkeypatch.setenv("TEXTREC_KENLM_BIN", str(tmp_path))  # an empty folder: no tools
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"lmplz not found.*CI=true.*build_kenlm\.sh"):
        require_kenlm()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"lmplz not found.*build_kenlm\.sh"):
        require_kenlm()


def test_cli_lm_build(kenlm, tmp_path: Path):
    app = typer.Typer()
    commands.register(app)
    lines = tmp_path / "lines"
    lines.mkdir()
    rows = ["file\tsplit\ttext", "a.png\ttrain\tLe chat dort.", "b.png\tval\tSECRET val line",
            "c.png\t\tUn chien \u2014 noir."]  # fmt: skip
    (lines / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    text = tmp_path / "text.txt"
    text.write_text("\n".join(sentences()) + "\n", encoding="utf-8")
    runner = CliRunner()
    args = ["lm", "build", "--output", str(tmp_path / "lm"), "--no-corpus", "--order", "3"]
    licences = ["--licence", "lines=CC-BY-4.0", "--licence", "text:text.txt=public domain"]
    result = runner.invoke(
        app, [*args, "--text", str(text), "--lines-dir", str(lines), *licences,
              "--attribution", "Lines, CC BY 4.0", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout)
    assert meta["sources"] == {
        "lines:lines": {"lines": 2, "licence": "CC-BY-4.0"},
        "text:text.txt": {"lines": len(sentences()), "licence": "public domain"},
    }
    assert meta["licence"] == "CC-BY-4.0" and meta["attribution"] == ["Lines, CC BY 4.0"]
    assert meta["order"] == 3 and (tmp_path / "lm" / "char_lm.binary").is_file()

    failed = runner.invoke(app, [*args, "--prune", "1,0"])
    assert failed.exit_code == 1 and "pruning must start at 0" in failed.output
    failed = runner.invoke(app, [*args, "--text", str(text), "--licence", "text.txt"])
    assert failed.exit_code == 1 and "SOURCE=LICENCE" in failed.output


def test_source_licences_and_the_lm_licence():
    names = ["corpus:brown", "corpus:inaugural", "lines:copiste", "text:notes.txt"]
    given = {"copiste": "CC-BY-4.0", "text:notes.txt": "CC0-1.0"}
    assert source_licences(names, given) == {
        "corpus:brown": "non-commercial use only",
        "corpus:inaugural": "public domain",
        "lines:copiste": "CC-BY-4.0",
        "text:notes.txt": "CC0-1.0",
    }
    assert source_licences(["lines:mine"]) == {"lines:mine": "unknown"}
    assert combined_licence(["public domain", "CC0-1.0"]) == "public domain"
    assert combined_licence(["public domain", "CC-BY-4.0"]) == "CC-BY-4.0"
    assert combined_licence(["CC-BY-4.0", "non-commercial use only"]) == "non-commercial use only"
    assert combined_licence(["CC-BY-4.0", "unknown"]) == combined_licence([]) == "unknown"


def test_bundled_lm_is_openly_licensed():
    """The shipped LM's text: public-domain corpora and CC BY train lines, never Brown or val."""
    from textrec_cli import settings
    from textrec_cli.data.corpus import OPEN_LICENCES

    meta = json.loads((settings.BUNDLED_LM / "lm.json").read_text(encoding="utf-8"))
    assert "corpus:brown" not in meta["sources"] and meta["licence"] == "CC-BY-4.0"
    assert meta["sources"] and all(
        source["licence"] in OPEN_LICENCES for source in meta["sources"].values()
    )
    assert meta["attribution"] and meta["lm_weight"] is not None
    assert meta["tuned_on"]["split"] == "val"
