"""Build a character n-gram language model with KenLM's `lmplz` and `build_binary`.

Tokens are single characters separated by spaces, the space itself written `▁`, so the LM
scores exactly what a CTC line model emits: `Le chat` → `L e ▁ c h a t`. KenLM's estimator is a
C++ tool, not a Python package: `bash scripts/build_kenlm.sh` compiles it once into a cache.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from textrec_cli.data.charsets import LINE_CHARSET, normalize_text
from textrec_cli.decoding.tokens import LM_FILE, META_FILE, SPACE, TOKENS
from textrec_cli.errors import InputError, TextrecError
from textrec_cli.fileio import atomic_path, write_json
from textrec_cli.progress import stderr_console

UNKNOWN_LICENCE = "unknown"
DEFAULT_ORDER = 6
DEFAULT_PRUNE = (0, 0, 0, 0, 0, 1)  # singleton 6-grams only: 4.1 MB vs 5.0 MB unpruned
# flashlight-text's KenLM (and the default KenLM build) is compiled with KENLM_MAX_ORDER=6.
MAX_ORDER = 6
KENLM_HINT = (
    "build KenLM's tools with `bash scripts/build_kenlm.sh` (needs cmake, Boost, zlib) and put "
    "the directory it prints on PATH or in $TEXTREC_KENLM_BIN"
)


def lm_tokens(text: str) -> str:
    """`Le chat` → `L e ▁ c h a t`: one token per character, whitespace as `▁`."""
    return " ".join(SPACE if c.isspace() else c for c in text)


def lm_text(tokens: str | Iterable[str]) -> str:
    """Inverse of `lm_tokens`: `L e ▁ c h a t` (or its token list) → `Le chat`."""
    parts = tokens.split() if isinstance(tokens, str) else tokens
    return "".join(" " if t == SPACE else t for t in parts)


def clean_text(text: str, charset: Sequence[str] = LINE_CHARSET) -> str:
    """Normalized text with characters the line model cannot emit dropped (spaces re-collapsed)."""
    allowed = set(charset)
    return " ".join("".join(c for c in normalize_text(text) if c in allowed).split())


def lm_training_sources(
    data_dir: Path | None = None,
    lines_dirs: Sequence[Path] = (),
    text_files: Sequence[Path] = (),
    use_corpus: bool = True,
    charset: Sequence[str] = LINE_CHARSET,
) -> dict[str, list[str]]:
    """Cleaned LM texts by source: corpus sentences, `train` transcriptions of line folders (never
    val/test: the LM must not have seen the lines it is tuned or scored on), plain text files.

    Corpora are those `corpus_zips` selects: openly licensed ones only unless $TEXTREC_CORPORA
    names a non-commercial one (Brown), so the default LM can ship with the package."""
    from textrec_cli.data.corpus import corpus_dir, corpus_zips, load_sentences
    from textrec_cli.data.real_lines import read_labels

    sources: dict[str, list[str]] = {}
    if use_corpus:
        found = corpus_dir(data_dir)
        for zip_path in corpus_zips(found) if found else []:
            sources[f"corpus:{zip_path.stem}"] = _cleaned(load_sentences([zip_path]), charset)
    for folder in map(Path, lines_dirs):
        if not folder.is_dir():
            raise InputError(f"line folder not found: {folder}")
        rows = read_labels(folder)
        train = [r["text"] for r in rows if (r.get("split") or "train").strip() == "train"]
        sources[f"lines:{folder.name}"] = _cleaned(train, charset)
    for path in map(Path, text_files):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"unreadable text file {path}: {exc}") from None
        sources[f"text:{path.name}"] = _cleaned(lines, charset)
    if not any(sources.values()):
        raise TextrecError(
            "no text for the language model: get the public-domain corpora with `textrec "
            "download corpus --name inaugural` (and state_union), or pass --lines-dir / --text"
        )
    return sources


def lm_training_texts(
    data_dir: Path | None = None, lines_dirs: Sequence[Path] = (), use_corpus: bool = True
) -> list[str]:
    """Corpus sentences plus the `train` transcriptions of `lines_dirs`, cleaned, in order."""
    sources = lm_training_sources(data_dir, lines_dirs, use_corpus=use_corpus)
    return [text for texts in sources.values() for text in texts]


def source_licences(
    sources: Iterable[str], given: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Licence of each LM source: `given[name]` (the source name, or for `lines:X`/`text:X` also
    just X) if stated, the corpus's own licence for `corpus:X`, else "unknown"."""
    from textrec_cli.data.corpus import LICENCES

    given = dict(given or {})
    out = {}
    for name in sources:
        kind, _, short = name.partition(":")
        corpus = LICENCES.get(short) if kind == "corpus" else None
        out[name] = given.get(name) or given.get(short) or corpus or UNKNOWN_LICENCE
    return out


