"""CTC beam search with a character KenLM, via flashlight-text's lexicon-free decoder.

Lexicon-free because a line holds names, numbers and French words no word list covers: the
character LM only makes likely spellings cheaper, it never forbids one. The decoder's token
dictionary mirrors the model's classes: index 0 is the CTC blank (`<blank>`, not in the LM),
index i + 1 is `charset[i]`, the space written `▁` as in the LM and used as the decoder's
silence (word separator) token.

Scores: emissions are natural-log probabilities, KenLM's are log10, so a path scores
sum(log p_AM) + lm_weight * sum(log10 p_LM) + word_score * (frames emitting a space).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from textrec_cli.decoding.tokens import LM_FILE, META_FILE, SPACE, TOKENS
from textrec_cli.errors import InputError, TextrecError
from textrec_cli.models import BLANK

BLANK_TOKEN = "<blank>"


class CTCLanguageModelDecoder:
    """Beam search over CTC log-probs (B, T, C+1) with a char LM; `lm=None` scores no LM.

    With `lm_weight=0` (or no LM) and `word_score=0` it is plain CTC beam search whose best
    path is greedy decoding's (hypotheses that reach one prefix keep the max, not the sum, of
    their alignments' scores unless `log_add=True`).
    """

    def __init__(
        self,
        lm: str | Path | None,
        charset: Sequence[str],
        lm_weight: float,
        word_score: float = 0.0,
        beam_size: int = 16,
        beam_size_token: int | None = None,
        beam_threshold: float = 30.0,
        log_add: bool = False,
    ) -> None:
        from flashlight.lib.text.decoder import (
            CriterionType,
            LexiconFreeDecoder,
            LexiconFreeDecoderOptions,
            ZeroLM,
        )
        from flashlight.lib.text.dictionary import Dictionary

        if beam_size < 1 or (beam_size_token is not None and beam_size_token < 1):
            raise TextrecError("beam_size and beam_size_token must be positive")
        if lm_weight < 0 or beam_threshold <= 0:
            raise TextrecError("lm_weight must be >= 0 and beam_threshold > 0")
        self.charset = list(charset)
        if SPACE in self.charset or BLANK_TOKEN in self.charset:
            raise TextrecError(f"the charset may not hold {SPACE!r} or {BLANK_TOKEN!r}")
        self.tokens = [BLANK_TOKEN] + [SPACE if c == " " else c for c in self.charset]
        self.lm_path = resolve_lm_file(lm) if lm is not None else None
        self.lm_weight = float(lm_weight)
        self.word_score = float(word_score)
        dictionary = Dictionary(self.tokens)
        if self.lm_path is None:
            self._lm = ZeroLM()
        else:
            from flashlight.lib.text.decoder.kenlm import KenLM

            try:
                self._lm = KenLM(str(self.lm_path), dictionary)
            except Exception as exc:  # KenLM raises RuntimeError or its own types
                message = " ".join(str(exc).split()) or type(exc).__name__
                raise InputError(
                    f"{self.lm_path} is not a KenLM binary or ARPA file: {message}"
                ) from None
        # no space in the charset: the blank doubles as the decoder's start/end silence
        sil = self.tokens.index(SPACE) if SPACE in self.tokens else BLANK
        if sil == BLANK and self.word_score:
            raise TextrecError("word_score needs a space in the charset")
        options = LexiconFreeDecoderOptions(
            beam_size=beam_size,
            beam_size_token=beam_size_token or len(self.tokens),
            beam_threshold=beam_threshold,
            lm_weight=self.lm_weight,
            sil_score=self.word_score,
            log_add=log_add,
            criterion_type=CriterionType.CTC,
        )
        self._decoder = LexiconFreeDecoder(options, self._lm, sil, BLANK, [])

    def _results(self, log_probs: np.ndarray):
        """Per line: (the float32 (T, N) emissions, the decoder's hypotheses, best first)."""
        emissions = np.asarray(log_probs)
        if emissions.ndim != 3 or emissions.shape[-1] != len(self.tokens):
            raise InputError(
                f"log-probs must be (batch, frames, {len(self.tokens)}) for this charset, "
                f"got {emissions.shape}"
            )
        emissions = np.ascontiguousarray(emissions, dtype=np.float32)
        _, frames, classes = emissions.shape
        for line in emissions:  # a C-contiguous (T, N) view: its pointer is what the decoder reads
            yield line, (self._decoder.decode(line.ctypes.data, frames, classes) if frames else [])

    def _path(self, result) -> list[int]:
        """The hypothesis's per-frame tokens (the decoder adds a start and an end silence)."""
        return list(result.tokens)[1:-1]

    def _text(self, path: Sequence[int]) -> str:
        """Collapse repeats, then drop blanks, as CTC does."""
        keep = [k for k, _ in itertools.groupby(path) if k != BLANK]
        return "".join(self.charset[k - 1] for k in keep)

    def decode(self, log_probs: np.ndarray) -> list[tuple[str, float]]:
        """Best reading per line, as `greedy_decode` returns it: (text, confidence).

        Confidence = exp(mean log-prob of the best path's tokens over the frames where it emits
        a character), greedy_decode's formula on the beam's path: the LM picks the path, only
        the model's own probabilities rate it, so thresholds tuned on greedy still apply.
        """
        decoded = []
        for emissions, results in self._results(log_probs):
            if not results:
                decoded.append(("", 0.0))
                continue
            path = np.asarray(self._path(results[0]), dtype=np.int64)
            path_lp = emissions[np.arange(len(path)), path]
            emitted = path_lp[path != BLANK]
            scored = emitted if emitted.size else path_lp
            decoded.append((self._text(path), float(np.exp(scored.mean()))))
        return decoded

    def nbest(self, log_probs: np.ndarray, n: int) -> list[list[tuple[str, float]]]:
        """Up to `n` distinct readings per line, best first, with the decoder's total score
        (AM log-prob + lm_weight × LM log10-prob + word scores; higher is better)."""
        if n < 1:
            raise TextrecError("n must be positive")
        lines = []
        for _, results in self._results(log_probs):
            seen: dict[str, float] = {}
            for result in sorted(results, key=lambda r: r.score, reverse=True):
                seen.setdefault(self._text(self._path(result)), float(result.score))
                if len(seen) == n:
                    break
            lines.append(list(seen.items()))
        return lines


def own_lm(path: str | Path, lm: bool | str | Path | None) -> bool | str | Path | None:
    """The LM a model folder carries (`lm/`, written by `textrec adapt --lm-text`) stands in
    for the bundled one whenever the bundled one would be used: an adapted model decodes with
    the LM adapted with it unless `--lm PATH` or `--no-lm` says otherwise."""
    from textrec_cli import settings

    folder = Path(path) / "lm"
    if (lm is True or (lm is None and settings.USE_LM)) and (folder / "lm.json").is_file():
        return folder
    return lm


def resolve_lm_file(lm: str | Path) -> Path:
    """An LM folder (its lm.json names the binary) or a KenLM binary/ARPA file."""
    path = Path(lm)
    if path.is_dir():
        meta = path / META_FILE
        name = read_lm_meta(path).get("lm_file", LM_FILE) if meta.is_file() else LM_FILE
        path = path / name
    if not path.is_file():
        raise InputError(f"language model not found: {path}")
    return path


def read_lm_meta(lm_dir: str | Path) -> dict[str, Any]:
    """lm.json of an LM folder; it must describe the character token scheme this code speaks."""
    meta_path = Path(lm_dir) / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{lm_dir} is not an LM folder (no {META_FILE}): make one with `textrec lm build`"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"unreadable {meta_path}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("tokens") != TOKENS:
        raise InputError(f"{meta_path}: not a character LM with tokens {TOKENS!r}")
    return meta


def load_lm_decoder(
    lm_dir: str | Path, charset: Sequence[str], **overrides: Any
) -> CTCLanguageModelDecoder:
    """The decoder for an LM folder, with lm.json's tuned lm_weight and word_score unless
    `overrides` (any CTCLanguageModelDecoder argument) say otherwise."""
    meta = read_lm_meta(lm_dir)
    options: dict[str, Any] = {"lm_weight": meta.get("lm_weight"), "word_score": 0.0}
    if meta.get("word_score") is not None:
        options["word_score"] = meta["word_score"]
    for key in ("beam_size", "beam_size_token"):  # the search the weight was tuned with
        if meta.get(key) is not None:
            options[key] = int(meta[key])
    options.update(overrides)
    if options["lm_weight"] is None:
        raise TextrecError(
            f"{Path(lm_dir) / META_FILE} has no tuned lm_weight yet: pass lm_weight explicitly"
        )
    return CTCLanguageModelDecoder(Path(lm_dir), charset, **options)
