"""Export a trained Keras model to a LiteRT (TFLite) flatbuffer plus the metadata serving needs.

An export folder holds `metadata.json` (the model's own metadata plus an `export` section: the
files, their input shapes and sha256) and one `.tflite` file per input shape:

- models that convert with a dynamic batch and width (characters, conv-only line models) get
  one `model.tflite`;
- recurrent line models (LSTM) do not convert with a dynamic width, so they are exported once
  per width bucket (`model_w512.tflite`, ...), batch 1; the runtime pads each line to the
  smallest bucket that fits and squeezes lines wider than the largest one;
- the line detector (a U-Net, task `line_detector`) gets one `model.tflite` at [None, H, None, 1]:
  its bilinear upsampling is traced on the runtime shape (see `_dynamic_upsampling`).

Needs TensorFlow: run it at build time (CLI, Docker build stage), never in the serving path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

from textrec_cli import settings
from textrec_cli.errors import TextrecError
from textrec_cli.fileio import atomic_dir, sha256_file, write_json
from textrec_cli.models.store import MODEL_FILE, load_model

EXPORT_FORMAT = "litert"
DEFAULT_LINE_WIDTHS = (512, 1024, 1600)  # line stems at height 40 are ~240-1100 px wide
LM_DIR = "lm"  # an export's character LM (`textrec export --lm`), decoded by the runtime
REFERENCE_FILE = "reference.json"  # the drift monitor's training-data feature samples
# what the monitor reads beside a model: its reference and its confidence -> CER calibration
MONITOR_FILES = (REFERENCE_FILE, "calibration.json")


def _load_exportable(model_dir: str | Path) -> tuple[Any, str]:
    """(SavedModel, sha256 of its weights) for a model folder or a posterior-averaging ensemble
    (exported as one graph: members side by side, mean posterior out)."""
    from textrec_cli.inference.ensemble import is_ensemble, load_ensemble

    if not is_ensemble(model_dir):
        saved = load_model(model_dir)
        if saved.metadata.get("decoder") == "attention":
            raise TextrecError(
                f"{model_dir} decodes by attention (an autoregressive loop): LiteRT export takes "
                "CTC line models; serve it with `textrec predict`/evaluate (Keras) instead"
            )
        return saved, sha256_file(saved.path / MODEL_FILE)
    import hashlib

    from textrec_cli.inference.ensemble import averaged_model
    from textrec_cli.models.store import SavedModel

    reader = load_ensemble(model_dir)
    model = averaged_model(reader)  # raises for ensembles that rescore n-best lists
    digest = hashlib.sha256()
    for member in reader.members:
        digest.update(sha256_file(member.saved.path / MODEL_FILE).encode())
    metadata = dict(reader.members[0].saved.metadata)
    metadata.update(
        model="ensemble",
        version=reader.version,
        members=[
            {"version": m.version, "model": m.saved.metadata.get("model")} for m in reader.members
        ],
    )
    metadata.pop("metrics", None)
    return SavedModel(model, metadata, reader.members[0].saved.path), digest.hexdigest()


def export_model(
    model_dir: str | Path,
    output: str | Path,
    widths: tuple[int, ...] | None = None,
    lm: str | Path | None = None,
) -> Path:
    """Convert `model_dir` into the export folder `output` (written atomically); returns it.

    `widths` forces fixed-width buckets for a line model; recurrent line models get
    DEFAULT_LINE_WIDTHS when it is not given. `lm`: an LM folder copied in as `lm/`, so the
    runtime decodes with it (line models only).
    """
    import keras
    import tensorflow as tf

    saved, source_sha256 = _load_exportable(model_dir)
    task = saved.metadata.get("task", "char")
    height = int(saved.metadata["input_shape"][0])
    if task == "line" and widths is None and _is_recurrent(saved.model):
        widths = DEFAULT_LINE_WIDTHS
    if widths and task != "line":
        raise TextrecError("--widths applies to line models only")
    if lm is not None and task != "line":
        raise TextrecError("--lm applies to line models only")
    if widths and any(w < 16 or w % 4 for w in widths):
        raise TextrecError("--widths must be multiples of 4, at least 16")
    if task == "line":
        shapes = (
            {f"model_w{w}.tflite": (1, height, w, 1) for w in sorted(set(widths))}
            if widths
            else {"model.tflite": (None, height, None, 1)}
        )
    else:
        shapes = {"model.tflite": (None, *saved.metadata["input_shape"])}
    output = Path(output)
    model = _dynamic_upsampling(saved.model)
    files = []
    with atomic_dir(output) as tmp:
        for name, shape in shapes.items():
            spec = keras.InputSpec(shape=shape, dtype="uint8")
            try:
                model.export(
                    str(tmp / name), format=EXPORT_FORMAT, input_signature=[spec], verbose=False
                )
            except Exception as exc:  # the converter raises many types
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise TextrecError(f"LiteRT conversion failed for input {shape}: {first}") from None
            _check_builtin_ops(tmp / name)
            files.append(
                {"file": name, "input_shape": list(shape), "sha256": sha256_file(tmp / name)}
            )
        metadata: dict[str, Any] = dict(saved.metadata)
        metadata["export"] = {
            "format": EXPORT_FORMAT,
            "input_dtype": "uint8",
            "dynamic": not widths,
            "files": files,
            "source_sha256": source_sha256,
            "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "keras_version": keras.__version__,
            "tensorflow_version": tf.__version__,
        }
        if lm is not None:
            _add_lm(tmp, lm, metadata)
        write_json(tmp / "metadata.json", metadata)
        _copy_monitor_files(saved.path, tmp)
    return output


def _copy_monitor_files(model_dir: Path, folder: Path) -> None:
    """The drift monitor's reference and calibration travel with the model they describe."""
    for name in MONITOR_FILES:
        if (model_dir / name).is_file():
            shutil.copyfile(model_dir / name, folder / name)


