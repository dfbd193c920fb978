"""Cold start of the Lambda handler, in fresh processes: import, model load, first prediction.

Each run is a new Python process (as a new Lambda container is) that times, from its own
start: importing `textrec_cli.serving.lambda_handler` (numpy, Pillow, LiteRT), loading the
exported models, and the first API Gateway v2 event with a line image. The process's wall time
(interpreter start included) and peak RSS are recorded too. Exports of the bundled models come
from the export cache (made with TensorFlow in a separate process, not timed).

    python benchmarks/lambda_cold_start.py --runs 3
    python benchmarks/lambda_cold_start.py --runs 1 --output /tmp/lambda_cold_start.json

The JSON result is written to --output and is the last line of stdout.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys

from common import ROOT, Run, argument_parser, bundled_export_dirs, time_each

CHILD = r"""
import time
t0 = time.perf_counter()
import base64, json, resource, sys
from textrec_cli.serving import lambda_handler
t1 = time.perf_counter()
lambda_handler.recognizer()
t2 = time.perf_counter()
body = base64.b64encode(open(sys.argv[1], "rb").read()).decode()
event = {"version": "2.0", "rawPath": "/v1/predict", "isBase64Encoded": True, "body": body,
         "headers": {"content-type": "image/png"},
         "requestContext": {"http": {"method": "POST", "path": "/v1/predict"}}}
response = lambda_handler.handler(event, None)
t3 = time.perf_counter()
assert response["statusCode"] == 200, response
heavy = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")]
print(json.dumps({"import_s": t1 - t0, "load_models_s": t2 - t1, "first_prediction_s": t3 - t2,
                  "text": json.loads(response["body"])["text"], "heavy_modules": len(heavy),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argument_parser("lambda_cold_start", __doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", nargs="*", help="export folders (default: bundled, cached)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    run = Run("lambda_cold_start", args.output, args.note)
    models = args.models or bundled_export_dirs()
    env = {**os.environ, "TEXTREC_SERVE_MODELS": os.pathsep.join(models),
           "TEXTREC_LITERT_THREADS": "1"}  # fmt: skip
    image = str(ROOT / "docs/examples/line_ms.png")
    children, walls = time_each(
        lambda _: subprocess.run(
            [sys.executable, "-c", CHILD, image], env=env, capture_output=True, text=True
        ),
        range(args.runs),
    )
    runs = []
    for done, wall in zip(children, walls, strict=True):
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        runs.append({**json.loads(done.stdout.strip().splitlines()[-1]), "process_wall_s": wall})
    keys = ("import_s", "load_models_s", "first_prediction_s", "process_wall_s", "peak_rss_mb")
    median = {k: round(statistics.median(r[k] for r in runs), 3) for k in keys}
    totals = [r["import_s"] + r["load_models_s"] + r["first_prediction_s"] for r in runs]
    median["cold_start_s"] = round(statistics.median(totals), 3)
    run.finish({
        "what": "fresh process: import handler + load char and line LiteRT models + first "
        "prediction (API Gateway v2 event, line image)",
        "runs": args.runs,
        "median": median,
        "all_runs": [
            {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in runs
        ],  # fmt: skip
        "tensorflow_imported": any(r["heavy_modules"] for r in runs),
        "models": models,
        "this_process_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    })  # fmt: skip


if __name__ == "__main__":
    main()