def combined_licence(licences: Iterable[str]) -> str:
    """The licence of a model estimated from sources with these licences: the most restrictive
    one (unknown > non-commercial > CC BY > public domain/CC0); other mixes are listed."""
    from textrec_cli.data.corpus import NON_COMMERCIAL, PUBLIC_DOMAIN

    found = set(licences) or {UNKNOWN_LICENCE}
    for restrictive in (UNKNOWN_LICENCE, NON_COMMERCIAL):
        if restrictive in found:
            return restrictive
    found -= {PUBLIC_DOMAIN, "CC0-1.0"}
    if not found:
        return PUBLIC_DOMAIN
    return found.pop() if len(found) == 1 else "; ".join(sorted(found))


def _cleaned(texts: Iterable[str], charset: Sequence[str]) -> list[str]:
    return [t for t in (clean_text(text, charset) for text in texts) if t]


def find_kenlm_tool(name: str, explicit: str | Path | None = None) -> Path:
    """`explicit`, else $TEXTREC_KENLM_BIN/name, else PATH, else build_kenlm.sh's cache."""
    if explicit is not None:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise TextrecError(f"{name} not found or not executable at {path}: {KENLM_HINT}")
    env_dir = os.environ.get("TEXTREC_KENLM_BIN")
    if env_dir:
        candidate = Path(env_dir) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        raise TextrecError(f"{name} not found in $TEXTREC_KENLM_BIN={env_dir}: {KENLM_HINT}")
    found = shutil.which(name)
    if found:
        return Path(found)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    candidate = cache / "textrec" / "kenlm" / "bin" / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    raise TextrecError(f"KenLM's {name} not found: {KENLM_HINT}")


def check_order(order: int, prune: Sequence[int]) -> tuple[int, ...]:
    """The pruning thresholds lmplz will get, or a TextrecError before any work is done."""
    if not 2 <= order <= MAX_ORDER:
        raise TextrecError(
            f"--order must be 2..{MAX_ORDER} (flashlight-text's KenLM reads at most {MAX_ORDER})"
        )
    prune = tuple(int(p) for p in prune)[:order]
    if prune and (prune[0] != 0 or any(b < a for a, b in zip(prune, prune[1:], strict=False))):
        raise TextrecError(f"pruning must start at 0 and never decrease, got {list(prune)}")
    return prune


