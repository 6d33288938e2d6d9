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


def time_in_rounds(modes, rounds):
    """Times modes [(name, workers, once)] in rounds, each round running every
    mode once, as the C++ side does (src/cli/workloads/workload.hpp), so that
    a change in the machine's load weighs on every mode alike. Returns (mode
    entries, checksum); every run must compute the same checksum."""
    samples = {name: [] for name, _, _ in modes}
    checksum = None
    for _ in range(rounds):
        for name, _, once in modes:
            start = time.perf_counter()
            result = once()
            samples[name].append(time.perf_counter() - start)
            if checksum is not None and result != checksum:
                raise RuntimeError(f"mode {name} computed another result than {modes[0][0]}")
            checksum = result
    entries = [{"mode": name, "workers": workers, "seconds": statistics.median(samples[name]),
                "samples": samples[name]} for name, workers, _ in modes]
    return entries, checksum


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
    process pool (fork), both pools started before timing and reused, the
    modes timed in rounds, as the C++ side does. task(i) must be a
    module-level function (the process pool pickles it by name). Returns
    (modes, checksum)."""
    with futures.ProcessPoolExecutor(workers, mp_context=fork_context()) as processes:
        # The process pool forks all its workers now, before the thread pool
        # has threads: forking a process with threads running is what Python
        # 3.12 warns about.
        for f in [processes.submit(warm_up) for _ in range(workers)]:
            f.result()
        with futures.ThreadPoolExecutor(workers) as threads:
            return time_in_rounds([
                ("python_serial", 1, lambda: sum(task(i) for i in range(tasks))),
                ("python_threads", workers, lambda: sum(threads.map(task, range(tasks)))),
                ("python_processes", workers, lambda: sum(processes.map(task, range(tasks)))),
            ], repetitions)
