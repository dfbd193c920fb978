"""Ensembles of trained line models: one reader over two or more members.

CTC members with the same frame rate average their frame posteriors, then decode once (the
ensemble's errors are where the members agree on being wrong). Otherwise (an attention member,
or different frame rates) every member proposes its n-best texts and every candidate is scored
by every member's exact log-likelihood; the best summed score wins (Kittler's sum rule over
log-probabilities, as in ROVER-style system combination, without alignment heuristics).

Averaging assumes the members emit each character on the same frames; CTC models of different
architectures often do not (their peaks drift by a frame or two and the average turns characters
into blanks), so `ensemble-rescore:A,B` forces the alignment-free rescoring for CTC members too.

Selected as `ensemble:A,B[,...]` / `ensemble-rescore:A,B[,...]` (each a model folder or a bundled
model name) or as a folder holding `ensemble.json` ({"members": [...], "nbest": 4, "combine":
"average" | "rescore"}), so `predict`, `evaluate`, export and benchmarks take it wherever they
take a model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from textrec_cli import settings
from textrec_cli.decoding.greedy import greedy_decode
from textrec_cli.errors import InputError
from textrec_cli.inference.line_reader import LineReader
from textrec_cli.models.store import load_model

PREFIXES = {"ensemble:": "average", "ensemble-rescore:": "rescore"}
CONFIG_FILE = "ensemble.json"


@dataclass
class EnsembleReader(LineReader):
    """A LineReader whose `saved` is the first member's (charset, height); decodes with all."""

    members: list[LineReader] = field(default_factory=list)
    nbest: int = 4
    combine: str = "average"  # CTC members: average posteriors, or "rescore" n-best lists
    # an attention member proposes its greedy reading only: its beam search loops in Python
    # (~1.3 s/line on 2 CPU cores at beam 4); rescoring still uses its exact likelihood
    attention_nbest: int = 1

    def __post_init__(self) -> None:
        if len(self.members) < 2:
            raise InputError("an ensemble needs at least two line models")
        if self.combine not in ("average", "rescore"):
            raise InputError(f"ensemble combine must be average or rescore, not {self.combine!r}")
        first = self.members[0]
        for member in self.members[1:]:
            if member.charset != first.charset or member.height != first.height:
                raise InputError(
                    f"ensemble members must share charset and input height: {member.version} "
                    f"differs from {first.version}"
                )

    @property
    def version(self) -> str:
        return "ensemble(" + "+".join(m.version for m in self.members) + ")"

    @property
    def attention(self) -> bool:
        return False

    def averaged_log_probs(self, x: np.ndarray) -> np.ndarray | None:
        """log of the mean frame posterior over CTC members; None if they cannot be averaged."""
        if self.combine == "rescore" or any(m.attention for m in self.members):
            return None
        outputs = [m.log_probs(x) for m in self.members]
        if len({o.shape for o in outputs}) != 1:
            return None
        stacked = np.stack(outputs).astype("float64")
        peak = stacked.max(axis=0)
        mean = np.exp(stacked - peak).mean(axis=0)
        return (np.log(mean) + peak).astype("float32")

    def log_probs(self, x: np.ndarray) -> np.ndarray:
        """The averaged posteriors (so `--lm` decoding and LM tuning take an ensemble too)."""
        averaged = self.averaged_log_probs(x)
        if averaged is None:
            raise InputError(
                "this ensemble has no common CTC posteriors (an attention member or a "
                "different frame rate): it decodes by n-best rescoring only"
            )
        return averaged

    def rescore(self, x: np.ndarray) -> list[tuple[str, float]]:
        """Union of the members' n-best per line, each scored by the sum of all members'
        exact log-likelihoods; confidence = exp(mean per-member log-likelihood per token)."""
        pools: list[list[str]] = [[] for _ in range(len(x))]
        for member in self.members:
            n = self.attention_nbest if member.attention else self.nbest
            for line, texts in enumerate(member.candidates(x, n)):
                pools[line] += [t for t in texts if t not in pools[line]]
        rows = [line for line, texts in enumerate(pools) for _ in texts]
        flat = [text for texts in pools for text in texts]
        total = np.zeros(len(flat))
        for member in self.members:
            total += member.log_likelihood(x[rows], flat)
        return pick_best(pools, total, len(self.members))

    def decode_batch(self, x: np.ndarray) -> list[tuple[str, float]]:
        averaged = self.averaged_log_probs(x)
        if averaged is None:
            return self.rescore(x)
        if self.lm is not None:
            return self.lm.decode(averaged)
        return greedy_decode(averaged, self.charset)


