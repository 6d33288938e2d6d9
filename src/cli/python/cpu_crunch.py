"""tandem bench, workload 1 in Python: count the primes in ranges of integers
by trial division, one range per task (src/cli/workloads/cpu_crunch.cpp).

Parameters: first, ranges, length (numbers per range), repetitions, workers.
"""
import bench_common as common

P = common.parameters() if __name__ == "__main__" else None


def task(i):
    low = P["first"] + i * P["length"]
    return common.count_primes(low, low + P["length"])


def main():
    modes, checksum = common.run_task_modes(task, P["ranges"], P["workers"], P["repetitions"])
    common.emit(f"count the primes in {P['ranges']} ranges of {P['length']} numbers from {P['first']} "
                f"by trial division, one range per task", modes, checksum)


if __name__ == "__main__":
    main()
