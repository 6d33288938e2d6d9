"""tandem bench, workload 3 in Python: GET pages from the bench's local HTTP
server (it answers each after a fixed latency), one request per task, a new
connection each, Adler-32 of each body (src/cli/workloads/http_fetch.cpp).

Parameters: port, requests, repetitions, workers.
"""
import urllib.request
import zlib

import bench_common as common

P = common.parameters() if __name__ == "__main__" else None


def task(i):
    with urllib.request.urlopen(f"http://127.0.0.1:{P['port']}/page/{i}", timeout=30) as response:
        return zlib.adler32(response.read())


def main():
    modes, checksum = common.run_task_modes(task, P["requests"], P["workers"], P["repetitions"])
    common.emit(f"{P['requests']} GETs from the same server with urllib.request, a new connection each, "
                f"zlib.adler32 of each body; {P['workers']} workers", modes, checksum)


if __name__ == "__main__":
    main()
