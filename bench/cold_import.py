"""Cold import: a fresh interpreter importing function_app versus importing azure.functions alone.

    .venv/bin/python -m bench.cold_import [--runs 15]

What a Functions worker pays before the first trigger runs. Each run is a new process (whole
process, start-up included, as the worker starts one), the two commands taking turns so a drift in
the machine's speed hits both; the ratio is taken run pair by run pair and its median reported.
A bare interpreter (``-c pass``) is timed too, so the imports' own share can be read off.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import table

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "function_app": "import function_app",
    "azure.functions": "import azure.functions",
    "bare interpreter": "pass",
}


def timed(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    for code in COMMANDS.values():  # warm the file cache; the bytecode is already compiled
        timed(code)
    runs: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, code in COMMANDS.items():
            runs[name].append(timed(code))
    bare = runs["bare interpreter"]
    app, functions = runs["function_app"], runs["azure.functions"]
    rows = [
        (
            name,
            f"{statistics.median(times) * 1000:.0f} ms",
            f"{min(times) * 1000:.0f}-{max(times) * 1000:.0f} ms",
            f"{statistics.median(t - b for t, b in zip(times, bare, strict=True)) * 1000:.0f} ms",
        )
        for name, times in runs.items()
    ]
    whole = statistics.median(a / f for a, f in zip(app, functions, strict=True))
    imports = statistics.median(
        (a - b) / (f - b) for a, f, b in zip(app, functions, bare, strict=True) if f > b
    )
    print(
        table(
            f"4. Cold import ({args.runs} runs each, paired)",
            rows,
            ("import", "median", "range", "over bare"),
        )
    )
    print(f"function_app / azure.functions: {whole:.2f} whole process, {imports:.2f} of the imports alone")


if __name__ == "__main__":
    main()
