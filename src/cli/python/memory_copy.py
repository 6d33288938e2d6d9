"""tandem bench, workload 6 in Python: the parent holds a large list of floats;
workers under each start method sum all of it and report their own memory
(/proc/self/smaps_rollup); a thread does the same in place
(src/cli/workloads/memory_copy.cpp).

Under fork the list is inherited, but reading an object writes its reference
count, so every page of objects a worker reads gets copied. Under forkserver
and spawn the list is pickled to the worker, which builds its own copy.

Parameters: floats, workers.
"""
import multiprocessing
import statistics
import threading
import time

import bench_common as common

DATA = None  # the parent's heap; fork workers inherit it


def memory_use():
    """This process's memory in MiB: rss, pss, private, shared."""
    use = {"rss_mib": 0.0, "pss_mib": 0.0, "private_mib": 0.0, "shared_mib": 0.0}
    with open("/proc/self/smaps_rollup") as rollup:
        for line in rollup:
            fields = line.split()
            if len(fields) < 2 or not fields[1].isdigit():
                continue
            mib = int(fields[1]) / 1024
            name = fields[0]
            if name == "Rss:":
                use["rss_mib"] = mib
            elif name == "Pss:":
                use["pss_mib"] = mib
            elif name in ("Private_Clean:", "Private_Dirty:"):
                use["private_mib"] += mib
            elif name in ("Shared_Clean:", "Shared_Dirty:"):
                use["shared_mib"] += mib
    return use


def fork_worker(results):
    total = sum(DATA)
    results.send((total, memory_use()))


def copy_worker(results, data):
    total = sum(data)
    results.send((total, memory_use()))


def run_method(method, workers, expected, heap_mib):
    context = multiprocessing.get_context(method)
    running = []
    for _ in range(workers):
        receive, send = context.Pipe(duplex=False)
        start = time.perf_counter()
        if method == "fork":
            process = context.Process(target=fork_worker, args=(send,))
        else:
            process = context.Process(target=copy_worker, args=(send, DATA))
        process.start()
        send.close()
        running.append((receive, process, start))
    seconds, uses = [], []
    for receive, process, start in running:
        total, use = receive.recv()
        seconds.append(time.perf_counter() - start)
        process.join()
        if total != expected:
            raise RuntimeError("a memory worker read another heap")
        uses.append(use)
    figures = {name: statistics.mean(use[name] for use in uses) for name in uses[0]}
    figures["heap_mib"] = heap_mib
    return {"mode": f"python_{method}", "workers": workers, "seconds": statistics.median(seconds),
            "samples": seconds, "figures": figures}


def main():
    global DATA
    p = common.parameters()
    before = memory_use()
    DATA = [float(i) for i in range(p["floats"])]
    heap_mib = memory_use()["rss_mib"] - before["rss_mib"]
    expected = sum(DATA)

    before = memory_use()
    start = time.perf_counter()
    result = []
    reader = threading.Thread(target=lambda: result.append(sum(DATA)))
    reader.start()
    reader.join()
    seconds = time.perf_counter() - start
    after = memory_use()
    if result != [expected]:
        raise RuntimeError("the memory thread read another heap")
    modes = [{"mode": "python_threads", "workers": 1, "seconds": seconds, "samples": [seconds],
              "figures": {"heap_mib": heap_mib,
                          "rss_mib": max(0.0, after["rss_mib"] - before["rss_mib"]),
                          "pss_mib": max(0.0, after["pss_mib"] - before["pss_mib"]),
                          "private_mib": max(0.0, after["private_mib"] - before["private_mib"])}}]
    for method in ("fork", "forkserver", "spawn"):
        modes.append(run_method(method, p["workers"], expected, heap_mib))
    common.emit(f"a list of {p['floats']} floats ({heap_mib:.0f} MiB); {p['workers']} workers per start method sum "
                f"it: fork inherits it, forkserver and spawn receive it pickled as an argument", modes)


if __name__ == "__main__":
    main()
