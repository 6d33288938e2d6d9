// Test support for MPI tests: a gate that tasks on other ranks wait on — the
// existence of a file, since a rank shares no memory with the root but does
// share the file system (also across the namespaces of tests/mpi/netns.sh).
// Both sides wait bounded: a broken test fails instead of hanging.
//
//     FileGate gate;                                  // on the root, before the pool: the
//     tandem::mpi::PoolExecutor pool;                 //   pool's shutdown waits for the tasks
//     auto opener = gate.opener();                    // opens on scope exit, even on failure
//     auto f = pool.submit(held_task, gate.path());   // the task calls wait_for_file(path)
//     gate.open();
#pragma once

#include <fcntl.h>   // open(O_CREAT)
#include <stdlib.h>  // mkdtemp
#include <time.h>    // nanosleep
#include <unistd.h>  // close, unlink, rmdir, access

#include <chrono>  // the bound
#include <memory>  // opener()
#include <string>  // the path

namespace tandem_test {

/// Waits until `path` exists, polling every millisecond, for at most `limit`;
/// true if it appeared.
inline bool wait_for_file(const std::string& path, std::chrono::seconds limit = std::chrono::seconds(20)) {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    while (::access(path.c_str(), F_OK) != 0) {
        if (std::chrono::steady_clock::now() > give_up) return false;
        const timespec pause{0, 1'000'000};
        ::nanosleep(&pause, nullptr);
    }
    return true;
}

class FileGate {
public:
    FileGate() {
        char pattern[] = "/tmp/tandem-mpi-gate.XXXXXX";
        if (::mkdtemp(pattern) != nullptr) directory_ = pattern;
        path_ = directory_ + "/open";
    }
    FileGate(const FileGate&) = delete;
    FileGate& operator=(const FileGate&) = delete;
    ~FileGate() {
        ::unlink(path_.c_str());
        ::rmdir(directory_.c_str());
    }
    const std::string& path() const noexcept { return path_; }
    void open() {
        const int fd = ::open(path_.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (fd >= 0) ::close(fd);
    }
    /// Opens the gate when it goes out of scope.
    [[nodiscard]] auto opener() {
        return std::unique_ptr<FileGate, void (*)(FileGate*)>(this, [](FileGate* gate) { gate->open(); });
    }

private:
    std::string directory_;
    std::string path_;
};

}  // namespace tandem_test
