"""Check a benchmark result file: every metric key is there with a number (CI runs it after the smoke run)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import KEYS  # noqa: E402


def main(path: str) -> None:
    data = json.loads(Path(path).read_text())
    missing = [k for k in KEYS if not isinstance(data.get(k), (int, float))]
    if missing:
        sys.exit(f"{path}: missing or not a number: {', '.join(missing)}")
    for key in KEYS:
        summary = data["metrics"][key]
        if not {"median", "min", "max", "runs"} <= set(summary):
            sys.exit(f"{path}: {key} has no median/min/max/runs")
    print(f"{path}: all {len(KEYS)} metrics present")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json")
