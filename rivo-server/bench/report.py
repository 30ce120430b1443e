#!/usr/bin/env python3
"""Markdown table of medians from rivo-server/bench/http.sh's output folder.

Usage: rivo-server/bench/report.py OUT_DIR
Files: <backend>-<scenario>-c<C>-<run>.json (oha), .cpu next to each (CPU seconds during the
run), <backend>-<scenario>.hwm (server peak RSS in kB over that scenario's runs).
"""
import glob
import json
import os
import statistics
import sys

LABELS = {
    "post": "POST stream",
    "get20": "GET history (20 msgs)",
    "get1000": "GET history (1000 msgs)",
    "page100": "GET history page (100 of 1000)",
    "admin": "GET admin clients (10k, search+filter)",
    "two": "POST stream, 2 servers",
    "one": "POST stream, 1 server",
}
ORDER = list(LABELS)


def main(out):
    rows = {}
    for path in sorted(glob.glob(os.path.join(out, "*-c*-*.json"))):
        name, kind, conc, _run = os.path.basename(path)[:-5].split("-")
        data = json.load(open(path))
        codes = data.get("statusCodeDistribution", {})
        bad = sum(v for k, v in codes.items() if not k.startswith("2"))
        # Requests still in flight when the run's time is up are not errors.
        bad += sum(v for k, v in data.get("errorDistribution", {}).items()
                   if k != "aborted due to deadline")
        cpu = {}
        try:
            cpu = json.load(open(path[:-5] + ".cpu"))
        except (OSError, ValueError):
            pass
        secs = cpu.get("wall_s") or data["summary"]["total"] or 1
        pct = data["latencyPercentiles"]
        rows.setdefault((name, kind, conc), []).append({
            "rps": data["summary"]["requestsPerSec"],
            "p50": pct["p50"] * 1000,
            "p99": pct["p99"] * 1000,
            "p999": pct["p99.9"] * 1000,
            "bad": bad,
            "server": 100 * cpu.get("server_cpu_s", 0) / secs,
            "pg": 100 * cpu.get("pg_cpu_s", 0) / secs,
            "busy": 100 * cpu.get("busy_cpu_s", 0) / secs,
            "load": cpu.get("load1", 0),
        })
    print(f"Results in {out}\n")
    print("| backend | request | conc. | requests/s | p50 ms | p99 ms | p99.9 ms | errors "
          "| server CPU % | PostgreSQL CPU % | machine busy % | peak RSS MiB |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    key = lambda r: (r[0][0], ORDER.index(r[0][1]) if r[0][1] in ORDER else 99, int(r[0][2][1:]))
    for (name, kind, conc), runs in sorted(rows.items(), key=key):
        med = lambda k: statistics.median(r[k] for r in runs)
        try:
            hwm = "%.1f" % (int(open(os.path.join(out, f"{name}-{kind}.hwm")).read()) / 1024)
        except (OSError, ValueError):
            hwm = "–"
        pg = "%.0f" % med("pg") if name.startswith("postgres") else "–"
        print(f"| {name} | {LABELS.get(kind, kind)} | {conc[1:]} | {med('rps'):,.0f} | "
              f"{med('p50'):.2f} | {med('p99'):.2f} | {med('p999'):.2f} | "
              f"{sum(r['bad'] for r in runs)} | {med('server'):.0f} | {pg} | {med('busy'):.0f} | "
              f"{hwm} |")
    loads = [r["load"] for runs in rows.values() for r in runs]
    if loads:
        print(f"\nRuns per row: {min(len(r) for r in rows.values())}; "
              f"1-min load average during runs: {min(loads)}–{max(loads)} (2 cores).")


if __name__ == "__main__":
    main(sys.argv[1])
