"""tandem bench, workload 8 in Python: a real-time loop (the main thread) takes
one block of samples per period from a queue.Queue that a renderer thread
fills, while CPU-bound threads run beside them (src/cli/workloads/audio_realtime.cpp).

Parameters: frames, rate, duration_ms, queue_blocks, prefill, load_threads.
"""
import math
import os
import queue
import threading
import time

import bench_common as common


def main():
    p = common.parameters()
    frames, rate = p["frames"], p["rate"]
    period = frames / rate
    blocks = queue.Queue(maxsize=p["queue_blocks"] - 1)
    stop = threading.Event()

    def load():
        low = 1_000_000
        while not stop.is_set():
            common.count_primes(low, low + 500)
            low += 500

    def render():
        phase = 0.0
        step = 2 * math.pi * 440.0 / rate
        block = None
        while not stop.is_set():
            if block is None:
                block = []
                for _ in range(frames):
                    block.append(0.3 * math.sin(phase) + 0.2 * math.sin(2.01 * phase))
                    phase += step
            try:
                blocks.put_nowait(block)
                block = None
            except queue.Full:  # come back when the loop has taken a block or two
                time.sleep(0.0005)

    threads = [threading.Thread(target=load) for _ in range(p["load_threads"])]
    threads.append(threading.Thread(target=render))
    for thread in threads:
        thread.start()
    # The loop at a real-time priority where allowed, as the C++ callback
    # (after starting the other threads, which would inherit it).
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        realtime = 1
    except OSError:
        realtime = 0
    delays, missed = [], 0
    try:
        give_up = time.perf_counter() + 10
        while blocks.qsize() < p["prefill"] and time.perf_counter() < give_up:
            time.sleep(0.0002)
        start = time.perf_counter()
        count = int(p["duration_ms"] / 1000 / period)
        output = 0.0
        for k in range(1, count + 1):
            due = start + k * period
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            try:
                block = blocks.get_nowait()
                got = True
            except queue.Empty:
                got = False
            delay = time.perf_counter() - due
            if got:
                output += block[0]
            delays.append(delay)
            if not got or delay > period:
                missed += 1
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    ordered = sorted(delays)

    def at(fraction):
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    mode = {"mode": "python_threads", "workers": 1, "seconds": ordered[-1], "samples": delays,
            "figures": {"worst_delay_ms": ordered[-1] * 1e3, "p99_delay_ms": at(0.99) * 1e3,
                        "median_delay_ms": at(0.5) * 1e3, "ticks": len(delays), "missed": missed,
                        "period_ms": period * 1e3, "load_threads": p["load_threads"],
                        "realtime_priority": realtime}}
    common.emit(f"the same loop in CPython: time.sleep to each deadline, queue.Queue(maxsize="
                f"{p['queue_blocks'] - 1}) fed by a threading.Thread rendering with math.sin, {p['load_threads']} "
                f"threads counting primes beside them", [mode])


if __name__ == "__main__":
    main()
