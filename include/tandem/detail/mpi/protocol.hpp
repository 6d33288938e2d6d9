// Internal: what the root and the serving ranks of an mpi::PoolExecutor say
// to each other, and how a received message is sized.
//
// Every message travels on the executor's own duplicate of the user's
// communicator, so no tag can meet the program's own traffic. The message
// *is* the payload, with no header of ours: the tag says what it is, and the
// order says which task it answers (a serving rank runs its tasks one at a
// time, in the order they came, and MPI keeps the messages between two ranks
// in order), so a call is sent straight from the buffer encode_call filled
// and a result straight from the one the task's trampoline returned.
//
//   root -> rank   kCallTag    an encoded call (detail/wire/remote_call.hpp)
//   root -> rank   kStopTag    empty: leave the serving loop
//   rank -> root   kResultTag  the encoded result of the oldest call it was sent
//   rank -> root   kRaisedTag  the encoded exception of that call
//
// A message is received into a buffer sized from MPI_Improbe + MPI_Get_count,
// after checking that size against kMaxMessageBytes: a peer is still a peer.
#pragma once

#include <mpi.h>  // MPI_Comm, MPI_Status

#include <climits>  // INT_MAX
#include <cstddef>  // std::size_t
#include <string>   // messages

namespace tandem::detail::mpi {

inline constexpr int kCallTag = 1;
inline constexpr int kStopTag = 2;
inline constexpr int kResultTag = 3;
inline constexpr int kRaisedTag = 4;

/// The largest message: one MPI_Send of MPI_BYTE counts in an int.
inline constexpr std::size_t kMaxMessageBytes = INT_MAX;

/// Receive buffers are kept for the next message up to this size (as a
/// process pool keeps its spill buffers, detail/process_pool/spill.hpp):
/// a stream of large messages then costs no fresh memory each, whose page
/// faults and zeroing cost more than the transfer itself.
inline constexpr std::size_t kKeptBufferBytes = std::size_t{512} << 20;

/// The exit status MPI_Abort gets when a rank breaks the protocol.
inline constexpr int kProtocolErrorStatus = 70;

/// The byte count of a probed message (an int, so at most kMaxMessageBytes).
/// Calls abort_job, naming the rank, if MPI reports no count.
std::size_t probed_size(MPI_Comm comm, const MPI_Status& status);

/// The count to pass MPI for a message of `size` bytes. Throws ValueError
/// past kMaxMessageBytes, naming `what` was too large.
int message_count(std::size_t size, const char* what);

/// Writes "tandem::mpi: <message>" as one line to stderr and ends the whole
/// job with MPI_Abort: Open MPI cannot go on without a rank, and a rank that
/// breaks the protocol can no longer be trusted.
[[noreturn]] void abort_job(MPI_Comm comm, const std::string& message) noexcept;

}  // namespace tandem::detail::mpi
