// The lecture's use case for threads, network access: fetch many URLs from a
// (local, slow) server with a thread pool, handling each page as it arrives
// (as_completed). Waiting does not need a CPU, so 16 threads overlap 16 waits.
//
//     example_fetch_urls [pages]            (default 32)
#include <httplib.h>     // httplib::Server, httplib::Client
#include <sys/socket.h>  // listen: a longer queue of connections

#include <chrono>   // the server's latency, timing
#include <cstdio>   // std::printf
#include <cstdlib>  // std::atoi
#include <string>   // paths and bodies
#include <thread>   // the server's thread
#include <vector>   // futures

#include "tandem/thread_pool_executor.hpp"  // ThreadPoolExecutor
#include "tandem/wait.hpp"                  // as_completed

// cpp-httplib 0.11 queues 5 connections: 16 at once would overflow it (a SYN retried after 1 s).
struct Server : httplib::Server {
    void widen_backlog() const { ::listen(svr_sock_, 64); }
};

int main(int argc, char** argv) {
    const int pages = argc > 1 ? std::atoi(argv[1]) : 32;
    Server server;  // stands for a remote server: each answer takes 50 ms
    server.new_task_queue = [] { return new httplib::ThreadPool(16); };  // serves 16 clients at once
    server.Get(R"(/page/(\d+))", [](const httplib::Request& request, httplib::Response& response) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        response.set_content("page " + request.matches[1].str(), "text/plain");
    });
    const int port = server.bind_to_any_port("127.0.0.1");
    server.widen_backlog();
    std::thread listener([&server] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::yield();

    const auto start = std::chrono::steady_clock::now();
    std::size_t bytes = 0;
    {
        tandem::ThreadPoolExecutor pool(16);
        std::vector<tandem::Future<std::string>> downloads;
        for (int i = 0; i < pages; ++i) {
            downloads.push_back(pool.submit([port, i] {
                httplib::Client client("127.0.0.1", port);
                auto response = client.Get("/page/" + std::to_string(i));
                return response ? response->body : std::string();
            }));
        }
        for (const auto& done : tandem::as_completed(downloads)) bytes += done.result().size();  // in arrival order
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%d pages (%zu bytes) in %.2f s with 16 threads; one after another: %.2f s\n", pages, bytes,
                seconds, pages * 0.05);
    server.stop();
    listener.join();
    return bytes > 0 ? 0 : 1;
}
