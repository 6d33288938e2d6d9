#!/usr/bin/env python3
"""Python's multiprocessing on the workloads of bench_process, for the side-by-side table.

Prints one "name value" line per figure on stdout, median microseconds:
  start_join_us.<method>  Process(target=noop).start(); join()
  pipe_round_trip_us      Connection.send(int) / recv() ping-pong with a child
  queue_round_trip_us     Queue.put(int) / get() ping-pong with a child
Usage: python_multiprocessing.py [--quick]
"""
import multiprocessing as mp
import statistics
import sys
import time


def noop():
    pass


def pipe_echo(conn, count):
    for _ in range(count):
        conn.send(conn.recv())


def queue_echo(requests, replies, count):
    for _ in range(count):
        replies.put(requests.get())


def start_join(method, reps):
    ctx = mp.get_context(method)
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def pipe_round_trip(count):
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=pipe_echo, args=(child, count))
    p.start()
    samples = []
    for i in range(count):
        start = time.perf_counter()
        parent.send(i)
        parent.recv()
        samples.append((time.perf_counter() - start) * 1e6)
    p.join()
    return statistics.median(samples)


def queue_round_trip(count):
    ctx = mp.get_context("fork")
    requests, replies = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=queue_echo, args=(requests, replies, count))
    p.start()
    samples = []
    for i in range(count):
        start = time.perf_counter()
        requests.put(i)
        replies.get()
        samples.append((time.perf_counter() - start) * 1e6)
    p.join()
    return statistics.median(samples)


def main():
    quick = "--quick" in sys.argv[1:]
    reps = 10 if quick else 30
    trips = 2000 if quick else 20000
    for method in ("fork", "forkserver", "spawn"):
        print(f"start_join_us.{method} {start_join(method, reps):.3f}")
    print(f"pipe_round_trip_us {pipe_round_trip(trips):.3f}")
    print(f"queue_round_trip_us {queue_round_trip(trips):.3f}")


if __name__ == "__main__":
    main()
