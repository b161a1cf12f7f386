"""One shard count's entry of bench/cluster/scale.sh's report, printed as JSON.

Reads the run folder: the bots' report (bots.json), the CPU samples (cpu.txt: unix ms,
then CPU ticks of the shards, the NATS nodes and the bots) and the shards' audits
(audits.jsonl). The CPU counted is what each group used during the bots' run only
(from `duration_s` before the bots exited to their exit, interpolated between samples
taken every 200 ms), so setup (registration, friendships, credits) is left out.

    python3 scale_entry.py RUN SHARDS ENDED_MS TICKS_PER_S BOTS_STATUS LOAD_BEFORE LOAD_AFTER
"""

import json
import sys
from pathlib import Path


def ticks_at(samples, at_ms, column):
    """The ticks of `column` at `at_ms`, interpolated between the nearest samples."""
    before = [s for s in samples if s[0] <= at_ms]
    after = [s for s in samples if s[0] >= at_ms]
    if not before:
        return samples[0][column]
    if not after:
        return samples[-1][column]
    low, high = before[-1], after[0]
    if high[0] == low[0]:
        return low[column]
    share = (at_ms - low[0]) / (high[0] - low[0])
    return low[column] + share * (high[column] - low[column])


def main():
    run = Path(sys.argv[1])
    shards = int(sys.argv[2])
    ended_ms = int(sys.argv[3])
    ticks_per_second = float(sys.argv[4])
    bots_status = int(sys.argv[5])
    load_before, load_after = sys.argv[6], sys.argv[7]

    report = json.loads((run / "bots.json").read_text())
    samples = [
        tuple(int(field) for field in line.split())
        for line in (run / "cpu.txt").read_text().splitlines()
        if len(line.split()) == 4
    ]
    started_ms = ended_ms - report["duration_s"] * 1000.0
    cpu_seconds = {}
    for column, group in ((1, "shards"), (2, "nats"), (3, "bots")):
        used = ticks_at(samples, ended_ms, column) - ticks_at(samples, started_ms, column)
        cpu_seconds[group] = round(used / ticks_per_second, 2)
    ops = report["ops"]
    audits = [
        json.loads(line)
        for line in (run / "audits.jsonl").read_text().splitlines()
        if line.strip()
    ]
    entry = {
        "shards": shards,
        "ops": ops,
        "duration_s": report["duration_s"],
        "ops_per_s": report["ops_per_s"],
        "p50_ms": report["overall"]["p50_ms"],
        "p99_ms": report["overall"]["p99_ms"],
        "steal": report["per_op"].get("steal"),
        "cpu_seconds": cpu_seconds,
        "cpu_ms_per_op": {
            group: round(seconds * 1000.0 / ops, 3) if ops else None
            for group, seconds in cpu_seconds.items()
        },
        "bots_per_shard": report["setup"].get("cluster", {}).get("bots_per_shard"),
        "friendships": report["setup"].get("friendships"),
        "cross_shard_friendships": report["setup"]
        .get("cluster", {})
        .get("cross_shard_friendships", 0),
        "writes": report.get("writes"),
        "violations": report["violation_count"],
        "unexpected_errors": report["unexpected_errors"],
        "transport_errors": report["transport_errors"],
        "bots_exit_status": bots_status,
        "audits_balanced": len(audits) == shards
        and all(audit.get("balanced") is True for audit in audits),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "notes": report["notes"],
    }
    print(json.dumps(entry))


main()
