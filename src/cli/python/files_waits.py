"""tandem bench, workload 4 in Python: read each file of the folder the bench
wrote (64 KiB reads), Adler-32 it, then a blocking wait, one file per task
(src/cli/workloads/files_waits.cpp reads the same files).

Parameters: folder, files, wait_ms, repetitions, workers.
"""
import os
import time
import zlib

import bench_common as common

P = common.parameters() if __name__ == "__main__" else None
CHUNK = 64 * 1024


def task(i):
    total = 1
    with open(os.path.join(P["folder"], f"file_{i}"), "rb", buffering=0) as source:
        while True:
            piece = source.read(CHUNK)
            if not piece:
                break
            total = zlib.adler32(piece, total)
    time.sleep(P["wait_ms"] / 1000)
    return total


def main():
    modes, checksum = common.run_task_modes(task, P["files"], P["workers"], P["repetitions"])
    common.emit(f"the same {P['files']} files (64 KiB reads, zlib.adler32), then time.sleep({P['wait_ms']} ms); "
                f"{P['workers']} workers", modes, checksum)


if __name__ == "__main__":
    main()
