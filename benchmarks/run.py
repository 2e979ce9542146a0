"""Benchmark: target-sendgrid against a do-nothing SDK target, on the same generated profiles.

    python benchmarks/run.py                    # 100,000 profiles, instant jobs
    python benchmarks/run.py --count 1000000    # memory bound by the batch, not the input
    python benchmarks/run.py --job-delay 2      # import jobs overlap with our own work
    python benchmarks/run.py --pipe             # stdin a pipe, as from a tap, instead of a file
    python benchmarks/run.py --max-contacts 0   # no ceiling: upserts go out while the input is read
    python benchmarks/run.py --nightly          # first run, unchanged re-run, 1% changed: skip_unchanged off and on
    python benchmarks/run.py --nightly --count 1000000

Runs (a) and (b) alternately, --repeat times each, and prints the median of each figure.
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import target_sendgrid
from sendgrid_emulator import SendGridEmulator
from tests.profiles import write_singer

HERE = Path(__file__).parent
KEY = "SG.benchmark-key"


@dataclass
class Sample:
    """One run of a child process: wall seconds, peak RSS (MB), and the phases its log shows."""

    wall: float
    rss: float
    phases: tuple[float, float] | None  # seconds to the first SCHEMA handled, and to the input's end
    started: float  # when the child started (epoch seconds), to time the emulator's requests by


def run(command: list[str], input_path: Path, pipe: bool = False) -> Sample:
    """Run one child process reading input_path on stdin (a file, or a pipe from ``cat`` as from a tap).

    The peak is the child's own VmHWM, polled from /proc: rusage's ru_maxrss would also count the
    pages the child shared with this process (emulator included) between fork and exec.
    """
    with input_path.open("rb") as data:
        started = time.time()
        start = time.perf_counter()
        cat = subprocess.Popen(["cat"], stdin=data, stdout=subprocess.PIPE) if pipe else None
        stdin = cat.stdout if cat is not None else data
        child = subprocess.Popen(command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if cat is not None:
            cat.stdout.close()  # type: ignore[union-attr]  # the child holds the pipe now
        assert child.stderr is not None
        err: list[bytes] = []
        reader = threading.Thread(target=lambda: err.append(child.stderr.read()))  # type: ignore[union-attr]
        reader.start()
        peak_kb = 0
        while child.poll() is None:
            peak_kb = max(peak_kb, _peak_rss_kb(child.pid))
            time.sleep(0.02)
        wall = time.perf_counter() - start
        reader.join()
        if cat is not None:
            cat.wait()
    log = b"".join(err).decode()
    if child.returncode != 0:
        sys.exit(f"{command} failed:\n{log[-3000:]}")
    return Sample(wall, peak_kb / 1024, _phases(log, started), started)


def _phases(log: str, started: float) -> tuple[float, float] | None:
    """When (seconds after the start) the log says the first stream was set up, and the input ended."""

    def at(marker: str) -> float | None:
        line = next((x for x in log.splitlines() if marker in x), None)
        if line is None:
            return None
        stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").astimezone()  # the SDK logs local time
        return stamp.timestamp() - started

    ready, read = at("maps SendGrid fields"), at("completed processing")
    return (ready, read) if ready is not None and read is not None else None


def _peak_rss_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0  # it just ended
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--job-delay", type=float, default=0.0, help="seconds each emulator import job takes")
    parser.add_argument("--no-yardstick", action="store_true", help="skip the do-nothing target")
    parser.add_argument("--pipe", action="store_true", help="feed stdin through a pipe, as a tap does, not a file")
    parser.add_argument(
        "--max-contacts", type=int, default=None, help="(a)'s max_contacts; unset: the default ceiling (100,000)"
    )
    parser.add_argument("--nightly", action="store_true", help="the nightly scenario, with and without skip_unchanged")
    parser.add_argument(
        "--job-seconds-per-1000", type=float, default=0.2, help="--nightly: import job time per 1,000 contacts"
    )
    args = parser.parse_args()
    # As an installed package is: pip compiles bytecode at install. This machine's environment sets
    # PYTHONDONTWRITEBYTECODE, so without this every run of (a) compiled the package from source.
    compileall.compile_dir(Path(target_sendgrid.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory(prefix="sendgrid-bench-") as work:  # the input files are 36 MB per 100k
        if args.nightly:
            nightly(Path(work), args.count, args.job_seconds_per_1000)
        else:
            hot_path(Path(work), args)


def hot_path(work: Path, args: argparse.Namespace) -> None:
    """(a), (b) and (c) on the same generated profiles, alternately, and their medians."""
    data = work / "profiles.singer"
    with data.open("w") as out:
        write_singer(out, args.count, state_every=10_000)
    print(
        f"{args.count:,} profiles, {data.stat().st_size / 1e6:.0f} MB of Singer messages, job delay {args.job_delay}s,"
        f" stdin {'a pipe' if args.pipe else 'a file'}"
    )

    emulator = SendGridEmulator(KEY, job_delay=args.job_delay, rate_limit=10**9).start()
    config = work / "config.json"
    null_config = work / "null.json"
    null_config.write_text("{}")
    ours = [sys.executable, "-m", "target_sendgrid.target", "--config", str(config)]
    yardstick = [sys.executable, str(HERE / "null_target.py"), "--config", str(null_config)]
    bare = [sys.executable, str(HERE / "bare_loop.py")]

    figures: dict[str, list[Sample]] = {"a": [], "b": [], "c": []}
    requests: list[dict] = []
    first_upserts: list[float] = []  # seconds from (a)'s start to its first upsert
    ceiling = {} if args.max_contacts is None else {"max_contacts": args.max_contacts}
    for i in range(args.repeat):
        list_id = emulator.create_list(f"bench {i}")
        config.write_text(
            json.dumps(
                {
                    "api_key": KEY,
                    "api_url": emulator.url,
                    "list_id": list_id,
                    "data_privacy_consent": True,
                    **ceiling,
                }
            )
        )
        before = len(emulator.request_log)
        sample = run(ours, data, args.pipe)
        figures["a"].append(sample)
        requests = emulator.request_log[before:]
        first_upserts.append(min(r["at"] for r in requests if r["method"] == "PUT") - sample.started)
        if not args.no_yardstick:
            figures["b"].append(run(yardstick, data, args.pipe))
            figures["c"].append(run(bare, data, args.pipe))
    emulator.stop()

    puts = [r for r in requests if r["method"] == "PUT"]
    jobs = len(puts)
    print()
    print("| run | wall s | records/s | peak RSS MB | requests | upserts | bytes/upsert |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = {"a": "(a) target-sendgrid", "b": "(b) do-nothing SDK target", "c": "(c) bare loop (json in, json out)"}
    medians = {}
    for key, samples in figures.items():
        if not samples:
            continue
        wall = statistics.median(s.wall for s in samples)
        rss = statistics.median(s.rss for s in samples)
        medians[key] = wall
        extra = (
            f"{len(requests)} | {jobs} | {statistics.mean(p['bytes'] for p in puts):,.0f}"
            if key == "a"
            else "- | - | -"
        )
        print(f"| {rows[key]} | {wall:.2f} | {args.count / wall:,.0f} | {rss:.0f} | {extra} |")
    if "b" in medians:
        print(f"\na/b = {medians['a'] / medians['b']:.2f}  (target: < 0.3)   a/c = {medians['a'] / medians['c']:.2f}")
    phased = [s for s in figures["a"] if s.phases is not None]
    if phased:
        ready = statistics.median(s.phases[0] for s in phased)  # type: ignore[index]
        read = statistics.median(s.phases[1] - s.phases[0] for s in phased)  # type: ignore[index]
        tail = statistics.median(s.wall - s.phases[1] for s in phased)  # type: ignore[index]
        print(
            f"(a) in phases: start-up {ready:.2f}s (imports, key check, lists), reading the input {read:.2f}s, "
            f"then {tail:.2f}s for the last batches' uploads and jobs"
        )
    print(f"contacts per upsert: {[p['contacts'] for p in puts]}")
    shown = "the default (100,000)" if args.max_contacts is None else f"{args.max_contacts:,}"
    print(f"max_contacts {shown}: the first upsert went out {statistics.median(first_upserts):.2f}s after (a) started")
    if args.job_delay:
        print(f"jobs x delay = {jobs * args.job_delay:.1f}s; overlapped, the export took {medians['a']:.1f}s")


def nightly(work: Path, count: int, seconds_per_1000: float) -> None:
    """A nightly export three nights running: the first, an unchanged re-run, a re-run with 1% changed."""
    base, changed = work / "base.singer", work / "changed.singer"
    with base.open("w") as out:
        write_singer(out, count, state_every=10_000)
    with base.open() as lines, changed.open("w") as out:
        for line in lines:  # every 100th profile gets a new first name
            message = json.loads(line)
            record = message.get("record")
            if record is not None and record["customer_id"] % 100 == 0:
                record["first_name"] = f"{record.get('first_name') or ''}x"
            out.write(json.dumps(message) + "\n")
    print(f"{count:,} profiles; import jobs take {seconds_per_1000}s per 1,000 contacts (plus 0.05s)")
    print()
    print("| night | skip_unchanged | contacts sent | requests | wall s | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|")
    for skip in (False, True):
        emulator = SendGridEmulator(KEY, job_delay=0.05, rate_limit=10**9).start()
        emulator.job_seconds_per_1000 = seconds_per_1000
        config = work / "config.json"
        settings = {"api_key": KEY, "api_url": emulator.url, "list_name": "nightly", "data_privacy_consent": True}
        config.write_text(json.dumps({**settings, "max_contacts": 0, "skip_unchanged": skip}))
        command = [sys.executable, "-m", "target_sendgrid.target", "--config", str(config)]
        for night, data in (("first run", base), ("unchanged re-run", base), ("1% changed", changed)):
            before = len(emulator.request_log)
            sample = run(command, data)
            made = emulator.request_log[before:]
            contacts = sum(r["contacts"] for r in made if r["method"] == "PUT")
            print(
                f"| {night} | {'on' if skip else 'off'} | {contacts:,} | {len(made)} | {sample.wall:.1f} "
                f"| {sample.rss:.0f} |"
            )
        emulator.stop()


if __name__ == "__main__":
    main()
