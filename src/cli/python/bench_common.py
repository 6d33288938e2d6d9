"""What the tandem bench's Python scripts share: reading the parameters the
bench passes, timing a mode over repetitions, the kernels written as the C++
side writes them (src/cli/workloads/kernels.hpp), running a task workload's
modes, and printing the JSON the bench reads (src/cli/python_runner.hpp).

Standard library only. Every script is run as
    python3 <workload>.py '<parameters as JSON>'
and prints one JSON object on stdout.
"""
import concurrent.futures as futures
import json
import multiprocessing
import statistics
import sys
import time


def parameters():
    """The JSON object the bench passed as the first argument."""
    return json.loads(sys.argv[1])


def time_mode(mode, workers, repetitions, once):
    """Runs once() `repetitions` times; returns (mode entry, checksum)."""
    samples = []
    checksum = None
    for _ in range(repetitions):
        start = time.perf_counter()
        result = once()
        samples.append(time.perf_counter() - start)
        if checksum is not None and result != checksum:
            raise RuntimeError(f"mode {mode} computed different results in two runs")
        checksum = result
    return {"mode": mode, "workers": workers, "seconds": statistics.median(samples), "samples": samples}, checksum


def emit(work, modes, checksum=None, **extra):
    """Prints the output the bench reads."""
    output = {"work": work, "modes": modes, **extra}
    if checksum is not None:
        output["checksum"] = checksum % (1 << 64)  # as the C++ side's unsigned 64-bit sums
    json.dump(output, sys.stdout)
    sys.stdout.write("\n")


def fork_context():
    """The start method of the Python pools: fork, Python 3.11's default on
    Linux and its fastest (3.14 moved the default to forkserver)."""
    return multiprocessing.get_context("fork")


def count_primes(low, high):
    """The number of primes in [low, high), by trial division by odd numbers."""
    count = 0
    for n in range(max(low, 2), high):
        if n < 4:
            count += 1
            continue
        if n % 2 == 0:
            continue
        prime = True
        d = 3
        while d * d <= n:
            if n % d == 0:
                prime = False
                break
            d += 2
        if prime:
            count += 1
    return count


def warm_up():
    return 0


def run_task_modes(task, tasks, workers, repetitions):
    """The three Python modes of a task workload: serial, a thread pool and a
    process pool (fork), each pool started before timing and reused, as the
    C++ side does. task(i) must be a module-level function (it is pickled by
    name for the process pool). Returns (modes, checksum of the serial mode)."""
    modes = []
    entry, serial = time_mode("python_serial", 1, repetitions, lambda: sum(task(i) for i in range(tasks)))
    modes.append(entry)
    with futures.ThreadPoolExecutor(workers) as pool:
        entry, checksum = time_mode("python_threads", workers, repetitions,
                                    lambda: sum(pool.map(task, range(tasks))))
        modes.append(entry)
        check_same("python_threads", serial, checksum)
    # The thread pool is shut down first: forking a process with threads
    # running is what Python 3.12 warns about.
    with futures.ProcessPoolExecutor(workers, mp_context=fork_context()) as pool:
        for f in [pool.submit(warm_up) for _ in range(workers)]:
            f.result()
        entry, checksum = time_mode("python_processes", workers, repetitions,
                                    lambda: sum(pool.map(task, range(tasks))))
        modes.append(entry)
        check_same("python_processes", serial, checksum)
    return modes, serial


def check_same(mode, serial, got):
    if serial != got:
        raise RuntimeError(f"mode {mode} computed a different result than the serial mode")
