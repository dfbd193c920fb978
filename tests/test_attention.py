"""The transformer line model, its decoders (greedy, beam, cached/uncached) and ensembles."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from line_fixture import TEXTS, render

from textrec_cli import settings
from textrec_cli.data.charsets import LINE_CHARSET
from textrec_cli.decoding.attention import AttentionDecoding
from textrec_cli.inference.ensemble import EnsembleReader, load_ensemble, pick_best, save_ensemble
from textrec_cli.inference.line_reader import LineReader
from textrec_cli.models import build_model
from textrec_cli.models.store import SavedModel, load_model, save_model
from textrec_cli.models.transformer import smoothed_nll, special_tokens, teacher_forcing
from textrec_cli.stems.line import line_stem
from textrec_cli.training.line_batches import pad_batch

TINY = dict(
    units=48, blocks=1, kernel=5, encoder_dropout=0.0, d_model=48, heads=2, ff=96,
    decoder_layers=1, max_len=24, dropout=0.0,
)  # fmt: skip


def _fixture_batch(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    stems = [line_stem(render(t)) for t in texts]
    index = {c: i for i, c in enumerate(LINE_CHARSET)}
    # padded like LineReader pads (64-px steps), so the overfit model sees no new padding
    return pad_batch(stems, texts, index, max_width=1600, width_step=64)


@pytest.fixture(scope="module")
def overfit() -> tuple[keras.Model, np.ndarray, list[str]]:
    """A tiny transformer trained on four fixture lines until it reads them."""
    from textrec_cli.models.ctc import ctc_loss

    keras.utils.set_random_seed(0)
    texts = TEXTS[:4]
    x, y = _fixture_batch(texts)
    dec_in, dec_out = teacher_forcing(y, len(LINE_CHARSET))
    model = build_model("transformer", (40, None, 1), len(LINE_CHARSET), **TINY)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss={"ctc": ctc_loss, "dec": smoothed_nll(0.0)},
        loss_weights={"ctc": 0.3, "dec": 0.7},
    )
    inputs, targets = {"image": x, "tokens": dec_in}, {"ctc": y, "dec": dec_out}
    model.fit(inputs, targets, batch_size=4, epochs=250, verbose=0)
    return model, x, texts


def test_teacher_forcing_shifts_text_between_bos_and_eos() -> None:
    bos, eos = special_tokens(10)
    dec_in, dec_out = teacher_forcing(np.array([[3, 4, -1], [5, 6, 7]]), 10)
    assert dec_in.tolist() == [[bos, 3, 4, 0], [bos, 5, 6, 7]]
    assert dec_out.tolist() == [[3, 4, eos, 0], [5, 6, 7, eos]]


def test_transformer_overfits_fixture_lines_exactly(overfit) -> None:
    model, x, texts = overfit
    decoded = AttentionDecoding(model, len(LINE_CHARSET)).greedy(x, LINE_CHARSET)
    assert [text for text, _ in decoded] == texts
    assert all(0.5 < conf <= 1.0 for _, conf in decoded)


def test_beam_of_one_equals_greedy(overfit) -> None:
    model, x, _ = overfit
    decoding = AttentionDecoding(model, len(LINE_CHARSET))
    greedy = decoding.greedy(x, LINE_CHARSET)
    beam = decoding.beam(x, LINE_CHARSET, beam_width=1)
    assert [hyps[0][0] for hyps in beam] == [text for text, _ in greedy]
    np.testing.assert_allclose([h[0][1] for h in beam], [c for _, c in greedy], rtol=1e-4)


def test_kv_cache_gives_the_uncached_outputs() -> None:
    """On an untrained model (long, arbitrary outputs), so every step and position is used."""
    keras.utils.set_random_seed(1)
    model = build_model("transformer", (40, None, 1), len(LINE_CHARSET), **TINY)
    x, _ = _fixture_batch(TEXTS[:3])
    decoding = AttentionDecoding(model, len(LINE_CHARSET))
    cached = decoding.greedy(x, LINE_CHARSET)
    uncached = decoding.greedy_uncached(x, LINE_CHARSET)
    assert [t for t, _ in cached] == [t for t, _ in uncached]
    assert any(len(t) > 5 for t, _ in cached)  # the loop really ran many steps
    np.testing.assert_allclose([c for _, c in cached], [c for _, c in uncached], rtol=1e-4)


def test_beam_scores_are_exact_log_likelihoods(overfit) -> None:
    model, x, texts = overfit
    decoding = AttentionDecoding(model, len(LINE_CHARSET))
    hyps = decoding.beam(x, LINE_CHARSET, beam_width=3)
    best = [h[0] for h in hyps]
    scored = decoding.log_likelihood(x, [text for text, _, _ in best], LINE_CHARSET)
    np.testing.assert_allclose(scored, [total for _, _, total in best], rtol=1e-3, atol=1e-3)
    assert [text for text, _, _ in best] == texts


def test_saved_transformer_reads_through_line_reader(overfit, tmp_path: Path) -> None:
    model, x, texts = overfit
    metadata = {"task": "line", "charset": LINE_CHARSET, "input_shape": [40, None, 1],
                "decoder": "attention", "version": "tiny"}  # fmt: skip
    save_model(model, tmp_path / "tiny", metadata)
    reader = LineReader(load_model(tmp_path / "tiny"))
    assert [t for t, _ in reader.read_stems([line_stem(render(t)) for t in texts])] == texts
    beam = LineReader(load_model(tmp_path / "tiny"), beam_width=3)
    assert [t for t, _ in beam.read_stems([line_stem(render(t)) for t in texts])] == texts


def test_ensemble_of_a_model_with_itself_is_that_model(tmp_path: Path) -> None:
    """Posterior averaging of identical CTC members changes nothing: same texts, confidences."""
    bundled = settings.BUNDLED_LINE_MODEL
    stems = [line_stem(render(t)) for t in TEXTS]
    single = LineReader(load_model(bundled)).read_stems(stems)
    pair = load_ensemble(f"ensemble:{bundled},{bundled}")
    _assert_same_reading(pair.read_stems(stems), single)
    assert pair.version.startswith("ensemble(")
    # the same through a saved config, member named as a bundled model
    save_ensemble(tmp_path / "ens", [bundled.name, str(bundled)])
    _assert_same_reading(load_ensemble(tmp_path / "ens").read_stems(stems), single)


def _assert_same_reading(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [t for t, _ in got] == [t for t, _ in want]
    np.testing.assert_allclose([c for _, c in got], [c for _, c in want], rtol=1e-5)


def test_attention_ensemble_with_itself_keeps_its_beam_choice(overfit, tmp_path: Path) -> None:
    """The rescoring path: candidates from beam search, summed exact log-likelihoods."""
    model, x, texts = overfit
    metadata = {"task": "line", "charset": LINE_CHARSET, "input_shape": [40, None, 1],
                "decoder": "attention", "version": "tiny"}  # fmt: skip
    save_model(model, tmp_path / "tiny", metadata)
    reader = LineReader(load_model(tmp_path / "tiny"))
    pair = EnsembleReader(reader.saved, members=[reader, reader], nbest=3, attention_nbest=3)
    assert [t for t, _ in pair.decode_batch(x)] == texts


class _Scripted:
    """A member with fixed candidates and log-likelihoods (for the rescoring rule alone)."""

    attention, charset, height, version = False, LINE_CHARSET, 40, "scripted"

    def __init__(self, candidates: list[str], scores: dict[str, float]) -> None:
        self._candidates, self._scores = candidates, scores
        self.saved = SavedModel(None, {"charset": LINE_CHARSET, "input_shape": [40]}, Path("."))

    def candidates(self, x, n):
        return [self._candidates[:n] for _ in x]

    def log_likelihood(self, x, texts):
        return np.array([self._scores[t] for t in texts])


def test_rescoring_picks_the_highest_summed_score() -> None:
    # each member's own favourite loses to the candidate both find likely
    a = _Scripted(["cat", "cut"], {"cat": -1.0, "cut": -1.5, "cot": -6.0})
    b = _Scripted(["cot", "cut"], {"cat": -5.0, "cut": -1.4, "cot": -1.0})
    ensemble = EnsembleReader(a.saved, members=[a, b], nbest=2)
    (text, confidence), = ensemble.rescore(np.zeros((1, 40, 64, 1), "uint8"))  # fmt: skip
    assert text == "cut"
    assert confidence == pytest.approx(np.exp((-1.5 - 1.4) / 2 / 4))
    assert pick_best([["x", "y"]], np.array([-2.0, -3.0]), 2)[0][0] == "x"


def test_ensemble_needs_compatible_members(tmp_path: Path) -> None:
    from textrec_cli.errors import InputError

    with pytest.raises(InputError, match="at least two"):
        load_ensemble(f"ensemble:{settings.BUNDLED_LINE_MODEL}")
    with pytest.raises(InputError, match="not a line model"):
        load_ensemble(f"ensemble:{settings.BUNDLED_LINE_MODEL},{settings.BUNDLED_CHAR_MODEL}")
    rescoring = load_ensemble(f"ensemble-rescore:{settings.BUNDLED_LINE_MODEL},line_tcn")
    assert rescoring.combine == "rescore"
    assert rescoring.averaged_log_probs(np.zeros((1, 40, 64, 1), "uint8")) is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "ensemble.json").write_text("{not json")
    with pytest.raises(InputError, match="bad ensemble config"):
        load_ensemble(tmp_path / "bad")


def test_ctc_head_alone_matches_the_joint_models_ctc_output(overfit) -> None:
    from textrec_cli.models.transformer import ctc_model

    model, x, _ = overfit
    joint = model.predict_on_batch({"image": x, "tokens": np.ones((len(x), 2), "int32")})["ctc"]
    np.testing.assert_allclose(ctc_model(model).predict_on_batch(x), joint, atol=1e-5)
