// Internal: how values become bytes for another process, and back.
//
// The codec is chosen at compile time from the type alone, so sender and
// receiver (the same build, checked at connect) always agree on the layout:
//
//   raw     trivially copyable T: its sizeof(T) bytes, memcpy'd. No cereal,
//           no iostream, no allocation beyond the output buffer. Such a T
//           must not hold pointers, which cannot be detected. Excluded: types
//           with a cereal serialize/save member (the type asked for it), and
//           std::optional / std::variant (their flag is checked by cereal).
//   range   a contiguous range of raw elements (std::vector<int>, std::string,
//           std::span, std::string_view): a u64 element count + the bytes.
//           Spans and string views encode only; decode into vector / string.
//   tuple   std::tuple and std::pair: the elements one after another, each by
//           its own codec (a task's arguments travel as one tuple).
//   cereal  everything else, through a binary cereal archive that writes
//           straight into the output buffer: user types with a cereal
//           serialize()/save()/load(), std containers, optional, variant,
//           smart pointers... (the cereal type headers are included here).
//
// Decoding trusts nothing it reads. Every read is bounds-checked, a range
// count is checked against the bytes left before anything is allocated, and
// so is every cereal size tag (cereal itself would resize a vector to any
// size it reads: cereal#103): against the bytes its elements need at least,
// and against the message's allocation budget (decode_limits.hpp says how
// both are computed). So a crafted payload can make decode() allocate at
// most 32 MiB plus 16 times its own size. A container may not hold more
// elements than bytes follow its count, which only matters for elements that
// encode to nothing (empty structs). Bools are checked to be 0 or 1, cereal
// nesting is limited to kMaxNesting levels (a recursion bomb cannot overflow
// the stack), and bytes left after the value are an error. Every such
// failure is a FrameError.
//
//     std::vector<std::byte> bytes = encode(std::tuple(1, std::string("two"), 3.0));
//     auto [a, b, c] = decode<std::tuple<int, std::string, double>>(bytes);
#pragma once

#include <algorithm>    // std::min for the decoding budget
#include <array>        // raw values are read through a byte array
#include <bit>          // std::bit_cast for raw values
#include <cstddef>      // std::byte, std::size_t
#include <cstdint>      // std::uint64_t counts, SIZE_MAX
#include <cstdlib>      // std::free for the demangled name, std::abort
#include <cstring>      // std::memcpy
#include <cxxabi.h>     // abi::__cxa_demangle for type names in messages
#include <functional>   // std::reference_wrapper (rejected: it is a pointer)
#include <memory>       // std::unique_ptr for the demangled name
#include <optional>     // the archive of an encode/decode call, made on first use
#include <ranges>       // contiguous ranges, views
#include <span>         // byte views
#include <string>       // messages
#include <sys/mman.h>   // madvise: huge pages for large buffers
#include <tuple>        // tuples of arguments
#include <type_traits>  // codec selection
#include <typeinfo>     // typeid for type names
#include <utility>      // std::pair, index sequences, std::exchange
#include <variant>      // std::variant is not sent as raw bytes
#include <vector>       // the output buffer

#include <cereal/cereal.hpp>               // archives, traits, size tags
#include <cereal/types/array.hpp>          // std::array of non-raw elements
#include <cereal/types/base_class.hpp>     // cereal::base_class for user hierarchies
#include <cereal/types/bitset.hpp>         // std::bitset
#include <cereal/types/chrono.hpp>         // durations and time points
#include <cereal/types/complex.hpp>        // std::complex
#include <cereal/types/deque.hpp>          // std::deque
#include <cereal/types/forward_list.hpp>   // std::forward_list
#include <cereal/types/list.hpp>           // std::list
#include <cereal/types/map.hpp>            // std::map, std::multimap
#include <cereal/types/memory.hpp>         // std::unique_ptr, std::shared_ptr
#include <cereal/types/optional.hpp>       // std::optional
#include <cereal/types/set.hpp>            // std::set, std::multiset
#include <cereal/types/string.hpp>         // std::string inside containers
#include <cereal/types/tuple.hpp>          // std::tuple inside containers
#include <cereal/types/unordered_map.hpp>  // std::unordered_map
#include <cereal/types/unordered_set.hpp>  // std::unordered_set
#include <cereal/types/utility.hpp>        // std::pair inside containers
#include <cereal/types/variant.hpp>        // std::variant
#include <cereal/types/vector.hpp>         // std::vector of non-raw elements

