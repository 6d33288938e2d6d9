"""tandem bench, workload 5 in Python: start + join of a thread and of a
process under each start method, and the round trip of an empty task on a
running thread pool and process pool (src/cli/workloads/overheads.cpp).

Parameters: thread_starts, fork_starts, forkserver_starts, spawn_starts,
batches, thread_batch, process_batch.
"""
import concurrent.futures as futures
import multiprocessing
import statistics
import threading
import time

import bench_common as common


def nothing():
    pass


def time_each(mode, count, operation):
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - start)
    return {"mode": mode, "workers": 1, "seconds": statistics.median(samples), "samples": samples,
            "figures": {"operations": count}}


def time_batches(mode, batches, per_batch, round_trip):
    samples = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(per_batch):
            round_trip()
        samples.append((time.perf_counter() - start) / per_batch)
    return {"mode": mode, "workers": 1, "seconds": statistics.median(samples), "samples": samples,
            "figures": {"operations": batches * per_batch}}


def thread_start():
    thread = threading.Thread(target=nothing)
    thread.start()
    thread.join()


def process_starts(method, count):
    context = multiprocessing.get_context(method)

    def start_and_join():
        process = context.Process(target=nothing)
        process.start()
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"a {method} child failed")

    start_and_join()  # the forkserver starts with the first child: not part of a child's cost
    return time_each(f"python_process_start_{method}", count, start_and_join)


def main():
    p = common.parameters()
    modes = [time_each("python_thread_start", p["thread_starts"], thread_start)]
    # Process starts first, while this process has one thread (fork).
    for method in ("fork", "forkserver", "spawn"):
        modes.append(process_starts(method, p[f"{method}_starts"]))
    with futures.ThreadPoolExecutor(1) as pool:
        pool.submit(nothing).result()
        modes.append(time_batches("python_thread_pool_round_trip", p["batches"], p["thread_batch"],
                                  lambda: pool.submit(nothing).result()))
    with futures.ProcessPoolExecutor(1, mp_context=common.fork_context()) as pool:
        pool.submit(nothing).result()
        modes.append(time_batches("python_process_pool_round_trip", p["batches"], p["process_batch"],
                                  lambda: pool.submit(nothing).result()))
    common.emit(f"the same operations with threading.Thread, multiprocessing contexts' Process, and "
                f"concurrent.futures pools (the process pool under fork), fewer of each: {p['thread_starts']} thread "
                f"starts, {p['fork_starts']}/{p['forkserver_starts']}/{p['spawn_starts']} process starts, "
                f"{p['batches']} batches of round trips", modes)


if __name__ == "__main__":
    main()
