"""tandem bench, workload 7 in Python: a UI loop ticks every few milliseconds
(each tick redraws: zlib.adler32 of 16 KiB) while slow tasks (counting primes)
run inline between ticks, in a worker thread, or in a worker process
(src/cli/workloads/ui_responsiveness.cpp).

Parameters: period_ms, duration_ms, first, slow_length.
"""
import concurrent.futures as futures
import sys
import threading
import time
import zlib

import bench_common as common

P = common.parameters() if __name__ == "__main__" else None
FRAME = bytes([7]) * 16 * 1024


def slow_task(index, length):
    """The primes in one of 16 ranges of `length` numbers, in turn (as the C++ side)."""
    low = P["first"] + index % 16 * length
    return common.count_primes(low, low + length)


def handler():
    started = time.perf_counter()
    zlib.adler32(FRAME)
    return started


def ui_loop(after):
    """Ticks every period for the duration, as ui_loop in the C++ side does:
    a late tick runs as soon as the loop is free, and the ticks that fell due
    while it waited are coalesced into it (missed)."""
    period = P["period_ms"] / 1000
    start = time.perf_counter()
    end = start + P["duration_ms"] / 1000
    due = start + period
    delays, ticks, missed = [], 0, 0
    while due <= end:
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        started = handler()
        delay = started - due
        delays.append(delay)
        ticks += 1
        if delay > period:
            missed += 1
        after()
        due += period
        while due <= started and due <= end:
            ticks += 1
            missed += 1
            due += period
    return delays, ticks, missed


def mode(name, result):
    delays, ticks, missed = result
    ordered = sorted(delays)

    def at(fraction):
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0

    worst = ordered[-1] if ordered else 0.0
    return {"mode": name, "workers": 1, "seconds": worst, "samples": delays,
            "figures": {"worst_delay_ms": worst * 1e3, "p99_delay_ms": at(0.99) * 1e3,
                        "median_delay_ms": at(0.5) * 1e3, "ticks": ticks, "missed": missed,
                        "period_ms": P["period_ms"]}}


def main():
    length = P["slow_length"]
    tasks = iter(range(1 << 62))
    modes = [mode("python_inline", ui_loop(lambda: slow_task(next(tasks), length)))]

    # The worker process first, while this process has one thread (fork).
    with futures.ProcessPoolExecutor(1, mp_context=common.fork_context()) as pool:
        pool.submit(common.warm_up).result()
        running = []

        def poll_worker():
            if running and not running[-1].done():
                return
            if running:
                running.pop().result()
            running.append(pool.submit(slow_task, next(tasks), length))

        result = ui_loop(poll_worker)
        for future in running:
            future.result()
    process_mode = mode("python_process", result)

    stop = threading.Event()

    def worker():
        index = 0
        while not stop.is_set():
            slow_task(index, length)
            index += 1

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        modes.append(mode("python_thread", ui_loop(lambda: None)))
    finally:
        stop.set()
        thread.join()
    modes.append(process_mode)
    common.emit(f"the same loop with time.sleep, slow tasks of {length} numbers (~50 ms in CPython) inline, in a "
                f"threading.Thread (the GIL passes between it and the loop every "
                f"{1000 * sys.getswitchinterval():.0f} ms), in a ProcessPoolExecutor worker (fork)",
                modes)


if __name__ == "__main__":
    main()