#include "tandem/detail/wire/decode_limits.hpp"  // container_cost, the allocation budget
#include "tandem/errors.hpp"                     // FrameError, ValueError

namespace tandem::detail {

/// Deepest nesting of cereal-encoded values (each struct, container or member
/// is one level). Python's pickle fails on deep recursion too; here encode()
/// throws ValueError and decode() FrameError instead of exhausting the stack.
inline constexpr std::size_t kMaxNesting = 1000;

/// The readable name of a type, for error messages.
inline std::string demangle(const char* mangled) {
    int status = 0;
    const std::unique_ptr<char, void (*)(void*)> readable(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                                          std::free);
    return status == 0 && readable ? std::string(readable.get()) : std::string(mangled);
}

template <class T>
std::string type_name() {
    return demangle(typeid(T).name());
}

/// Asks for transparent huge pages under a large buffer that is about to be
/// written for the first time (as NumPy does for large arrays): touching
/// fresh memory then faults once per 2 MiB instead of once per 4 KiB, which
/// on a VM costs several times the copy itself. Only whole 2 MiB pages
/// inside the buffer are advised; where the kernel offers no huge pages
/// this does nothing.
inline void advise_huge_pages(const void* data, std::size_t bytes) noexcept {
    constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
    if (bytes < 2 * kHugePage) return;
    const auto start = (reinterpret_cast<std::uintptr_t>(data) + kHugePage - 1) & ~(kHugePage - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(kHugePage - 1);
    if (end > start) static_cast<void>(::madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE));
}

/// vector::reserve, with huge pages advised when the new buffer is large.
template <class T>
void reserve_fresh(std::vector<T>& buffer, std::size_t count) {
    if (count <= buffer.capacity()) return;
    buffer.reserve(count);
    advise_huge_pages(buffer.data(), buffer.capacity() * sizeof(T));
}

inline void append_bytes(std::vector<std::byte>& out, const void* data, std::size_t size) {
    // insert(), not resize() + memcpy: resize() would zero the bytes first,
    // one more pass over a large buffer. g++ 12 reports a false
    // -Wstringop-overflow for insert() of a range into an empty vector.
    if (size == 0) return;
    const auto* first = static_cast<const std::byte*>(data);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
    out.insert(out.end(), first, first + size);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
}

/// Bounds-checked reading from a received payload.
class ByteReader {
public:
    explicit ByteReader(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}

    std::size_t remaining() const noexcept { return bytes_.size() - position_; }
    /// All the bytes, read or not.
    std::size_t size() const noexcept { return bytes_.size(); }

    /// Copies the next `size` bytes to `out`; FrameError if fewer are left.
    void read(void* out, std::size_t size) {
        if (size > remaining()) throw_truncated(size, remaining());
        if (size != 0) std::memcpy(out, bytes_.data() + position_, size);
        position_ += size;
    }

    /// The next `size` bytes, in place; FrameError if fewer are left.
    std::span<const std::byte> take(std::size_t size) {
        if (size > remaining()) throw_truncated(size, remaining());
        const auto taken = bytes_.subspan(position_, size);
        position_ += size;
        return taken;
    }

    /// FrameError unless `count` elements of at least `element_size` bytes
    /// each can still follow; called before anything is allocated for them.
    void check_count(std::uint64_t count, std::size_t element_size) const {
        if (count > remaining() / element_size) throw_bad_count(count, remaining());
    }

private:
    // Out of line so that the checks stay small enough to inline.
    [[noreturn, gnu::cold, gnu::noinline]] static void throw_truncated(std::size_t size, std::size_t left) {
        throw FrameError("truncated value: " + std::to_string(size) + " more bytes needed, " + std::to_string(left) +
                         " left");
    }
    [[noreturn, gnu::cold, gnu::noinline]] static void throw_bad_count(std::uint64_t count, std::size_t left) {
        throw FrameError("corrupted value: a count of " + std::to_string(count) + " elements exceeds the " +
                         std::to_string(left) + " bytes left");
    }

