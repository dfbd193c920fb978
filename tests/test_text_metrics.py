"""Hand-computed cases for edit distance, corpus CER/WER and the line report."""

from __future__ import annotations

import json
import random
import unicodedata

import pytest

from textrec_cli.evaluation.text_metrics import cer, edit_distance, line_report, wer


def _reference_distance(a, b) -> int:
    """Textbook Levenshtein DP, the oracle for the bit-parallel version."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("kitten", "sitting", 3),
        ("sitting", "kitten", 3),
        ("", "", 0),
        ("abc", "", 3),
        ("", "abcd", 4),
        ("flaw", "lawn", 2),
        ("same", "same", 0),
        ("a", "b", 1),
    ],
)
def test_edit_distance_known(a: str, b: str, expected: int) -> None:
    assert edit_distance(a, b) == expected


def test_edit_distance_on_words() -> None:
    assert edit_distance(["the", "cat", "sat"], ["the", "bat", "sat", "down"]) == 2
    assert edit_distance((1, 2, 3), (1, 3)) == 1


def test_edit_distance_matches_dp_on_random_strings() -> None:
    rng = random.Random(1234)
    for _ in range(2000):
        a = "".join(rng.choice("abc ") for _ in range(rng.randint(0, 15)))
        b = "".join(rng.choice("abc ") for _ in range(rng.randint(0, 15)))
        assert edit_distance(a, b) == _reference_distance(a, b), (a, b)
    # Longer than a machine word, to exercise the unbounded bit vectors.
    for _ in range(20):
        a = "".join(rng.choice("abcdefgh") for _ in range(rng.randint(60, 150)))
        b = "".join(rng.choice("abcdefgh") for _ in range(rng.randint(60, 150)))
        assert edit_distance(a, b) == _reference_distance(a, b)


def test_cer_basic_and_empty_hyp() -> None:
    assert cer(["kitten"], ["sitting"]) == pytest.approx(3 / 6)
    assert cer(["abc"], [""]) == 1.0
    assert cer(["abc", "de"], ["", ""]) == 1.0


def test_all_empty_refs_use_denominator_one() -> None:
    assert cer([""], [""]) == 0.0
    assert cer(["", ""], ["", ""]) == 0.0
    assert cer([""], ["xyz"]) == 3.0
    assert wer([""], [""]) == 0.0
    assert wer(["  "], ["two words"]) == 2.0
    assert cer([], []) == 0.0


def test_corpus_cer_is_not_mean_of_line_cers() -> None:
    refs = ["a", "abcdefghij"]
    hyps = ["b", "abcdefghij"]
    # Per-line CERs are 1.0 and 0.0 (mean 0.5); corpus CER is 1 edit / 11 chars.
    assert cer(refs, hyps) == pytest.approx(1 / 11)


def test_wer_known() -> None:
    assert wer(["the cat sat"], ["the bat sat down"]) == pytest.approx(2 / 3)
    assert wer(["a  b\tc"], ["a b c"]) == 0.0  # any whitespace splits


def test_accented_chars_count_once() -> None:
    assert cer(["été"], ["ete"]) == pytest.approx(2 / 3)
    assert edit_distance("é", "e") == 1
    assert cer(["é"], ["é"]) == 0.0
    # NFD spells "é" as two code points: callers normalise (documented), then it counts once.
    decomposed = unicodedata.normalize("NFD", "é")
    assert len(decomposed) == 2
    assert edit_distance(unicodedata.normalize("NFC", decomposed), "e") == 1


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError):
        cer(["a"], [])
    with pytest.raises(ValueError):
        line_report(["a"], ["a"], files=["x.png", "y.png"])


def test_line_report_values_and_worst_ordering() -> None:
    refs = ["hello world", "abcd", "xy", "perfect", "abcdefgh"]
    hyps = ["hello word", "abzz", "", "perfect", "abcdezzz"]
    files = [f"line{i}.png" for i in range(len(refs))]
    report = line_report(refs, hyps, files=files, worst=3)
    json.dumps(report, allow_nan=False)  # plain JSON types only
    assert report["lines"] == 5
    assert report["chars"] == 11 + 4 + 2 + 7 + 8
    assert report["words"] == 2 + 1 + 1 + 1 + 1
    # Edits: 1 + 2 + 2 + 0 + 3 = 8 chars; words: 1 + 1 + 1 + 0 + 1 = 4.
    assert report["cer"] == round(8 / 32, 4)
    assert report["wer"] == round(4 / 6, 4)
    assert report["exact_match"] == 0.2
    # Per-line CER: 1/11, 0.5, 1.0, 0.0, 0.375 -> "xy", then "abcd", then "abcdefgh".
    assert [w["file"] for w in report["worst"]] == ["line2.png", "line1.png", "line4.png"]
    assert report["worst"][0] == {
        "index": 2,
        "file": "line2.png",
        "ref": "xy",
        "hyp": "",
        "cer": 1.0,
    }
    assert report["worst"][2]["cer"] == 0.375


def test_line_report_ties_and_exact_lines() -> None:
    # Same per-line CER 0.5: more edits first, then input order; perfect lines are not listed.
    refs = ["ab", "abcd", "cd", "ok"]
    hyps = ["xb", "xxcd", "xd", "ok"]
    report = line_report(refs, hyps)
    assert [w["index"] for w in report["worst"]] == [1, 0, 2]
    assert all(w["file"] is None for w in report["worst"])
    assert line_report(["a"], ["a"])["worst"] == []
    assert line_report(refs, hyps, worst=0)["worst"] == []


def test_line_report_empty() -> None:
    report = line_report([], [])
    assert report["lines"] == 0
    assert report["cer"] == 0.0
    assert report["exact_match"] == 0.0
    assert report["worst"] == []
