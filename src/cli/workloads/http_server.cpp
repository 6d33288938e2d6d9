// tandem bench: the local HTTP server and client, over cpp-httplib.
#include "http_server.hpp"

#include <fcntl.h>       // FD_CLOEXEC
#include <httplib.h>     // httplib::Server, httplib::Client, httplib::ThreadPool
#include <sys/socket.h>  // listen: a wider backlog

#include <atomic>     // the listener's end
#include <stdexcept>  // std::runtime_error

namespace tandem::cli {

namespace {

// Connections served at once: more than the bench's 16 clients, so that no
// request queues behind another on the server side.
constexpr std::size_t kServerThreads = 48;
// Connections waiting to be accepted. cpp-httplib 0.11 listens with a backlog
// of 5: a burst of 16 connections on a busy machine overflows it, and each
// dropped SYN costs its client a one-second retransmission.
constexpr int kBacklog = 128;

// httplib::Server keeps its socket to itself; the bench needs it to widen
// the backlog and to keep the socket out of the programs it runs.
class Server : public httplib::Server {
public:
    int listening_socket() const noexcept { return svr_sock_; }
};

}  // namespace

std::string page_body(std::size_t n, std::size_t size) {
    std::string body(size, ' ');
    std::uint32_t state = static_cast<std::uint32_t>(n * 2654435761u + 1);
    for (std::size_t i = 0; i < size; ++i) {
        state = state * 1664525u + 1013904223u;
        body[i] = static_cast<char>('a' + (state >> 24) % 26);
    }
    return body;
}

std::string http_get(int port, std::size_t n) {
    httplib::Client client("127.0.0.1", port);
    client.set_keep_alive(false);
    client.set_connection_timeout(std::chrono::seconds(10));
    client.set_read_timeout(std::chrono::seconds(30));
    const auto response = client.Get(("/page/" + std::to_string(n)).c_str());
    if (!response) throw std::runtime_error("GET /page/" + std::to_string(n) + ": " + httplib::to_string(response.error()));
    if (response->status != 200)
        throw std::runtime_error("GET /page/" + std::to_string(n) + ": status " + std::to_string(response->status));
    return response->body;
}

struct LocalServer::Impl {
    Server server;
    std::atomic<bool> finished{false};  // listen_after_bind() returned
};

LocalServer::LocalServer(std::chrono::milliseconds latency, std::size_t page_size) : impl_(std::make_unique<Impl>()) {
    impl_->server.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
    impl_->server.Get(R"(/page/(\d+))", [latency, page_size](const httplib::Request& request, httplib::Response& response) {
        // The remote server's and the network's latency: the client waits for it.
        std::this_thread::sleep_for(latency);
        response.set_content(page_body(std::stoul(request.matches[1].str()), page_size), "text/plain");
    });
    port_ = impl_->server.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("the local HTTP server cannot bind to 127.0.0.1");
    const int socket = impl_->server.listening_socket();
    ::fcntl(socket, F_SETFD, FD_CLOEXEC);
    if (::listen(socket, kBacklog) != 0) throw std::runtime_error("the local HTTP server cannot listen");
    listener_ = std::thread([this] {
        impl_->server.listen_after_bind();
        impl_->finished = true;
    });
    // stop() is a no-op before the server runs, so wait for it to run: a
    // destructor right after construction must not wait forever.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!impl_->server.is_running() && !impl_->finished) {
        if (std::chrono::steady_clock::now() > give_up) break;
        std::this_thread::yield();
    }
    if (!impl_->server.is_running()) {
        impl_->server.stop();
        listener_.join();
        throw std::runtime_error("the local HTTP server did not start");
    }
}

LocalServer::~LocalServer() {
    impl_->server.stop();
    if (listener_.joinable()) listener_.join();
}

}  // namespace tandem::cli