def _run(command: list[str], tool: str) -> None:
    """Run a KenLM tool; its failure is one line ending with the tail of what it printed."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, errors="replace")
    except OSError as exc:
        raise TextrecError(f"cannot run {tool} ({command[0]}): {exc}; {KENLM_HINT}") from None
    if result.returncode != 0:
        lines = [ln.strip() for ln in (result.stderr or result.stdout).splitlines() if ln.strip()]
        tail = " | ".join(lines[-3:]) or "no output"
        raise TextrecError(f"{tool} failed (exit {result.returncode}): {tail}")


def arpa_counts(arpa: Path) -> dict[str, int]:
    """N-gram counts from an ARPA file's `\\data\\` header: {"1": 139, "2": 4800, ...}."""
    counts: dict[str, int] = {}
    with open(arpa, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            match = re.match(r"ngram (\d+)=(\d+)", line.strip())
            if match:
                counts[match.group(1)] = int(match.group(2))
            elif counts and line.startswith("\\"):
                break
    return counts


def build_char_lm(
    texts: Sequence[str] | dict[str, Sequence[str]],
    output_dir: str | Path,
    order: int = DEFAULT_ORDER,
    prune: Sequence[int] = DEFAULT_PRUNE,
    lmplz: str | Path | None = None,
    build_binary: str | Path | None = None,
    show_progress: bool = True,
    licences: Mapping[str, str] | None = None,
    attribution: Sequence[str] = (),
) -> Path:
    """Estimate a pruned, modified-Kneser-Ney char LM; write OUTPUT_DIR/char_lm.binary + lm.json.

    `texts` is a list of cleaned lines, or {source name: lines} to record per-source counts.
    The binary is a quantized trie (8-bit probabilities and backoffs): about a quarter the size
    of a probing table, which matters because it ships inside the package. `lm_weight` in lm.json
    stays null until it is tuned on validation lines. lm.json records each source's line count
    and licence (`source_licences` with `licences`), the LM's overall licence (the most
    restrictive) and the `attribution` its CC BY sources require. Returns the lm.json path.
    """
    prune = check_order(order, prune)
    sources = dict(texts) if isinstance(texts, dict) else {"texts": list(texts)}
    lines = [lm_tokens(t) for texts_ in sources.values() for t in texts_ if t.strip()]
    if not lines:
        raise TextrecError("no text to build the language model from")
    lmplz_path = find_kenlm_tool("lmplz", lmplz)
    build_binary_path = find_kenlm_tool("build_binary", build_binary)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="textrec-lm-") as tmp:
        corpus, arpa = Path(tmp) / "corpus.txt", Path(tmp) / "char_lm.arpa"
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        command = [str(lmplz_path), "-o", str(order), "--discount_fallback", "-S", "20%"]
        command += ["-T", f"{tmp}/", "--text", str(corpus), "--arpa", str(arpa)]
        if any(prune):
            command += ["--prune", *map(str, prune)]
        with _status(f"estimating a {order}-gram char LM on {len(lines):,} lines", show_progress):
            _run(command, "lmplz")
        counts = arpa_counts(arpa)
        target = output_dir / LM_FILE
        with (
            _status("writing the binary LM", show_progress),
            atomic_path(target) as tmp_binary,
        ):
            binary_format = "trie -q 8 -b 8"
            trie = ["-S", "20%", "-T", f"{tmp}/", "-q", "8", "-b", "8", "trie"]
            try:
                _run([str(build_binary_path), *trie, str(arpa), str(tmp_binary)], "build_binary")
            except TextrecError:  # a KenLM built without trie support still has probing
                binary_format = "probing"
                _run(
                    [str(build_binary_path), "probing", str(arpa), str(tmp_binary)], "build_binary"
                )
    per_source = source_licences(sources, licences)
    meta = {
        "order": order,
        "prune": list(prune),
        "tokens": TOKENS,
        "lm_file": LM_FILE,
        "format": binary_format,
        "licence": combined_licence(per_source.values()),
        "attribution": list(attribution),
        "sources": {
            name: {"lines": len(texts_), "licence": per_source[name]}
            for name, texts_ in sources.items()
        },
        "lines": len(lines),
        "characters": sum(len(t) for texts_ in sources.values() for t in texts_),
        "ngram_counts": counts,
        "lm_weight": None,
        "word_score": 0.0,
        "size_bytes": target.stat().st_size,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    meta_path = output_dir / META_FILE
    write_json(meta_path, meta)
    return meta_path


def _status(message: str, enabled: bool):
    return stderr_console.status(message) if enabled else contextlib.nullcontext()
