"""Every bad input is one clear line on stderr and a non-zero exit; nothing saved is lost."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from cli_helpers import json_lines, run_cli
from PIL import Image


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims width x height but holds almost no data (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    path.write_bytes(body + chunk(b"IEND", b""))
    return path


@pytest.fixture
def good_png(workdir: Path) -> Path:
    image = Image.new("L", (40, 40), 255)
    image.paste(0, (18, 5, 22, 35))  # a dark vertical stroke
    path = workdir / "good.png"
    image.save(path)
    return path


def _bad_files(workdir: Path, good_png: Path) -> dict[str, tuple[Path, str]]:
    text = workdir / "notes.txt"
    text.write_text("this is not an image\n")
    empty = workdir / "empty.png"
    empty.write_bytes(b"")
    truncated = workdir / "truncated.png"
    truncated.write_bytes(good_png.read_bytes()[:60])
    huge = _png_header_only(workdir / "huge.png", 20000, 20000)
    return {
        "text": (text, "not an image"),
        "empty": (empty, "empty file"),
        "truncated": (truncated, "truncated or corrupt"),
        "huge": (huge, "20000x20000 pixels, over the"),
        "missing": (workdir / "nope.png", "file not found"),
    }


@pytest.mark.parametrize("case", ["text", "empty", "truncated", "huge", "missing"])
def test_predict_rejects_bad_image(workdir: Path, good_png: Path, case: str) -> None:
    path, message = _bad_files(workdir, good_png)[case]
    result = run_cli("predict", path, "--json")
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert result.stdout.strip() == ""


def test_one_bad_file_does_not_lose_the_good_ones(workdir: Path, good_png: Path) -> None:
    bad, _ = _bad_files(workdir, good_png)["truncated"]
    result = run_cli("predict", good_png, bad, good_png, "--json")
    assert result.exit_code == 2
    rows = json_lines(result.stdout)
    assert [r["file"] for r in rows] == [str(good_png), str(good_png)]
    assert "truncated.png" in result.stderr


def test_missing_model_path(workdir: Path, good_png: Path) -> None:
    result = run_cli("predict", good_png, "--model", workdir / "no-such-model")
    assert result.exit_code == 2
    assert "model not found" in result.stderr


def test_model_folder_with_corrupt_weights(workdir: Path, good_png: Path) -> None:
    folder = workdir / "broken-model"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"PK\x03\x04 definitely not a keras archive")
    (folder / "metadata.json").write_text('{"mapping": ["a"]}')
    result = run_cli("predict", good_png, "--model", folder)
    assert result.exit_code == 2
    assert "cannot load model" in result.stderr


def test_corrupt_hdf5_dataset(workdir: Path) -> None:
    processed = workdir / "data" / "processed"
    processed.mkdir(parents=True)
    (processed / "emnist.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    result = run_cli("evaluate", "--dataset", "emnist", "--split", "test")
    assert result.exit_code == 2
    assert "corrupt or unreadable dataset file" in result.stderr


def test_dataset_not_prepared_says_how(workdir: Path) -> None:
    result = run_cli("train", "--model", "lenet", "--dataset", "emnist", "--no-wandb")
    assert result.exit_code == 1
    assert "textrec download emnist" in result.stderr


def test_download_checksum_mismatch_keeps_existing_data(
    workdir: Path, emnist_zip: Path, monkeypatch
) -> None:
    """A download whose bytes do not match the published sha256 leaves earlier files untouched."""
    from textrec_cli.data import emnist

    assert run_cli("download", "emnist", "--from", emnist_zip).exit_code == 0
    processed = workdir / "data" / "processed" / "emnist.h5"
    before = processed.read_bytes()
    monkeypatch.setattr(emnist, "URLS", [emnist_zip.as_uri()])  # wrong bytes for the real sha256
    result = run_cli("download", "emnist")
    assert result.exit_code == 1
    assert "checksum mismatch" in result.stderr
    assert processed.read_bytes() == before
    assert not (workdir / "data" / "raw" / "emnist" / "matlab.zip").exists()


def test_download_from_a_non_zip(workdir: Path) -> None:
    fake = workdir / "matlab.zip"
    fake.write_text("not a zip")
    result = run_cli("download", "emnist", "--from", fake)
    assert result.exit_code == 2
    assert "zip" in result.stderr


def test_unknown_dataset_and_model(workdir: Path) -> None:
    result = run_cli("train", "--model", "nope", "--dataset", "nothing", "--no-wandb")
    assert result.exit_code == 1
    assert "unknown dataset 'nothing'" in result.stderr


def test_failed_training_keeps_existing_run(workdir: Path, emnist_zip: Path) -> None:
    """Retraining into an existing run dir with a bad model name must not touch the old model."""
    run_dir = workdir / "runs" / "keep"
    assert run_cli("download", "emnist", "--from", emnist_zip).exit_code == 0
    assert (
        run_cli(
            "train",
            "--model",
            "mlp",
            "--dataset",
            "emnist",
            "--epochs",
            "1",
            "--no-wandb",
            "--output",
            run_dir,
        ).exit_code
        == 0
    )
    before = (run_dir / "model.keras").read_bytes()
    result = run_cli(
        "train", "--model", "nope", "--dataset", "emnist", "--no-wandb", "--output", run_dir
    )
    assert result.exit_code == 1
    assert (run_dir / "model.keras").read_bytes() == before


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    """A phone photo stored sideways with an EXIF orientation tag is read upright."""
    from textrec_cli.image_io import load_image

    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    Image.new("L", (300, 100), 255).save(path, exif=exif)
    assert load_image(path).size == (100, 300)
