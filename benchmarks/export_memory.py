"""Export memory: peak RSS of a streaming export versus loading every pair first, 100k to 1M lines.

For each size a JSONL file of validated pairs (question, SQL, source and a validation record with
a one-row preview, about 330 bytes a line) is written, then exported to the ``lamini`` format with
a 10 % validation split, each way in its own fresh process so that its peak resident set size
(``ru_maxrss``) is its own:

- ``streaming``: :func:`text2sql_tune.exports.export_file`, what ``text2sql-tune export`` runs:
  two passes over the file (count, then format and write), one line in memory at a time.
- ``naive``: the load-everything baseline (what ``export`` did before): ``read_pairs``, split,
  format every record into a list, then write the list.

A third process only imports the library and exits: the floor both start from. The output
files of the two ways are compared byte for byte.

Run:  python benchmarks/export_memory.py                       (several minutes at 1M lines)
      python benchmarks/export_memory.py --sizes 100000 300000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FORMAT = "lamini"
FRACTION = 0.1
SEED = 0


def write_input(path: Path, n: int) -> None:
    """``n`` validated pairs, deterministic."""
    rng = random.Random(n)
    oses = ["Windows", "iOS", "Android"]
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            os_ = rng.choice(oses)
            record = {
                "question": f"How many sessions on {os_} had a revenue above {i} on day {i % 28}?",
                "sql": f"SELECT count() FROM ecommerce.sessions WHERE os = '{os_}' AND revenue > "
                f"{i} AND toDayOfMonth(action_date) = {i % 28 + 1}",
                "source": "template",
                "validation": {
                    "status": "ok",
                    "row_count": 1,
                    "columns": ["count()"],
                    "preview": [[rng.randint(0, 5000)]],
                    "elapsed_s": 0.004,
                },
            }
            handle.write(json.dumps(record) + "\n")


def child(mode: str, source: Path, target: Path) -> None:
    """Run one way in this process and print its numbers as JSON."""
    started = time.perf_counter()
    from text2sql_tune import demo_schema
    from text2sql_tune.prompts import answering_system_prompt

    system_prompt = answering_system_prompt(demo_schema())
    records = 0
    if mode == "streaming":
        from text2sql_tune.exports import export_file

        result = export_file(
            source, target, FORMAT, system_prompt=system_prompt, validation_fraction=FRACTION
        )
        records = result.train_count + result.validation_count
    elif mode == "naive":
        from text2sql_tune.exports import (
            export_records,
            split_train_validation,
            validation_path_for,
        )
        from text2sql_tune.io.records import read_pairs, write_jsonl

        pairs = read_pairs(source)
        train, held_out = split_train_validation(pairs, FRACTION, seed=SEED)
        train_records = export_records(train, FORMAT, system_prompt)
        held_records = export_records(held_out, FORMAT, system_prompt)
        records = write_jsonl(target, train_records)
        records += write_jsonl(validation_path_for(target), held_records)
    seconds = time.perf_counter() - started
    print(json.dumps({"peak_mb": peak_rss_mb(), "seconds": seconds, "records": records}))


def peak_rss_mb() -> float:
    """This process's peak resident set size since it started (exec'd).

    ``VmHWM`` and not ``ru_maxrss``: the latter keeps the high-water mark of the process it was
    forked from, i.e. of this benchmark's parent.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # macOS: bytes / 1024


def digest(path: Path) -> str:
    """SHA-256 of a file, read in chunks (the parent stays small: its size is inherited)."""
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def measure(mode: str, source: Path, target: Path) -> dict[str, float]:
    """Run ``child`` in a fresh interpreter and return what it printed."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(source), str(target)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Measure each size and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--child", nargs=3, metavar=("MODE", "SOURCE", "TARGET"))
    args = parser.parse_args()
    if args.child:
        mode, source, target = args.child
        child(mode, Path(source), Path(target))
        return

    print(f"python {platform.python_version()} on {platform.machine()}, format {FORMAT}, ")
    print(f"validation split {FRACTION:.0%}; peak RSS per fresh process")
    with tempfile.TemporaryDirectory(prefix="export-memory-") as folder:
        work = Path(folder)
        floor = measure("import", work / "none", work / "none.out")
        print(f"floor (import the library, build the prompt): {floor['peak_mb']:.0f} MB\n")
        header = (
            f"{'lines':>9} {'input MB':>9} {'stream MB':>10} {'naive MB':>9} {'naive/stream':>13}"
            f" {'stream s':>9} {'naive s':>8}"
        )
        print(header)
        print("-" * len(header))
        for n in args.sizes:
            source = work / f"pairs-{n}.jsonl"
            write_input(source, n)
            streaming = measure("streaming", source, work / "stream.jsonl")
            naive = measure("naive", source, work / "naive.jsonl")
            same = all(
                digest(work / f"stream{part}") == digest(work / f"naive{part}")
                for part in (".jsonl", ".validation.jsonl")
            )
            assert same and streaming["records"] == naive["records"] == n, "outputs differ"
            print(
                f"{n:>9,} {source.stat().st_size / 2**20:>9.0f} {streaming['peak_mb']:>10.0f} "
                f"{naive['peak_mb']:>9.0f} {naive['peak_mb'] / streaming['peak_mb']:>12.1f}x "
                f"{streaming['seconds']:>9.1f} {naive['seconds']:>8.1f}",
                flush=True,
            )
            for leftover in work.glob("*.jsonl"):
                leftover.unlink()
    print("\nidentical output files both ways at every size")


if __name__ == "__main__":
    main()
