// The descriptors a process pool keeps from the workers it forks. See
// tandem/detail/process_pool/private_fds.hpp.
#include "tandem/detail/process_pool/private_fds.hpp"

#include <pthread.h>  // pthread_atfork
#include <unistd.h>   // close

#include <algorithm>  // std::find
#include <new>        // placement new of a fresh start lock in a child
#include <vector>     // the list

namespace tandem::detail::process_pool {
namespace {

struct Registry {
    // Two start locks, one in use: a child forked while another thread of
    // its parent held the one in use switches to the other (reset), since it
    // can neither unlock a lock another thread owns nor wait for it.
    std::mutex starts[2];
    int current_start = 0;
    std::mutex list_mutex;  // guards `listed`; held across every fork()
    std::vector<int> listed;
};

Registry* registry_pointer = nullptr;

void before_fork() noexcept { registry_pointer->list_mutex.lock(); }
void after_fork_in_parent() noexcept { registry_pointer->list_mutex.unlock(); }
void after_fork_in_child() noexcept {
    Registry& registry = *registry_pointer;
    for (const int fd : registry.listed) ::close(fd);
    registry.listed.clear();
    registry.current_start = 1 - registry.current_start;
    new (&registry.starts[registry.current_start]) std::mutex;
    registry.list_mutex.unlock();  // locked by before_fork on this very thread
}

void erase_locked(Registry& all, int fd) noexcept {
    const auto found = std::find(all.listed.begin(), all.listed.end(), fd);
    if (found != all.listed.end()) all.listed.erase(found);
}

Registry& registry() {
    // Never destroyed: pools with static storage may close descriptors after
    // it would have been.
    static Registry* const made = [] {
        registry_pointer = new Registry;
        pthread_atfork(&before_fork, &after_fork_in_parent, &after_fork_in_child);
        return registry_pointer;
    }();
    return *made;
}

}  // namespace

std::unique_lock<std::mutex> hold_worker_starts() {
    Registry& all = registry();
    return std::unique_lock(all.starts[all.current_start]);
}

void list_fd(int fd) {
    Registry& all = registry();
    const std::lock_guard guard(all.list_mutex);
    all.listed.push_back(fd);
}

void unlist_fd(int fd) noexcept {
    Registry& all = registry();
    const std::lock_guard guard(all.list_mutex);
    erase_locked(all, fd);
}

PrivateFd::PrivateFd(UniqueFd fd) {
    list_fd(fd.get());
    fd_ = fd.release();
}

PrivateFd& PrivateFd::operator=(PrivateFd&& other) noexcept {
    if (this != &other) {
        reset();
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

void PrivateFd::reset() noexcept {
    if (fd_ < 0) return;
    Registry& all = registry();
    const std::lock_guard guard(all.list_mutex);
    erase_locked(all, fd_);
    ::close(fd_);
    fd_ = -1;
}

}  // namespace tandem::detail::process_pool
