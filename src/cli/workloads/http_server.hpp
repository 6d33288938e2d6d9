// tandem bench: the local HTTP server of workload 3 (cpp-httplib). It stands
// for a remote server: each GET /page/<n> is answered after a fixed latency
// (the network's and the server's time, which the client can only wait for)
// with a deterministic page of a fixed size.
#pragma once

#include <chrono>   // the latency
#include <cstddef>  // page size
#include <cstdint>  // checksums
#include <memory>   // the server behind a pointer (httplib stays out of this header)
#include <string>   // pages
#include <thread>   // the listening thread

namespace tandem::cli {

/// The body of page `n`: `size` bytes, the same for the server and its
/// clients to check against.
std::string page_body(std::size_t n, std::size_t size);

/// GET http://127.0.0.1:<port>/page/<n> with a fresh connection (as a script
/// fetching URLs does); returns the body. Throws std::runtime_error on any
/// failure or a status other than 200.
std::string http_get(int port, std::size_t n);

/// A server on 127.0.0.1 at a port the kernel picks, listening from
/// construction to destruction.
class LocalServer {
public:
    /// Starts listening. Throws std::runtime_error if it cannot bind.
    LocalServer(std::chrono::milliseconds latency, std::size_t page_size);
    LocalServer(const LocalServer&) = delete;
    LocalServer& operator=(const LocalServer&) = delete;
    /// Stops listening and joins the server's threads: the port is closed.
    ~LocalServer();

    int port() const noexcept { return port_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    int port_ = 0;
    std::thread listener_;
};

}  // namespace tandem::cli
