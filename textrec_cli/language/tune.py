"""Choose the LM weight (and space bonus) on `val` lines: the model's posteriors are computed
once, then re-decoded per grid point, and the pair with the lowest mean CER over the sources
is written into lm.json, where `--lm` decoding reads it. Never tuned on a test split."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from textrec_cli.decoding.tokens import META_FILE
from textrec_cli.evaluation.text_metrics import cer
from textrec_cli.fileio import write_json
from textrec_cli.progress import stderr_console

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
WORD_SCORES = (0.0, 1.0, 2.0)


def posteriors(reader: Any, stems: list[np.ndarray]) -> list[np.ndarray]:
    """Per-line CTC log-probs (T_i, C + 1), padding frames dropped (1 frame per 4 px)."""
    from textrec_cli.inference.line_reader import WIDTH_STEP
    from textrec_cli.stems.line import padded_batches

    out: list[np.ndarray | None] = [None] * len(stems)
    for chunk, x in padded_batches(stems, reader.batch_size, WIDTH_STEP):
        log_probs = reader.log_probs(x)
        scale = log_probs.shape[1] / x.shape[2]
        for row, i in enumerate(chunk):
            frames = max(1, int(np.ceil(stems[i].shape[1] * scale)))
            out[i] = log_probs[row, :frames]
    return [o for o in out if o is not None]


def tune_lm(
    reader: Any,
    lm_dir: Path,
    sets: dict[str, tuple[list[np.ndarray], list[str]]],
    weights: tuple[float, ...] = WEIGHTS,
    word_scores: tuple[float, ...] = WORD_SCORES,
    beam_size: int = 16,
    beam_size_token: int = 16,
    decode_beam: int | None = None,
) -> dict[str, Any]:
    """Grid search; returns the table and the winner, and writes the winner into lm.json.

    The grid is searched at `beam_size` x `beam_size_token`; lm.json's own search (what `--lm`
    decoding uses) is `decode_beam` x `decode_beam` when given (a narrower, faster beam for the
    latency budget), else the tuning beam. The winner is re-scored at that beam (`decoded`)."""
    from textrec_cli.decoding.lm import CTCLanguageModelDecoder

    frames = {name: posteriors(reader, stems) for name, (stems, _) in sets.items()}
    rows = []
    for weight, bonus in itertools.product(weights, word_scores):
        decoder = CTCLanguageModelDecoder(
            lm_dir, reader.charset, weight, bonus, beam_size, beam_size_token
        )
        row: dict[str, Any] = {"lm_weight": weight, "word_score": bonus}
        for name, (_, texts) in sets.items():
            hyps = [decoder.decode(lp[None])[0][0] for lp in frames[name]]
            row[f"cer_{name}"] = round(cer(texts, hyps), 4)
        row["cer_mean"] = round(float(np.mean([row[f"cer_{n}"] for n in sets])), 4)
        rows.append(row)
        stderr_console.print(row)
    best = min(rows, key=lambda r: r["cer_mean"])
    beam, beam_token = (decode_beam, decode_beam) if decode_beam else (beam_size, beam_size_token)
    decoder = CTCLanguageModelDecoder(
        lm_dir, reader.charset, best["lm_weight"], best["word_score"], beam, beam_token
    )
    decoded: dict[str, Any] = {"beam_size": beam, "beam_size_token": beam_token}
    for name, (_, texts) in sets.items():
        hyps = [decoder.decode(lp[None])[0][0] for lp in frames[name]]
        decoded[f"cer_{name}"] = round(cer(texts, hyps), 4)
    decoded["cer_mean"] = round(float(np.mean([decoded[f"cer_{n}"] for n in sets])), 4)
    meta_path = lm_dir / META_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.pop("search_note", None)  # described a previous tuning
    meta.update(
        lm_weight=best["lm_weight"],
        word_score=best["word_score"],
        beam_size=beam,
        beam_size_token=beam_token,
        tuned_on={
            "model": reader.version,
            "lines": {n: len(s[1]) for n, s in sets.items()},
            "split": "val",
            "beam_size": beam_size,
            "beam_size_token": beam_size_token,
            "grid": rows,
            "decoded": decoded,
        },
    )
    write_json(meta_path, meta)
    return {"best": best, "decoded": decoded, "grid": rows}
