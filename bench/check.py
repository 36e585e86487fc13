"""Check a benchmark result file (CI runs it after the smoke run): every metric key is there with a
number, and every fan-out round reached every viewer on both servers, so a generator that stopped
counting cannot pass unseen."""
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
    short = [f"{kind} {name} run {i + 1}: {run['connected']}/{data['sizes'][name]} viewers, "
             f"{run['all_received_rounds']}/{run['rounds']} rounds complete"
             for kind, metrics in data["raw"].items() for name in ("held", "f1", "f3")
             for i, run in enumerate(metrics[name])
             if run["connected"] != data["sizes"][name] or run["all_received_rounds"] != run["rounds"]]
    short += [f"companion redis run {i + 1}: {run['connected']}/{run['servers'] * run['viewers_per_server']} viewers, "
              f"{run['all_received_rounds']}/{run['rounds']} rounds complete"
              for i, run in enumerate(data["raw"]["companion"].get("redis", []))
              if run["connected"] != run["servers"] * run["viewers_per_server"] or run["all_received_rounds"] != run["rounds"]]
    short += [f"{kind} storm run {i + 1}: {run['connected']}/{run['viewers']} connected"
              + (f", {run['resumed_unchanged']} resumed" if "resumed_unchanged" in run else "")
              for kind, metrics in data["raw"].items() for i, run in enumerate(metrics.get("storm", []))
              if run["connected"] != run["viewers"] or run.get("resumed_unchanged", run["connected"]) != run["connected"]]
    if short:
        sys.exit(f"{path}: fan-out rounds that missed viewers: " + "; ".join(short))
    print(f"{path}: all {len(KEYS)} metrics present; every fan-out round reached every viewer")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json")
