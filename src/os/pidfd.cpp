// detail/os/pidfd.hpp: pidfd_open and pidfd_send_signal through syscall().
#include "tandem/detail/os/pidfd.hpp"

#include <sys/syscall.h>  // SYS_pidfd_open, SYS_pidfd_send_signal
#include <sys/wait.h>     // CLD_EXITED
#include <unistd.h>       // syscall

#include <cerrno>  // errno

#include "tandem/detail/os/system_error.hpp"  // throw_errno

namespace tandem::detail {

int pidfd_open(pid_t pid) noexcept { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0u)); }

int pidfd_send_signal(int pidfd, int signal_number) noexcept {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signal_number, nullptr, 0u));
}

UniqueFd open_pidfd(pid_t pid) {
    const int fd = pidfd_open(pid);  // always close-on-exec
    if (fd < 0) throw_errno(errno, "pidfd_open");
    return UniqueFd(fd);
}

int exit_code_from(const siginfo_t& info) noexcept {
    return info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
}

}  // namespace tandem::detail
