#!/usr/bin/env python3
"""Python's process pools on the workloads of bench_pool, for the side-by-side table.

Prints one "name value" line per figure on stdout (medians):
  pool_map_tasks_per_s          multiprocessing.Pool.map(square, range(200000)), default chunksize
  submit_tasks_per_s            20000 ProcessPoolExecutor.submit(square, i), then wait
  round_trip_us                 2000 sequential submit(square, i).result()
  big_round_trip_mib_per_s      submit(echo, 64 MiB of bytes).result(), MiB of argument per second
  start_shutdown_ms.<method>    ProcessPoolExecutor(2) start, one task, shutdown
Usage: python_pools.py [--quick] [--workers N]
"""
import concurrent.futures as cf
import multiprocessing as mp
import statistics
import sys
import time


def square(x):
    return x * x


def noop():
    pass


def echo(data):
    return data


def pool_map(workers, reps, inputs):
    samples = []
    with mp.get_context("fork").Pool(workers) as pool:
        for _ in range(reps):
            start = time.perf_counter()
            pool.map(square, range(inputs))
            samples.append(inputs / (time.perf_counter() - start))
    return statistics.median(samples)


def submits(workers, reps, count):
    samples = []
    with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
        pool.submit(noop).result()  # start the workers before timing
        for _ in range(reps):
            start = time.perf_counter()
            futures = [pool.submit(square, i) for i in range(count)]
            cf.wait(futures)
            samples.append(count / (time.perf_counter() - start))
    return statistics.median(samples)


def round_trips(workers, count):
    samples = []
    with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
        pool.submit(noop).result()
        for i in range(count):
            start = time.perf_counter()
            pool.submit(square, i).result()
            samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def big_round_trip(workers, reps, size):
    payload = bytes(size)
    samples = []
    with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
        pool.submit(echo, payload).result()  # warm-up, as bench_pool does
        for _ in range(reps):
            start = time.perf_counter()
            pool.submit(echo, payload).result()
            samples.append(size / (1024 * 1024) / (time.perf_counter() - start))
    return statistics.median(samples)


def start_shutdown(method, reps):
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        with cf.ProcessPoolExecutor(2, mp_context=mp.get_context(method)) as pool:
            pool.submit(noop).result()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def main():
    args = sys.argv[1:]
    quick = "--quick" in args
    workers = int(args[args.index("--workers") + 1]) if "--workers" in args else 2
    reps = 3 if quick else 5
    print(f"pool_map_tasks_per_s {pool_map(workers, reps, 200000):.1f}", flush=True)
    print(f"submit_tasks_per_s {submits(workers, reps, 20000):.1f}", flush=True)
    print(f"round_trip_us {round_trips(workers, 2000):.3f}", flush=True)
    print(f"big_round_trip_mib_per_s {big_round_trip(workers, reps, 64 << 20):.1f}", flush=True)
    for method in ("fork", "forkserver", "spawn"):
        print(f"start_shutdown_ms.{method} {start_shutdown(method, 2 * reps):.3f}", flush=True)


if __name__ == "__main__":
    main()