def _add_lm(folder: Path, lm: str | Path, metadata: dict[str, Any]) -> None:
    """Copy the LM folder `lm` into an export being written (`folder/lm`), named in metadata."""
    from textrec_cli.decoding.lm import load_lm_decoder, resolve_lm_file

    load_lm_decoder(lm, metadata["charset"])  # refuse an untuned or foreign LM
    (folder / LM_DIR).mkdir()
    lm_file = resolve_lm_file(lm)
    shutil.copyfile(lm_file, folder / LM_DIR / lm_file.name)
    shutil.copyfile(Path(lm) / "lm.json", folder / LM_DIR / "lm.json")
    metadata["export"]["lm"] = LM_DIR


def _from_shipped(model_dir: Path, shipped: Path, output: Path, lm: str | Path | None) -> Path:
    """An export folder made from a model's shipped LiteRT form (plus `lm`): files copied, no
    TensorFlow, the same graphs `export_model` would write; the drift reference comes from the
    model folder, as `export_model` takes it."""
    import json

    metadata = json.loads((shipped / "metadata.json").read_text())
    with atomic_dir(output) as tmp:
        for path in shipped.iterdir():
            if path.is_file() and path.name not in ("metadata.json", *MONITOR_FILES):
                shutil.copyfile(path, tmp / path.name)
        _copy_monitor_files(model_dir, tmp)
        if lm is not None:
            _add_lm(tmp, lm, metadata)
        write_json(tmp / "metadata.json", metadata)
    return output


