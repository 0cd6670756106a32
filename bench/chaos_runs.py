"""Run the chaos test K times in a row with random seeds (#18: "passes 20 runs in a row").

    .venv/bin/python bench/chaos_runs.py [--runs 20] [--records 300] [--seeds 1,2,3]

One pytest process per run, one after the other; in it the test's two halves (five kills
each, their own worlds) run side by side on two xdist workers, as in the suite. Each run gets its
seed through `CRMSYNC_CHAOS_SEED`, so a failing one replays with
`CRMSYNC_CHAOS_SEED=<seed> .venv/bin/python -m pytest -q -rA -n 2 tests/runtime/test_chaos.py`.

Prints one line per run (seed, result, the test's own "seconds" from kills to convergence,
and the wall time of the pytest process) as it finishes, then a JSON summary. The exit code
is 1 when any run failed; the failing run's pytest output is kept in `--keep` (a directory).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_once(seed: int, records: int, keep: Path) -> dict[str, object]:
    """One pytest run of the chaos test with this seed; its result and times."""
    env = {**os.environ, "CRMSYNC_CHAOS_SEED": str(seed), "CRMSYNC_CHAOS_RECORDS": str(records)}
    test = "tests/runtime/test_chaos.py"
    # The test is two independent halves of five kills (own sandbox, database and queue each);
    # they run side by side, as in the suite. -rA relays each half's captured CHAOS line.
    cmd = [sys.executable, "-m", "pytest", "-q", "-rA", "-n", "2", "-p", "no:cacheprovider", test]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    out = proc.stdout + proc.stderr
    halves = [json.loads(found) for found in re.findall(r"^CHAOS (\{.*\})$", out, re.MULTILINE)]
    summary: dict[str, object] = {
        "seconds": max((h.get("seconds") or 0 for h in halves), default=None),
        "problems": [p for h in halves for p in (h.get("problems") or [])],
    }
    # exit 0 is also a skipped test: only both halves passed counts as a pass
    result = "passed" if proc.returncode == 0 and re.search(r"\b2 passed\b", out) else "skipped"
    if proc.returncode != 0:
        result = "FAILED"
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"chaos-{seed}.log").write_text(out)
    return {
        "seed": seed,
        "result": result,
        "test_seconds": summary.get("seconds"),
        "wall_seconds": round(wall, 1),
        "problems": summary.get("problems"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--records", type=int, default=int(os.environ.get("CRMSYNC_CHAOS_RECORDS", "300")))
    parser.add_argument("--seeds", default=None, help="comma-separated seeds to replay (instead of random ones)")
    parser.add_argument("--keep", type=Path, default=Path("chaos-failures"), help="where failing runs' output goes")
    args = parser.parse_args()
    if args.seeds:
        seeds = [int(x) for x in args.seeds.split(",")]
    else:
        rnd = random.SystemRandom()
        seeds = [rnd.randrange(1_000_000) for _ in range(args.runs)]
    runs = []
    for n, seed in enumerate(seeds, 1):
        r = run_once(seed, args.records, args.keep)
        runs.append(r)
        print(
            f"run {n}/{len(seeds)}: seed {seed} {r['result']} test {r['test_seconds']} s wall {r['wall_seconds']} s"
            + (f" problems {r['problems']}" if r["problems"] else ""),
            flush=True,
        )
    failed = [r["seed"] for r in runs if r["result"] != "passed"]
    print(json.dumps({"runs": runs, "failed_seeds": failed, "records": args.records}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