def averaged_model(reader: EnsembleReader):
    """One Keras model: every member on the same input, log of the mean posterior out."""
    if reader.combine != "average" or any(m.attention for m in reader.members):
        raise InputError("only CTC ensembles (posterior averaging) export as one graph")
    image = keras.Input((reader.height, None, 1), dtype="uint8")
    # each member wrapped under a unique name: two copies of one model may not share a name
    outputs = [
        keras.Model(m.saved.model.inputs, m.saved.model.outputs[0], name=f"member_{i}")(image)
        for i, m in enumerate(reader.members)
    ]
    if len({tuple(o.shape[2:]) for o in outputs}) != 1:
        raise InputError("ensemble members emit different classes: they cannot be averaged")
    return keras.Model(image, MeanPosterior()(outputs), name="ensemble")


class MeanPosterior(keras.layers.Layer):
    """log(mean_i exp(log p_i)) over a list of (B, T, C) log-probs."""

    def call(self, inputs):
        stacked = keras.ops.stack(inputs, axis=0)
        return keras.ops.logsumexp(stacked, axis=0) - float(np.log(len(inputs)))


def pick_best(pools: list[list[str]], scores: np.ndarray, members: int) -> list[tuple[str, float]]:
    """Per line, the candidate with the highest summed score (first listed wins a tie)."""
    results, start = [], 0
    for texts in pools:
        block = scores[start : start + len(texts)]
        best = int(np.argmax(block))
        per_token = block[best] / members / (len(texts[best]) + 1)
        results.append((texts[best], float(np.exp(per_token)) if np.isfinite(per_token) else 0.0))
        start += len(texts)
    return results


def is_ensemble(spec: str | Path) -> bool:
    return str(spec).startswith(tuple(PREFIXES)) or (Path(spec) / CONFIG_FILE).is_file()


def _member_path(name: str, base: Path | None) -> Path:
    """A member: a model folder (relative to the config's folder), or a bundled model's name."""
    path = Path(name)
    if base is not None and not path.is_absolute() and (base / path).exists():
        return base / path
    bundled = settings.ASSETS_DIR / "models" / name
    if not path.exists() and bundled.is_dir():
        return bundled
    return path


def load_ensemble(spec: str | Path, **reader_options) -> EnsembleReader:
    """`ensemble:A,B`, `ensemble-rescore:A,B` or a folder with ensemble.json -> a reader."""
    text, base, nbest = str(spec), None, 4
    prefix = next((p for p in PREFIXES if text.startswith(p)), None)
    if prefix is not None:
        names = [n.strip() for n in text[len(prefix) :].split(",") if n.strip()]
        combine = PREFIXES[prefix]
    else:
        base = Path(spec)
        try:
            config = json.loads((base / CONFIG_FILE).read_text())
            names, nbest = list(config["members"]), int(config.get("nbest", 4))
            combine = str(config.get("combine", "average"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"bad ensemble config {base / CONFIG_FILE}: {exc}") from None
    members = []
    for name in names:
        saved = load_model(_member_path(name, base))
        if saved.metadata.get("task") != "line":
            raise InputError(f"ensemble member {name} is not a line model")
        members.append(LineReader(saved, **reader_options))
    if not members:
        raise InputError(f"no ensemble members in {text!r}")
    return EnsembleReader(
        members[0].saved, members=members, nbest=nbest, combine=combine, **reader_options
    )


def save_ensemble(
    folder: Path, members: list[str], nbest: int = 4, combine: str = "average"
) -> Path:
    """Write a reusable ensemble config (members relative to `folder` where possible)."""
    from textrec_cli.fileio import write_json

    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / CONFIG_FILE, {"members": members, "nbest": nbest, "combine": combine})
    return folder
