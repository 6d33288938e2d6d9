// Test support: what a task can do to the pool worker it runs in, as an
// attacker would, with nothing but /proc and the layout of the worker's area
// (task_ring.hpp): find its own area, its event fd and its control socket,
// forge a reply, and wait until the parent's collector has looked. Used by
// the tests that check that nothing a worker writes harms the parent or
// another worker (chaos/test_process_pool_trust.cpp).
//
//     WorkerArea* area = tandem_test::own_area();
//     area->current_task.store(~std::uint64_t{0});                 // a lie
//     tandem_test::wait_for_collector(*area, tandem_test::own_event_fd(), 10s);
#pragma once

#include <dirent.h>     // /proc/self/fd
#include <poll.h>       // waiting for the control socket
#include <sys/ioctl.h>  // FIONREAD
#include <unistd.h>     // readlink, write

#include <chrono>   // bounds
#include <cstddef>  // std::byte
#include <cstdint>  // task ids
#include <cstdio>   // std::sscanf, std::snprintf
#include <cstring>  // std::memcpy
#include <fstream>  // /proc/self/maps
#include <span>     // payloads
#include <string>   // names
#include <thread>   // std::this_thread::yield
#include <vector>   // mappings, descriptors

#include "tandem/detail/process_pool/task_ring.hpp"  // WorkerArea, SlotHeader, Carrier

namespace tandem_test {

struct Mapping {
    unsigned long start = 0;
    unsigned long end = 0;
    std::string name;
};

/// This process's mappings whose name contains `part` (/proc/self/maps).
inline std::vector<Mapping> mappings_named(const std::string& part) {
    std::vector<Mapping> found;
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        const auto at = line.find(part);
        if (at == std::string::npos) continue;
        Mapping mapping;
        std::sscanf(line.c_str(), "%lx-%lx", &mapping.start, &mapping.end);
        mapping.name = line.substr(line.find('/'));
        found.push_back(mapping);
    }
    return found;
}

/// The descriptors of this process whose target (/proc/self/fd) contains `part`.
inline std::vector<int> fds_linked_to(const std::string& part) {
    std::vector<int> found;
    DIR* directory = ::opendir("/proc/self/fd");
    if (directory == nullptr) return found;
    const int own = ::dirfd(directory);
    while (const dirent* entry = ::readdir(directory)) {
        if (entry->d_name[0] == '.') continue;
        const int fd = std::stoi(entry->d_name);
        if (fd == own) continue;
        char target[256] = {};
        const std::string path = std::string("/proc/self/fd/") + entry->d_name;
        if (::readlink(path.c_str(), target, sizeof target - 1) < 0) continue;
        if (std::string(target).find(part) != std::string::npos) found.push_back(fd);
    }
    ::closedir(directory);
    return found;
}

/// The worker's own area: its one mapping of a worker region; nullptr if it
/// has none or several.
inline tandem::detail::process_pool::WorkerArea* own_area() {
    const auto areas = mappings_named("memfd:tandem:pool-worker");
    if (areas.size() != 1) return nullptr;
    return reinterpret_cast<tandem::detail::process_pool::WorkerArea*>(areas.front().start);
}

/// The worker's event fd: its one eventfd; -1 if it has none or several.
inline int own_event_fd() {
    const auto found = fds_linked_to("[eventfd]");
    return found.size() == 1 ? found.front() : -1;
}

/// The worker's control socket: the socket on which bytes arrive while the
/// task runs (the parent sends the memfd of a task with a large argument,
/// queued behind this one, on it); -1 if none does within `limit`.
inline int control_socket(std::chrono::milliseconds limit) {
    std::vector<pollfd> sockets;
    for (int fd : fds_linked_to("socket:")) sockets.push_back({fd, POLLIN, 0});
    if (sockets.empty()) return -1;
    if (::poll(sockets.data(), sockets.size(), static_cast<int>(limit.count())) <= 0) return -1;
    for (const pollfd& entry : sockets) {
        int waiting = 0;
        if ((entry.revents & POLLIN) != 0 && ::ioctl(entry.fd, FIONREAD, &waiting) == 0 && waiting > 0) return entry.fd;
    }
    return -1;
}

/// Publishes, in `area`'s reply ring, a reply for the task the worker runs
/// now with `carrier` and `payload`, and wakes the collector. The worker's
/// own count of replies is behind the ring's from now on, so it exits
/// (kCorruptRingStatus) instead of publishing the real reply.
inline void forge_reply(tandem::detail::process_pool::WorkerArea& area, tandem::detail::process_pool::Carrier carrier,
                        std::span<const std::byte> payload, int event_fd) {
    using namespace tandem::detail::process_pool;
    const std::uint64_t head = area.replies.head.load();
    std::byte* slot = area.replies.slots[head % kRingSlots];
    const SlotHeader header{area.current_task.load(), MessageKind::result, carrier,
                            static_cast<std::uint32_t>(payload.size())};
    std::memcpy(slot, &header, sizeof header);
    std::memcpy(slot + sizeof header, payload.data(), payload.size());
    area.replies.head.store(head + 1);
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(event_fd, &one, sizeof one);
}

/// Returns true once the parent's collector has gone through its loop (and
/// so looked at everything in the area) at least once after this call: it
/// raises the area's sleep flag at the end of each round, so two rounds,
/// each started by clearing the flag and writing the event fd, are enough.
/// False if that takes longer than `limit`.
inline bool wait_for_collector(tandem::detail::process_pool::WorkerArea& area, int event_fd,
                               std::chrono::milliseconds limit) {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    for (int round = 0; round < 2; ++round) {
        area.collector_sleeping.store(0);
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto written = ::write(event_fd, &one, sizeof one);
        while (area.collector_sleeping.load() == 0) {
            if (std::chrono::steady_clock::now() > give_up) return false;
            std::this_thread::yield();
        }
    }
    return true;
}

}  // namespace tandem_test