def cached_export(
    model_dir: str | Path, cache_dir: str | Path | None = None, lm: str | Path | None = None
) -> Path:
    """Export once per model file content (and LM) into a cache folder and reuse it afterwards.
    `lm` is carried by line models only; other tasks ignore it. A model that ships its LiteRT
    form (the bundled ones) is copied from it, so serving them never needs TensorFlow."""
    import json

    from textrec_cli.inference.litert import litert_folder

    model_dir = Path(model_dir)
    digest = sha256_file(model_dir / MODEL_FILE)[:16]
    if lm is not None:
        task = json.loads((model_dir / "metadata.json").read_text()).get("task")
        lm = lm if task == "line" else None
    if lm is not None:
        from textrec_cli.decoding.lm import resolve_lm_file

        digest += "-lm" + sha256_file(resolve_lm_file(lm))[:8]
    monitor = [model_dir / n for n in MONITOR_FILES if (model_dir / n).is_file()]
    if monitor:  # a rebuilt reference or calibration is a new export too
        joined = "".join(sha256_file(path) for path in monitor).encode()
        digest += "-m" + hashlib.sha256(joined).hexdigest()[:8]
    target = Path(cache_dir or export_cache_dir()) / f"{model_dir.name}-{digest}"
    if not (target / "metadata.json").is_file():
        shipped = litert_folder(model_dir)
        if shipped is not None and shipped != model_dir:
            _from_shipped(model_dir, shipped, target, lm)
        else:
            export_model(model_dir, target, lm=lm)
    return target


def default_lm() -> Path | None:
    """The bundled LM when line models decode with it by default (settings.USE_LM)."""
    return settings.BUNDLED_LM if settings.USE_LM else None


def export_cache_dir() -> Path:
    """$TEXTREC_EXPORT_CACHE, else ~/.cache/textrec/exports."""
    default = Path.home() / ".cache" / "textrec" / "exports"
    return Path(os.environ.get("TEXTREC_EXPORT_CACHE", default))


def bundled_exports() -> list[Path]:
    """The bundled char, line and line detector models, exported (cached) for serving."""
    bundled = (settings.BUNDLED_CHAR_MODEL, settings.BUNDLED_LINE_MODEL, settings.BUNDLED_DETECTOR)
    return [cached_export(path, lm=default_lm()) for path in bundled]


def _is_recurrent(model: Any) -> bool:
    import keras

    recurrent = (keras.layers.RNN, keras.layers.Bidirectional)
    return any(isinstance(layer, recurrent) for layer in model._flatten_layers())


def _dynamic_upsampling(model: Any) -> Any:
    """`model` with each bilinear UpSampling2D resizing to twice its input's runtime shape.

    Keras computes the upsampled size in Python, so tracing at an unknown width fails; the same
    resize (tf.image.resize, half-pixel centres) on `tf.shape` converts to LiteRT's builtin
    RESIZE_BILINEAR and agrees with the Keras layer. Other layers are reused as they are.
    """
    import keras
    import tensorflow as tf

    class DynamicUpSampling2D(keras.layers.Layer):
        def __init__(self, size: tuple[int, int], interpolation: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.size, self.interpolation = size, interpolation

        def call(self, x: Any) -> Any:
            shape = tf.shape(x)
            new = tf.stack([shape[1] * self.size[0], shape[2] * self.size[1]])
            return tf.image.resize(x, new, method=self.interpolation)

    def bilinear(layer: Any) -> bool:
        return (
            isinstance(layer, keras.layers.UpSampling2D)
            and layer.interpolation != "nearest"
            and layer.data_format == "channels_last"
        )

    def swap(layer: Any) -> Any:
        if bilinear(layer):
            return DynamicUpSampling2D(tuple(layer.size), layer.interpolation, name=layer.name)
        return layer

    if not any(bilinear(layer) for layer in model._flatten_layers()):
        return model
    return keras.models.clone_model(model, clone_function=swap)


def _check_builtin_ops(path: Path) -> None:
    """The serving runtime has no Flex (TensorFlow) delegate: refuse exports that need one."""
    from ai_edge_litert.interpreter import Interpreter

    ops = {op["op_name"] for op in Interpreter(str(path))._get_ops_details()}
    flex = sorted(op for op in ops if op.startswith("Flex") or op == "DELEGATE")
    if flex:
        raise TextrecError(f"{path.name} needs TensorFlow ops LiteRT lacks: {', '.join(flex)}")
