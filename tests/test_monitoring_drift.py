"""Drift detection: the statistics, the alerts, the `monitor` command and a simulated stream."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from cli_helpers import json_lines, run_cli
from monitoring_helpers import fake_records

from textrec_cli.errors import TextrecError
from textrec_cli.monitoring.alerts import fire_alert
from textrec_cli.monitoring.drift import detect_drift
from textrec_cli.monitoring.reference import Reference, load_reference
from textrec_cli.monitoring.store import PredictionStore


@pytest.fixture(scope="module")
def reference() -> Reference:
    return Reference.from_records(fake_records(300, seed=1), "test-model", "fake")


def test_same_distribution_is_quiet_shift_is_flagged(reference):
    quiet = detect_drift(reference, fake_records(60, seed=2))
    assert not quiet.drifted, quiet.drifted_features
    shifted = detect_drift(reference, fake_records(60, seed=3, confidence_mean=0.4))
    assert shifted.drifted and "confidence" in shifted.drifted_features
    assert shifted.corrected_alpha == 0.01  # family-wise: min-p over the resampled documents
    assert shifted.replicates >= 2 * 12 / 0.01  # enough to resolve it over 12 features
    with pytest.raises(TextrecError, match="at least 20"):
        detect_drift(reference, fake_records(5))


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_alert_writes_json_and_posts_webhook(reference, tmp_path, caplog):
    report = detect_drift(reference, fake_records(60, seed=3, confidence_mean=0.4))
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        with caplog.at_level("WARNING", logger="textrec.monitoring"):
            payload = fire_alert(report, tmp_path / "alerts" / "a.json", url)
    finally:
        server.shutdown()
    assert payload["webhook"] == "sent (HTTP 200)"
    assert _Hook.received[-1]["drifted_features"] == report.drifted_features
    saved = json.loads((tmp_path / "alerts" / "a.json").read_text())
    assert saved["event"] == "textrec.drift" and "confidence" in saved["scores"]
    assert "drift alert: model test-model" in caplog.text
    dead = fire_alert(report, None, "http://127.0.0.1:1/nothing", timeout=2)
    assert dead["webhook"].startswith("failed")  # logged, never raised


def test_monitor_cli_end_to_end(workdir, shared_fonts, shared_corpus):
    from textrec_cli.monitoring.simulate import line_stream

    def save(shift: str, count: int, seed: int) -> list[str]:
        paths = []
        for i, image in enumerate(itertools.islice(line_stream(shared_fonts, shift, seed), count)):
            path = workdir / f"{shift}_{i}.png"
            image.save(path)
            paths.append(str(path))
        return paths

    store, ref = workdir / "p.sqlite", workdir / "ref.json"
    missing = run_cli("monitor", "--store", store, "--reference", ref)
    assert missing.exit_code == 1 and "no reference distribution" in missing.stderr
    built = run_cli("monitor", "--build-reference", "--synthetic", "120", "--fonts-dir",
                    shared_fonts, "--output", ref, "--json")  # fmt: skip
    assert built.exit_code == 0, built.stderr
    assert load_reference(ref).count == 120
    bad_store = run_cli("monitor", "--store", "nosuchdb://x/y", "--reference", ref)
    assert bad_store.exit_code == 1 and "bad prediction store" in bad_store.stderr

    few = run_cli("predict", *save("none", 3, 5), "--log", "--store", store, "--mode", "line")
    assert few.exit_code == 0, few.stderr
    small = run_cli("monitor", "--store", store, "--reference", ref)
    assert small.exit_code == 1 and "need at least 20" in small.stderr

    logged = run_cli("predict", *save("none", 30, 6), "--log", "--store", store, "--keep-images",
                     "--mode", "line", "--json")  # fmt: skip
    assert logged.exit_code == 0 and len(json_lines(logged.stdout)) == 30
    with PredictionStore(store) as opened:
        assert opened.count() == 33 and len(opened.recent(with_images=True)) == 30
    calm = run_cli("monitor", "--store", store, "--reference", ref, "--window", "30", "--json")
    assert calm.exit_code == 0, calm.stderr
    assert json.loads(calm.stdout)["drifted"] is False, json.loads(calm.stdout)["summary"]

    run_cli("predict", *save("inverted", 30, 7), "--log", "--store", store, "--mode", "line")
    alert_file = workdir / "alert.json"
    drifted = run_cli("monitor", "--store", store, "--reference", ref, "--window", "30",
                      "--alert-file", alert_file, "--fail-on-drift")  # fmt: skip
    assert drifted.exit_code == 3
    assert "drift alert" in drifted.stderr and "images much darker" in drifted.stderr
    assert "mean_intensity" in json.loads(alert_file.read_text())["drifted_features"]


def test_simulated_stream_alerts_only_on_shifts(shared_fonts, shared_corpus, record_property):
    """Bundled line model on synthetic lines: >= 50 unshifted windows, then four shifts."""
    from textrec_cli.inference.recognizer import Recognizer
    from textrec_cli.monitoring.detection_trial import run_trial

    result = run_trial(
        Recognizer(None, "line"), shared_fonts, seed=0, reference_size=200, window=20,
        null_windows=50, check_every=10, shift_requests=40,
    )  # fmt: skip
    record_property("drift_trial", json.dumps(result))
    keys = ("false_alarm_rate", "false_alarm_features", "shifts")
    print(json.dumps({k: result[k] for k in keys}))
    assert result["false_alarm_rate"] <= 0.04, result["false_alarm_features"]
    for shift, outcome in result["shifts"].items():
        assert outcome["alerted"], f"{shift}: no alert within 40 shifted requests"
        assert not outcome["false_alarm_before_shift"], shift
