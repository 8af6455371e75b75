"""Generation throughput against the fake OpenAI server: pairs/s versus the ideal.

The fake server runs in its own process. It answers every chat call after ``--latency`` seconds
(200 ms by default) and rate-limits a random ``--rate-limit`` share of calls (5 %) with HTTP 429
and ``Retry-After: 1``.
For each concurrency C the ideal is ``C / latency`` pairs per second; the ratio shows how close
the generator gets. The last row is a naive baseline in the same run: a generator that keeps
only C attempts in progress, so an attempt waiting out a ``Retry-After`` leaves its HTTP slot idle.

Run:  python benchmarks/generation.py            (about 2 minutes)
      python benchmarks/generation.py --full     (N=2,000 also at concurrency 1: +7 minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection

from text2sql_tune import OpenAIChatClient, demo_schema, load_seed_examples
from text2sql_tune.generators import OpenAIQAGenerator
from text2sql_tune.testing import FakeOpenAIServer


def _serve(conn: Connection, latency: float, fraction: float, retry_after: str) -> None:
    server = FakeOpenAIServer(
        latency_s=latency, rate_limit_fraction=fraction, retry_after=retry_after, seed=1
    )
    with server:
        conn.send(server.url)
        conn.recv()  # serve until told to stop


@contextmanager
def fake_server_process(latency: float, fraction: float, retry_after: str) -> Iterator[str]:
    """Run the fake server in its own process, so it does not share the client's GIL."""
    parent, child = mp.Pipe()
    process = mp.Process(target=_serve, args=(child, latency, fraction, retry_after), daemon=True)
    process.start()
    try:
        yield str(parent.recv())
    finally:
        parent.send("stop")
        process.join(timeout=10)


async def run_once(
    url: str, n: int, concurrency: int, width: int | None
) -> tuple[float, int, int, int]:
    """Generate ``n`` pairs; return (seconds, ok, rejected, retries)."""
    client = OpenAIChatClient("gpt-4o-mini", base_url=url, concurrency=concurrency, timeout_s=30.0)
    generator = OpenAIQAGenerator(
        client, demo_schema(), load_seed_examples(), rng_seed=0, concurrency=width
    )
    ok = rejected = 0
    started = time.perf_counter()
    async with client:
        async for pair in generator.agenerate(n):
            if pair.ok:
                ok += 1
            else:
                rejected += 1
    return time.perf_counter() - started, ok, rejected, client.retries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="generations per run")
    parser.add_argument("--n-serial", type=int, default=200, help="generations at concurrency 1")
    parser.add_argument("--full", action="store_true", help="use --n at concurrency 1 too")
    parser.add_argument("--latency", type=float, default=0.2, help="server latency, seconds")
    parser.add_argument("--rate-limit", type=float, default=0.05, help="share of 429 answers")
    parser.add_argument("--retry-after", default="1", help="Retry-After seconds sent with 429")
    args = parser.parse_args()

    runs: list[tuple[str, int, int | None, int]] = [
        ("concurrency 1", 1, None, args.n if args.full else args.n_serial),
        ("concurrency 8", 8, None, args.n),
        ("concurrency 32", 32, None, args.n),
        ("naive baseline, concurrency 32 (slots idle during Retry-After)", 32, 32, args.n),
    ]
    print(
        f"fake server: latency {args.latency * 1000:.0f} ms, "
        f"{args.rate_limit:.0%} of calls answered 429 with Retry-After {args.retry_after} s"
    )
    print(f"{'run':<64} {'N':>5} {'s':>7} {'pairs/s':>8} {'ideal':>7} {'ratio':>6} {'429s':>5}")
    for label, concurrency, width, n in runs:
        with fake_server_process(args.latency, args.rate_limit, args.retry_after) as url:
            seconds, ok, rejected, retries = asyncio.run(run_once(url, n, concurrency, width))
        rate = (ok + rejected) / seconds
        ideal = concurrency / args.latency
        print(
            f"{label:<64} {n:>5} {seconds:>7.1f} {rate:>8.1f} {ideal:>7.1f} "
            f"{rate / ideal:>6.1%} {retries:>5}" + (f"  ({rejected} rejected)" if rejected else "")
        )


if __name__ == "__main__":
    main()
