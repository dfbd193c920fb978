"""The character LM adapted to a collection: the base LM's text plus the collection's own lines.

KenLM estimates from text, and the bundled LM ships as a binary, so adapting means re-estimating
from the base sources (the openly licensed corpora, optionally line folders' `train` texts, as
`textrec lm build` reads them) with the collection's transcriptions repeated until they are
`share` of the characters: a small weight, so names and spellings of the collection get cheaper
without a few dozen lines overruling the base text. The decoding weights (lm_weight, word_score,
beam) are the bundled LM's tuned ones: a held-back slice of a few lines is too small to tune on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textrec_cli.errors import TextrecError
from textrec_cli.fileio import write_json

LM_DIR = "lm"  # the adapted LM's folder inside the adapted model's folder
DEFAULT_SHARE = 0.03
DECODING_KEYS = ("lm_weight", "word_score", "beam_size", "beam_size_token")


def repeats_for_share(collection_chars: int, base_chars: int, share: float) -> int:
    """Copies of the collection text that make it `share` of all characters (at least one)."""
    if not 0 < share < 1:
        raise TextrecError("--lm-share is a share of the LM text, between 0 and 1")
    if collection_chars <= 0:
        return 0
    return max(1, math.ceil(share * base_chars / ((1 - share) * collection_chars)))


def build_adapted_lm(
    collection: Sequence[str],
    output_dir: Path,
    charset: Sequence[str],
    base_lm: Path,
    data_dir: Path | None = None,
    base_lines_dirs: Sequence[Path] = (),
    share: float = DEFAULT_SHARE,
    use_corpus: bool = True,
    base_sources: dict[str, list[str]] | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Write OUTPUT_DIR/char_lm.binary + lm.json; returns the lm.json dict.

    `collection` is the adaptation lines' texts (never lines the result is scored on); the base text
    is what `lm_training_sources` finds (corpora under data_dir / $TEXTREC_CORPUS_DIR /
    ../shared/corpus, plus `base_lines_dirs`) unless `base_sources` ({name: cleaned lines}, as
    `lm_training_sources` returns) is given; `base_lm`'s lm.json gives the decoding weights."""
    from textrec_cli.decoding.lm import read_lm_meta
    from textrec_cli.language.char_lm import build_char_lm, clean_text, lm_training_sources

    base_meta = read_lm_meta(base_lm)
    try:
        sources = (
            dict(base_sources)
            if base_sources is not None
            else lm_training_sources(
                data_dir, base_lines_dirs, use_corpus=use_corpus, charset=charset
            )
        )
    except TextrecError as exc:
        raise TextrecError(
            f"--lm-text needs the base LM's text to add the collection to: {exc}"
        ) from None
    texts = [t for t in (clean_text(line, charset) for line in collection) if t]
    base_chars = sum(len(t) for lines in sources.values() for t in lines)
    repeats = repeats_for_share(sum(len(t) for t in texts), base_chars, share)
    sources["collection"] = texts * repeats
    meta_path = build_char_lm(
        sources,
        output_dir,
        licences={"collection": "the collection's own"},
        attribution=list(base_meta.get("attribution", [])),
        show_progress=show_progress,
    )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.update({k: base_meta[k] for k in DECODING_KEYS if base_meta.get(k) is not None})
    meta["adapted"] = {
        "collection_lines": len(texts),
        "repeats": repeats,
        "share": share,
        "decoding_weights_from": str(base_lm),
    }
    write_json(meta_path, meta)
    return meta