    std::span<const std::byte> bytes_;
    std::size_t position_ = 0;
};

// --- cereal archives over our buffers ---------------------------------------
// The same layout as cereal's BinaryArchive (native endianness, u64 sizes),
// without an iostream in between, with every size checked and nesting bounded.

class CerealWriter : public cereal::OutputArchive<CerealWriter, cereal::AllowEmptyClassElision> {
public:
    explicit CerealWriter(std::vector<std::byte>& out)
        : cereal::OutputArchive<CerealWriter, cereal::AllowEmptyClassElision>(this), out_(out) {}

    void saveBinary(const void* data, std::size_t size) { append_bytes(out_, data, size); }

    void enter() {
        if (++depth_ > kMaxNesting) {
            throw ValueError("cannot encode a value nested deeper than " + std::to_string(kMaxNesting) + " levels");
        }
    }
    void leave() noexcept { --depth_; }

private:
    std::vector<std::byte>& out_;
    std::size_t depth_ = 0;
};

class CerealReader : public cereal::InputArchive<CerealReader, cereal::AllowEmptyClassElision> {
public:
    explicit CerealReader(ByteReader& in)
        : cereal::InputArchive<CerealReader, cereal::AllowEmptyClassElision>(this),
          in_(in),
          budget_(kDecodeBudgetFloor + std::min(in.size(), SIZE_MAX / 2 / kDecodeBudgetPerByte) * kDecodeBudgetPerByte) {}

    void loadBinary(void* data, std::size_t size) { in_.read(data, size); }

    /// The cost of the elements whose count comes next: set by the prologue
    /// of every value (a container's, or the unknown cost for the rest), so
    /// that a size tag is checked for the container it belongs to.
    void expect_elements(ElementCost cost) noexcept { expected_ = cost; }

    /// Checks a size tag just read, before cereal allocates for it.
    void check_count(std::uint64_t count) {
        const ElementCost cost = std::exchange(expected_, ElementCost{});
        in_.check_count(count, cost.min_encoded);
        if (count > budget_ / cost.footprint) {
            throw FrameError("corrupted value: a container of " + std::to_string(count) +
                             " elements would take more memory than the message may (" + std::to_string(budget_) +
                             " bytes left of its decoding budget)");
        }
        budget_ -= static_cast<std::size_t>(count) * cost.footprint;
    }

    void enter() {
        if (++depth_ > kMaxNesting) {
            throw FrameError("corrupted value: nested deeper than " + std::to_string(kMaxNesting) + " levels");
        }
    }
    void leave() noexcept { --depth_; }

private:
    ByteReader& in_;
    std::size_t depth_ = 0;
    std::size_t budget_;
    ElementCost expected_;
};

// Found by argument-dependent lookup from cereal's dispatch, like the
// functions cereal's binary archive defines for itself.

template <class T>
void prologue(CerealWriter& ar, const T&) {
    ar.enter();
}
template <class T>
void epilogue(CerealWriter& ar, const T&) noexcept {
    ar.leave();
}
template <class T>
void prologue(CerealReader& ar, const T&) {
    ar.enter();
    // A number is a leaf (or the count itself, read inside the size tag).
    if constexpr (!std::is_arithmetic_v<T>) ar.expect_elements(container_cost<T>());
}
// A container's own size tag keeps what its container's prologue expected.
template <class T>
void prologue(CerealReader& ar, const cereal::SizeTag<T>&) {
    ar.enter();
}
template <class T>
void epilogue(CerealReader& ar, const T&) noexcept {
    ar.leave();
}

template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_SAVE_FUNCTION_NAME(CerealWriter& ar, const T& value) {
    ar.saveBinary(std::addressof(value), sizeof(T));
}

template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_LOAD_FUNCTION_NAME(CerealReader& ar, T& value) {
    if constexpr (std::is_same_v<T, bool>) {
        // Any byte but 0 or 1 in a bool is undefined behaviour once read.
        unsigned char byte = 0;
        ar.loadBinary(&byte, 1);
        if (byte > 1) throw FrameError("corrupted value: bool byte " + std::to_string(byte));
        value = byte != 0;
    } else {
        ar.loadBinary(std::addressof(value), sizeof(T));
    }
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(CerealWriter& ar, const cereal::NameValuePair<T>& pair) {
    ar(pair.value);
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(CerealReader& ar, cereal::NameValuePair<T>& pair) {
    ar(pair.value);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(CerealWriter& ar, const cereal::SizeTag<T>& tag) {
    ar(tag.size);
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(CerealReader& ar, cereal::SizeTag<T>& tag) {
    ar(tag.size);
    // cereal allocates `size` elements right after reading the tag.
    ar.check_count(static_cast<std::uint64_t>(tag.size));
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(CerealWriter& ar, const cereal::BinaryData<T>& data) {
    ar.saveBinary(data.data, static_cast<std::size_t>(data.size));
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(CerealReader& ar, cereal::BinaryData<T>& data) {
    ar.loadBinary(data.data, static_cast<std::size_t>(data.size));
}

}  // namespace tandem::detail

CEREAL_REGISTER_ARCHIVE(tandem::detail::CerealWriter)
CEREAL_REGISTER_ARCHIVE(tandem::detail::CerealReader)
CEREAL_SETUP_ARCHIVE_TRAITS(tandem::detail::CerealReader, tandem::detail::CerealWriter)

namespace tandem::detail {

// --- codec selection ----------------------------------------------------------

enum class Codec {
    raw,
    range,
    tuple,
    cereal,
    // Not serializable, each with its own diagnostic:
    pointer,      // raw pointers, member pointers, functions, reference_wrapper
    closure,      // capturing lambdas
    unsupported,  // neither trivially copyable nor known to cereal
};

template <class T>
inline constexpr bool is_tuple_like_v = false;
template <class... Ts>
inline constexpr bool is_tuple_like_v<std::tuple<Ts...>> = true;
template <class A, class B>
inline constexpr bool is_tuple_like_v<std::pair<A, B>> = true;

template <class T>
inline constexpr bool is_reference_wrapper_v = false;
template <class T>
inline constexpr bool is_reference_wrapper_v<std::reference_wrapper<T>> = true;

/// An address means nothing in another process.
template <class T>
inline constexpr bool is_pointer_like_v =
    std::is_pointer_v<std::remove_all_extents_t<T>> || std::is_member_pointer_v<std::remove_all_extents_t<T>> ||
    std::is_function_v<T> || std::is_null_pointer_v<T> || is_reference_wrapper_v<std::remove_all_extents_t<T>>;

/// Optional and variant hold a flag or index that must be valid; cereal
/// checks it, raw bytes would not.
template <class T>
inline constexpr bool is_checked_sum_type_v = false;
template <class T>
inline constexpr bool is_checked_sum_type_v<std::optional<T>> = true;
template <class... Ts>
inline constexpr bool is_checked_sum_type_v<std::variant<Ts...>> = true;

/// A type that says how it is serialized (versioning, a pointer member to
/// skip) is serialized that way even if it is trivially copyable. Only member
/// functions count: cereal's free functions for std::array, std::complex,
/// durations... would only reproduce the raw bytes more slowly.
template <class T>
inline constexpr bool has_cereal_member_v =
    cereal::traits::has_member_serialize<T, CerealWriter>::value ||
    cereal::traits::has_member_versioned_serialize<T, CerealWriter>::value ||
    cereal::traits::has_member_save<T, CerealWriter>::value ||
    cereal::traits::has_member_versioned_save<T, CerealWriter>::value ||
    cereal::traits::has_member_save_minimal<T, CerealWriter>::value ||
    cereal::traits::has_member_versioned_save_minimal<T, CerealWriter>::value;

/// A capturing lambda's closure type (C++20): a class that is not an
/// aggregate and can be neither default-constructed nor assigned. A value
/// type with those properties could not be loaded by cereal either.
template <class T>
inline constexpr bool is_closure_like_v = std::is_class_v<T> && !std::is_aggregate_v<T> &&
                                          !std::is_default_constructible_v<T> && !std::is_copy_assignable_v<T>;

template <class T>
consteval Codec codec_of();

template <class T>
concept RawRange =
    std::ranges::contiguous_range<const T> && std::ranges::sized_range<const T> &&
    (!std::is_trivially_copyable_v<T> || std::ranges::view<T>) &&
    codec_of<std::remove_cv_t<std::ranges::range_value_t<const T>>>() == Codec::raw;

/// A RawRange that decode() can build: an owning, resizable container.
template <class T>
concept DecodableRawRange = RawRange<T> && !std::ranges::view<T> && std::default_initializable<T> &&
                            requires(T& range, std::size_t n) {
                                range.resize(n);
                                { range.data() } -> std::same_as<std::ranges::range_value_t<T>*>;
                            };

template <class T>
consteval Codec codec_of() {
    if constexpr (is_pointer_like_v<T>) return Codec::pointer;
    else if constexpr (is_tuple_like_v<T>) return Codec::tuple;
    else if constexpr (std::is_class_v<T> && RawRange<T>) return Codec::range;
    else if constexpr (is_closure_like_v<T>) return Codec::closure;
    else if constexpr (std::is_trivially_copyable_v<T> && !std::ranges::view<T> && !is_checked_sum_type_v<T> &&
                       !has_cereal_member_v<T>)
        return Codec::raw;
    else if constexpr (cereal::traits::is_output_serializable<T, CerealWriter>::value) return Codec::cereal;
    else return Codec::unsupported;
}

template <class T>
struct IsEncodable : std::bool_constant<codec_of<T>() == Codec::raw || codec_of<T>() == Codec::range ||
                                        codec_of<T>() == Codec::cereal> {};
template <class... Ts>
struct IsEncodable<std::tuple<Ts...>> : std::bool_constant<(IsEncodable<std::remove_cvref_t<Ts>>::value && ...)> {};
template <class A, class B>
struct IsEncodable<std::pair<A, B>>
    : std::bool_constant<IsEncodable<std::remove_cvref_t<A>>::value && IsEncodable<std::remove_cvref_t<B>>::value> {};

template <class T>
consteval bool decodable_leaf() {
    constexpr Codec codec = codec_of<T>();
    if constexpr (codec == Codec::raw) return !std::is_array_v<T>;
    else if constexpr (codec == Codec::range) return DecodableRawRange<T>;
    else if constexpr (codec == Codec::cereal)
        return std::default_initializable<T> && cereal::traits::is_input_serializable<T, CerealReader>::value;
    else return false;
}

/// How a task's std::span<const T> parameter (T raw) is decoded in the
/// process that runs the task: a view of the received bytes themselves, in
/// the call's message (in a pool worker: the request slot or spill buffer in
/// shared memory), when they are aligned for T, else a private copy. Valid
/// while the message is: for a task, until it returns.
template <class T>
class ReceivedSpan {
public:
    ReceivedSpan() = default;
    explicit ReceivedSpan(std::span<const T> in_place) noexcept : view_(in_place) {}
    explicit ReceivedSpan(std::vector<T> copy) noexcept : copy_(std::move(copy)), view_(copy_) {}
    // A vector's move keeps its buffer, so the view stays valid either way.
    ReceivedSpan(ReceivedSpan&& other) noexcept : copy_(std::move(other.copy_)), view_(other.view_) {}
    ReceivedSpan(const ReceivedSpan&) = delete;
    ReceivedSpan& operator=(const ReceivedSpan&) = delete;
    ReceivedSpan& operator=(ReceivedSpan&&) = delete;

    std::span<const T> view() const noexcept { return view_; }
    /// Whether the bytes are read where they arrived (no copy was made).
    bool in_place() const noexcept { return copy_.empty(); }

private:
    std::vector<T> copy_;
    std::span<const T> view_;
};

template <class T>
inline constexpr bool is_received_span_v = false;
template <class T>
inline constexpr bool is_received_span_v<ReceivedSpan<T>> = true;

template <class T>
struct IsDecodable : std::bool_constant<decodable_leaf<T>()> {};
template <class T>
struct IsDecodable<ReceivedSpan<T>> : std::bool_constant<codec_of<T>() == Codec::raw> {};
template <class... Ts>
struct IsDecodable<std::tuple<Ts...>>
    : std::bool_constant<((!std::is_reference_v<Ts> && IsDecodable<std::remove_cv_t<Ts>>::value) && ...)> {};
template <class A, class B>
struct IsDecodable<std::pair<A, B>>
    : std::bool_constant<!std::is_reference_v<A> && !std::is_reference_v<B> &&
                         IsDecodable<std::remove_cv_t<A>>::value && IsDecodable<std::remove_cv_t<B>>::value> {};

// --- diagnostics --------------------------------------------------------------
// Instantiated by encode()/decode() so that a type that cannot travel fails
// to compile with a message saying why; the compiler's "in instantiation of
// EncodableCheck<T>" line names the offending type (the element, for tuples).

template <class T>
struct EncodableCheck {
    static constexpr Codec codec = codec_of<T>();
    static_assert(codec != Codec::pointer,
                  "tandem: a pointer, function or reference_wrapper cannot be sent to another process: the "
                  "address means nothing there. Send the value it points to.");
    static_assert(codec != Codec::closure,
                  "tandem: a capturing lambda cannot be sent to another process. Pass the captured values as "
                  "arguments, or use a plain function or a lambda without captures.");
    static_assert(codec != Codec::unsupported,
                  "tandem: this type cannot be sent to another process: it is not trivially copyable and cereal "
                  "cannot serialize it. Give it a cereal serialize(Archive&) member or save()/load() functions.");
    static constexpr bool value = IsEncodable<T>::value;
};
template <class... Ts>
struct EncodableCheck<std::tuple<Ts...>> {
    static constexpr bool value = (EncodableCheck<std::remove_cvref_t<Ts>>::value && ...);
};
template <class A, class B>
struct EncodableCheck<std::pair<A, B>> {
    static constexpr bool value =
        EncodableCheck<std::remove_cvref_t<A>>::value && EncodableCheck<std::remove_cvref_t<B>>::value;
};

template <class T>
struct DecodableCheck {
    static_assert(!std::is_reference_v<T> && !std::is_const_v<T> && !std::is_volatile_v<T>,
                  "tandem: decode<T> needs a plain object type (no reference, const or volatile).");
    static_assert(codec_of<T>() != Codec::raw || !std::is_array_v<T>,
                  "tandem: a C array cannot be returned by value: decode into std::array instead.");
    static_assert(codec_of<T>() != Codec::range || !std::ranges::view<T>,
                  "tandem: std::span and std::string_view only encode (they own nothing): decode into "
                  "std::vector or std::string, which share their encoding.");
    static_assert(codec_of<T>() != Codec::cereal || std::default_initializable<T>,
                  "tandem: cereal default-constructs a value before loading it: give this type a default "
                  "constructor (private is fine with `friend class cereal::access;`).");
    static constexpr bool value = EncodableCheck<std::remove_cvref_t<T>>::value && IsDecodable<T>::value;
};
template <class T>
struct DecodableCheck<ReceivedSpan<T>> {
    static constexpr bool value = IsDecodable<ReceivedSpan<T>>::value;
};
// Tuple elements may be const (they are decoded as their plain type), not references.
template <class T>
using DecodedElement = std::conditional_t<std::is_reference_v<T>, T, std::remove_cv_t<T>>;
template <class... Ts>
struct DecodableCheck<std::tuple<Ts...>> {
    static constexpr bool value = (DecodableCheck<DecodedElement<Ts>>::value && ...);
};
template <class A, class B>
struct DecodableCheck<std::pair<A, B>> {
    static constexpr bool value = DecodableCheck<DecodedElement<A>>::value && DecodableCheck<DecodedElement<B>>::value;
};

// --- encoding -----------------------------------------------------------------

/// Exact size for raw values, ranges and tuples of them; a guess for cereal.
template <class T>
std::size_t encoded_size_hint(const T& value) {
    constexpr Codec codec = codec_of<T>();
    if constexpr (codec == Codec::raw) {
        return sizeof(T);
    } else if constexpr (codec == Codec::range) {
        return sizeof(std::uint64_t) + std::ranges::size(value) * sizeof(std::ranges::range_value_t<const T>);
    } else if constexpr (codec == Codec::tuple) {
        return std::apply(
            [](const auto&... elements) { return (std::size_t{0} + ... + encoded_size_hint(elements)); }, value);
    } else {
        return 64;
    }
}

/// True when encoded_size_hint() is exact and the encoding is plain bytes
/// (raw values, ranges, tuples of them): such a value can be written straight
/// into memory of its exact size (encode_exact), shared memory included.
template <class T>
inline constexpr bool exactly_sized_v = codec_of<T>() == Codec::raw || codec_of<T>() == Codec::range;
template <class... Ts>
inline constexpr bool exactly_sized_v<std::tuple<Ts...>> = (exactly_sized_v<std::remove_cvref_t<Ts>> && ...);
template <class A, class B>
inline constexpr bool exactly_sized_v<std::pair<A, B>> =
    exactly_sized_v<std::remove_cvref_t<A>> && exactly_sized_v<std::remove_cvref_t<B>>;

/// Writes what encode(value) would hold at `out`, which has room for
/// encoded_size_hint(value) bytes; returns the end of what it wrote.
template <class T>
    requires exactly_sized_v<T>
std::byte* encode_exact(std::byte* out, const T& value) noexcept {
    constexpr Codec codec = codec_of<T>();
    if constexpr (codec == Codec::raw) {
        std::memcpy(out, std::addressof(value), sizeof(T));
        return out + sizeof(T);
    } else if constexpr (codec == Codec::range) {
        const auto count = static_cast<std::uint64_t>(std::ranges::size(value));
        const std::size_t bytes = std::ranges::size(value) * sizeof(std::ranges::range_value_t<const T>);
        std::memcpy(out, &count, sizeof count);
        if (bytes != 0) std::memcpy(out + sizeof count, std::ranges::data(value), bytes);
        return out + sizeof count + bytes;
    } else {
        return std::apply([out](const auto&... elements) mutable {
            ((out = encode_exact(out, elements)), ...);
            return out;
        }, value);
    }
}

// One encode or decode call. Every cereal-encoded part of a value (each
// cereal element of a tuple) goes through the same archive, created on first
// use, so shared_ptr identity holds across a task's arguments as it does
// within one pickle.dumps call.
struct EncodeContext {
    std::vector<std::byte>& out;
    std::optional<CerealWriter> archive;
    CerealWriter& cereal() { return archive ? *archive : archive.emplace(out); }
};

struct DecodeContext {
    ByteReader& in;
    std::optional<CerealReader> archive;
    CerealReader& cereal() { return archive ? *archive : archive.emplace(in); }
};

template <class T>
void encode_value(EncodeContext& context, const T& value) {
    constexpr Codec codec = codec_of<T>();
    if constexpr (codec == Codec::raw) {
        append_bytes(context.out, std::addressof(value), sizeof(T));
    } else if constexpr (codec == Codec::range) {
        const auto count = static_cast<std::uint64_t>(std::ranges::size(value));
        append_bytes(context.out, &count, sizeof count);
        append_bytes(context.out, std::ranges::data(value),
                     std::ranges::size(value) * sizeof(std::ranges::range_value_t<const T>));
    } else if constexpr (codec == Codec::tuple) {
        std::apply([&context](const auto&... elements) { (encode_value(context, elements), ...); }, value);
    } else if constexpr (codec == Codec::cereal) {
        context.cereal()(value);
    }
}

template <class T>
T decode_value(DecodeContext& context);

template <class T, std::size_t... I>
T decode_tuple(DecodeContext& context, std::index_sequence<I...>) {
    // A braced list evaluates its elements left to right, in wire order.
    return T{decode_value<std::remove_cv_t<std::tuple_element_t<I, T>>>(context)...};
}

template <class T>
T decode_value(DecodeContext& context) {
    constexpr Codec codec = codec_of<T>();
    if constexpr (is_received_span_v<T>) {
        // A range's encoding (std::span encodes as std::vector does), viewed in place.
        using Element = std::remove_cvref_t<decltype(*T().view().data())>;
        std::uint64_t count = 0;
        context.in.read(&count, sizeof count);
        context.in.check_count(count, sizeof(Element));
        const std::size_t n = static_cast<std::size_t>(count);
        const std::span<const std::byte> bytes = context.in.take(n * sizeof(Element));
        if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(Element) == 0) {
            return T(std::span(reinterpret_cast<const Element*>(bytes.data()), n));
        }
        std::vector<Element> copy(n);
        if (n != 0) std::memcpy(copy.data(), bytes.data(), bytes.size());
        return T(std::move(copy));
    } else if constexpr (codec == Codec::raw) {
        std::array<std::byte, sizeof(T)> bytes;
        context.in.read(bytes.data(), sizeof(T));
        if constexpr (std::is_same_v<T, bool>) {
            if (bytes[0] > std::byte{1}) {
                throw FrameError("corrupted value: bool byte " + std::to_string(static_cast<unsigned>(bytes[0])));
            }
        }
        return std::bit_cast<T>(bytes);
    } else if constexpr (codec == Codec::range) {
        using Element = std::ranges::range_value_t<T>;
        std::uint64_t count = 0;
        context.in.read(&count, sizeof count);
        context.in.check_count(count, sizeof(Element));
        const std::size_t n = static_cast<std::size_t>(count);
        T range;
        if constexpr (std::is_same_v<T, std::vector<Element>>) {
            // Built straight from the bytes when they are aligned for Element
            // (they are in a message's own buffer): one pass over fresh
            // memory instead of resize()'s zeroing and then the copy.
            const std::span<const std::byte> bytes = context.in.take(n * sizeof(Element));
            reserve_fresh(range, n);
            if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(Element) == 0) {
                const auto* first = reinterpret_cast<const Element*>(bytes.data());
                range.assign(first, first + n);
            } else {
                range.resize(n);
                if (n != 0) std::memcpy(range.data(), bytes.data(), bytes.size());
            }
            return range;
        }
        range.resize(n);
        context.in.read(range.data(), n * sizeof(Element));
        return range;
    } else if constexpr (codec == Codec::tuple) {
        return decode_tuple<T>(context, std::make_index_sequence<std::tuple_size_v<T>>{});
    } else {
        T value{};
        try {
            context.cereal()(value);
        } catch (const cereal::Exception& e) {
            // cereal's own checks (variant index, pointer ids, ...).
            throw FrameError("corrupted value of type " + type_name<T>() + ": " + e.what());
        }
        return value;
    }
}

/// Appends the encoding of `value` to `out` (for a payload after a frame
/// header). Throws ValueError if a cereal value nests deeper than
/// kMaxNesting; whatever the value's own serialize() throws passes through.
template <class T>
void encode_into(std::vector<std::byte>& out, const T& value) {
    if constexpr (EncodableCheck<std::remove_cvref_t<T>>::value) {
        EncodeContext context{out, std::nullopt};
        encode_value(context, value);
    }
}

/// The encoding of `value` in a buffer of its own (one allocation for raw
/// values, ranges and tuples of them). Throws like encode_into.
template <class T>
std::vector<std::byte> encode(const T& value) {
    std::vector<std::byte> out;
    if constexpr (EncodableCheck<std::remove_cvref_t<T>>::value) {
        reserve_fresh(out, encoded_size_hint(value));
        EncodeContext context{out, std::nullopt};
        encode_value(context, value);
    }
    return out;
}

/// Decodes a T that must fill `bytes` exactly. Throws FrameError if the
/// bytes are truncated, corrupted or followed by more bytes; whatever T's own
/// load() throws passes through.
template <class T>
T decode(std::span<const std::byte> bytes) {
    if constexpr (DecodableCheck<T>::value) {
        ByteReader in(bytes);
        DecodeContext context{in, std::nullopt};
        T value = decode_value<T>(context);
        if (in.remaining() != 0) {
            throw FrameError("trailing bytes: " + std::to_string(in.remaining()) + " bytes left after a value of type " +
                             type_name<T>());
        }
        return value;
    } else {
        std::abort();  // never compiled: DecodableCheck has already stopped the build
    }
}

}  // namespace tandem::detail
