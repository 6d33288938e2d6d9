// tandem/multiprocessing/sharedctypes.hpp — Python's multiprocessing.Value,
// Array, RawValue and RawArray: plain data in shared memory, visible to every
// process that shares the object (forked children inherit it).
//
// T must be trivially copyable: the bytes are shared between processes, none
// of which runs a constructor or destructor for the others. Value and Array
// carry an RLock (Python's default lock) reached with get_lock(); the Raw
// variants have none. Copies of a handle share the same memory.
//
//     tandem::multiprocessing::Value<long> counter(0);
//     tandem::multiprocessing::Array<double> samples(1024);   // zero-filled
//     if (fork() == 0) {
//         std::lock_guard guard(counter.get_lock());   // value += 1 is two steps
//         counter.value(counter.value() + 1);
//         samples[0] = 3.5;
//         _exit(0);
//     }
//
// Differences from Python:
// - Value::value() and value(v) take the lock, as Python's property does.
//   Array's operator[] returns a reference into shared memory and takes no
//   lock (a C++ reference outlives any lock taken inside operator[]); hold
//   get_lock() around access that other processes may race with. Python's
//   per-item lock does not make `a[i] += 1` atomic either.
// - The lock given to Value or Array must be an RLock (Python also accepts a
//   Lock, or lock=False, which is RawValue/RawArray here).
#pragma once

#include "tandem/detail/os/shared_region.hpp"      // detail::SharedRegion, Placement, SharedObjectAccess
#include "tandem/detail/wire/handoff.hpp"          // detail::Handoff, so these objects can be Process arguments
#include "tandem/errors.hpp"                       // ValueError
#include "tandem/multiprocessing/synchronize.hpp"  // RLock, the lock of Value and Array

#include <algorithm>         // std::max
#include <cstddef>           // std::size_t
#include <cstdint>           // header fields
#include <initializer_list>  // Array{1, 2, 3}
#include <limits>            // overflow check on the size
#include <memory>            // std::shared_ptr, std::construct_at, std::uninitialized_value_construct_n
#include <mutex>             // std::lock_guard in Value
#include <new>               // std::launder
#include <span>              // Array from a span
#include <string>            // error messages
#include <type_traits>       // std::is_trivially_copyable_v
#include <utility>           // std::move

namespace tandem::detail {

/// What precedes the elements of a RawValue or RawArray, so that a process
/// attaching to one can check what it found.
struct SharedElementsHeader {
    std::uint32_t tag;
    std::uint32_t element_size;
    std::uint64_t count;
};

inline constexpr std::uint32_t kSharedElementsTag = 0x41544354;  // "TCTA"

/// Where the elements start, relative to the header.
template <class T>
constexpr std::size_t elements_offset() noexcept {
    return align_up(sizeof(SharedElementsHeader), alignof(T) > 16 ? alignof(T) : 16);
}

/// Bytes from the header to the end of `count` elements of T. Throws
/// ValueError if that does not fit in a size_t.
template <class T>
std::size_t elements_bytes(std::size_t count) {
    constexpr std::size_t fixed = elements_offset<T>() + kObjectAlignment;
    if (count > (std::numeric_limits<std::size_t>::max() - fixed) / sizeof(T)) {
        throw ValueError("shared array of " + std::to_string(count) + " elements is too large");
    }
    return elements_offset<T>() + count * sizeof(T);
}

/// Bytes that a header and `count` elements of T occupy in a region.
template <class T>
std::size_t elements_footprint(std::size_t count) {
    return align_up(elements_bytes<T>(count), kObjectAlignment);
}

/// Places (or, attaching, finds and checks) a header and `count` elements of T
/// at `offset`; returns the first element, which the caller constructs. On
/// attach, `count` is read from the header.
template <class T>
T* place_elements(SharedRegion& region, std::size_t offset, Placement placement, std::size_t& count) {
    constexpr std::size_t alignment = std::max(alignof(SharedElementsHeader), alignof(T));
    check_placement(region, offset, elements_offset<T>(), alignment);
    void* address = region.data() + offset;
    if (placement == Placement::construct) {
        new (address) SharedElementsHeader{kSharedElementsTag, sizeof(T), count};
    } else {
        const auto* header = std::launder(static_cast<SharedElementsHeader*>(address));
        if (header->tag != kSharedElementsTag || header->element_size != sizeof(T)) {
            throw ValueError("the shared memory at this offset does not hold elements of this type");
        }
        count = static_cast<std::size_t>(header->count);
    }
    check_placement(region, offset, elements_bytes<T>(count), alignment);
    return std::launder(reinterpret_cast<T*>(region.data() + offset + elements_offset<T>()));
}

}  // namespace tandem::detail

namespace tandem::multiprocessing {

template <class T>
class Value;
template <class T>
class Array;

/// multiprocessing.RawValue: one T in shared memory, without a lock.
template <class T>
class RawValue {
    static_assert(std::is_trivially_copyable_v<T>,
                  "multiprocessing::RawValue<T>/Value<T> needs a trivially copyable T: its bytes are shared "
                  "between processes, none of which runs T's copy constructor or destructor for the others");

public:
    /// Creates the value in new shared memory, holding `initial` (zero for
    /// arithmetic T by default). Throws std::system_error.
    explicit RawValue(const T& initial = T{})
        : RawValue(std::make_shared<detail::SharedRegion>(footprint(), "tandem:RawValue"), 0,
                   detail::Placement::construct) {
        std::construct_at(object_, initial);
    }

    /// A copy of the value (unsynchronised, as Python's raw ctypes value).
    T value() const noexcept { return *object_; }
    /// Stores `v` (unsynchronised).
    void value(const T& v) noexcept { *object_ = v; }

private:
    friend struct detail::SharedObjectAccess;
    friend class Value<T>;
    RawValue(std::shared_ptr<detail::SharedRegion> region, std::size_t offset, detail::Placement placement)
        : region_(std::move(region)), offset_(offset) {
        std::size_t count = 1;
        object_ = detail::place_elements<T>(*region_, offset, placement, count);
        if (count != 1) throw ValueError("the shared memory at this offset holds an array, not a value");
    }
    static std::size_t footprint() { return detail::elements_footprint<T>(1); }

    std::shared_ptr<detail::SharedRegion> region_;
    std::size_t offset_ = 0;
    T* object_ = nullptr;
};

/// multiprocessing.RawArray: a fixed-size array of T in shared memory,
/// without a lock.
template <class T>
class RawArray {
    static_assert(std::is_trivially_copyable_v<T>,
                  "multiprocessing::RawArray<T>/Array<T> needs a trivially copyable T: its bytes are shared "
                  "between processes, none of which runs T's copy constructor or destructor for the others");

public:
    /// Creates `size` zero-initialised elements (value-initialised) in new
    /// shared memory. Throws std::system_error, or ValueError if `size` is
    /// absurdly large.
    explicit RawArray(std::size_t size) : RawArray(new_region(size), 0, detail::Placement::construct, size) {
        std::uninitialized_value_construct_n(data_, size_);
    }
    /// Creates an array holding a copy of `values`.
    RawArray(std::initializer_list<T> values) : RawArray(std::span<const T>(values.begin(), values.size())) {}
    /// Creates an array holding a copy of `values`.
    explicit RawArray(std::span<const T> values)
        : RawArray(new_region(values.size()), 0, detail::Placement::construct, values.size()) {
        std::uninitialized_copy(values.begin(), values.end(), data_);
    }

    /// The number of elements (Python's len()).
    std::size_t size() const noexcept { return size_; }
    /// The element at `index`, unchecked (a reference into shared memory).
    T& operator[](std::size_t index) const noexcept { return data_[index]; }
    /// The first element.
    T* data() const noexcept { return data_; }
    /// Iteration over the elements.
    T* begin() const noexcept { return data_; }
    /// End of iteration.
    T* end() const noexcept { return data_ + size_; }

private:
    friend struct detail::SharedObjectAccess;
    friend class Array<T>;
    // On attach, `size` is ignored and read from the shared header.
    RawArray(std::shared_ptr<detail::SharedRegion> region, std::size_t offset, detail::Placement placement,
             std::size_t size = 0)
        : region_(std::move(region)), offset_(offset), size_(size) {
        data_ = detail::place_elements<T>(*region_, offset, placement, size_);
    }
    static std::shared_ptr<detail::SharedRegion> new_region(std::size_t size) {
        return std::make_shared<detail::SharedRegion>(detail::elements_footprint<T>(size), "tandem:RawArray");
    }

    std::shared_ptr<detail::SharedRegion> region_;
    std::size_t offset_ = 0;
    std::size_t size_ = 0;
    T* data_ = nullptr;
};

/// multiprocessing.Value: one T in shared memory, guarded by an RLock.
template <class T>
class Value {
public:
    /// Creates the value holding `initial`, with a new RLock (one region holds
    /// both). Throws std::system_error.
    explicit Value(const T& initial = T{}) : Value(new_region(), initial) {}
    /// Creates the value holding `initial`, guarded by `lock`, which may guard
    /// other values too.
    Value(const T& initial, RLock lock) : object_(initial), lock_(std::move(lock)) {}

    /// A copy of the value, read under the lock.
    T value() const {
        std::lock_guard guard(lock_);
        return object_.value();
    }
    /// Stores `v` under the lock. To update from the old value, hold
    /// get_lock() around both steps.
    void value(const T& v) {
        std::lock_guard guard(lock_);
        object_.value(v);
    }
    /// The lock that guards the value (copies of it share the lock).
    RLock& get_lock() const noexcept { return lock_; }
    /// The raw, unsynchronised value underneath.
    RawValue<T>& get_obj() noexcept { return object_; }

private:
    friend struct detail::SharedObjectAccess;
    friend struct detail::Handoff<Value<T>>;  // sends the value and its lock
    Value(RawValue<T> object, RLock lock) : object_(std::move(object)), lock_(std::move(lock)) {}
    Value(const std::shared_ptr<detail::SharedRegion>& region, const T& initial)
        : object_(region, 0, detail::Placement::construct),
          lock_(detail::SharedObjectAccess::make<RLock>(region, lock_offset(), detail::Placement::construct)) {
        std::construct_at(object_.object_, initial);
    }
    static std::size_t lock_offset() { return RawValue<T>::footprint(); }
    static std::shared_ptr<detail::SharedRegion> new_region() {
        return std::make_shared<detail::SharedRegion>(
            lock_offset() + detail::SharedObjectAccess::footprint<RLock>(), "tandem:Value");
    }

    RawValue<T> object_;
    mutable RLock lock_;  // locking does not change the value
};

/// multiprocessing.Array: a fixed-size array of T in shared memory, with an
/// RLock for the caller to hold (operator[] takes no lock: see above).
template <class T>
class Array {
public:
    /// Creates `size` zero-initialised elements with a new RLock. Throws
    /// std::system_error, or ValueError if `size` is absurdly large.
    explicit Array(std::size_t size) : Array(new_region(size), size) {
        std::uninitialized_value_construct_n(object_.data_, size);
    }
    /// Creates an array holding a copy of `values`, with a new RLock.
    Array(std::initializer_list<T> values) : Array(std::span<const T>(values.begin(), values.size())) {}
    /// Creates an array holding a copy of `values`, with a new RLock.
    explicit Array(std::span<const T> values) : Array(new_region(values.size()), values.size()) {
        std::uninitialized_copy(values.begin(), values.end(), object_.data_);
    }
    /// Creates `size` zero-initialised elements guarded by `lock`.
    Array(std::size_t size, RLock lock) : object_(size), lock_(std::move(lock)) {}

    /// The number of elements (Python's len()).
    std::size_t size() const noexcept { return object_.size(); }
    /// The element at `index`, unchecked and unlocked.
    T& operator[](std::size_t index) const noexcept { return object_[index]; }
    /// The first element.
    T* data() const noexcept { return object_.data(); }
    /// Iteration over the elements (unlocked).
    T* begin() const noexcept { return object_.begin(); }
    /// End of iteration.
    T* end() const noexcept { return object_.end(); }
    /// The lock that guards the array (copies of it share the lock).
    RLock& get_lock() const noexcept { return lock_; }
    /// The raw array underneath.
    RawArray<T>& get_obj() noexcept { return object_; }

private:
    friend struct detail::SharedObjectAccess;
    friend struct detail::Handoff<Array<T>>;  // sends the elements and their lock
    Array(RawArray<T> object, RLock lock) : object_(std::move(object)), lock_(std::move(lock)) {}
    Array(const std::shared_ptr<detail::SharedRegion>& region, std::size_t size)
        : object_(region, 0, detail::Placement::construct, size),
          lock_(detail::SharedObjectAccess::make<RLock>(region, lock_offset(size), detail::Placement::construct)) {}
    static std::size_t lock_offset(std::size_t size) { return detail::elements_footprint<T>(size); }
    static std::shared_ptr<detail::SharedRegion> new_region(std::size_t size) {
        return std::make_shared<detail::SharedRegion>(
            lock_offset(size) + detail::SharedObjectAccess::footprint<RLock>(), "tandem:Array");
    }

    RawArray<T> object_;
    mutable RLock lock_;  // locking does not change the elements
};

}  // namespace tandem::multiprocessing

namespace tandem::detail {

// Handing the objects to spawn and forkserver children: each part travels as
// region and offset (see synchronize.hpp); the receiver checks the type tag
// and element size it finds there, and takes the element count from there.

template <class T>
struct Handoff<multiprocessing::RawValue<T>> : PlacedHandoff<multiprocessing::RawValue<T>> {};
template <class T>
struct Handoff<multiprocessing::RawArray<T>> : PlacedHandoff<multiprocessing::RawArray<T>> {};

template <class T>
struct Handoff<multiprocessing::Value<T>> {
    static void send(HandoffWriter& out, const multiprocessing::Value<T>& value) {
        send_placed(out, value.object_);
        send_placed_after(out, value.lock_, SharedObjectAccess::region(value.object_));
    }
    static multiprocessing::Value<T> receive(HandoffReader& in) {
        auto object = receive_placed<multiprocessing::RawValue<T>>(in);
        auto lock = receive_placed_after<multiprocessing::RLock>(in, SharedObjectAccess::region(object));
        return SharedObjectAccess::make<multiprocessing::Value<T>>(std::move(object), std::move(lock));
    }
};

template <class T>
struct Handoff<multiprocessing::Array<T>> {
    static void send(HandoffWriter& out, const multiprocessing::Array<T>& array) {
        send_placed(out, array.object_);
        send_placed_after(out, array.lock_, SharedObjectAccess::region(array.object_));
    }
    static multiprocessing::Array<T> receive(HandoffReader& in) {
        auto object = receive_placed<multiprocessing::RawArray<T>>(in);
        auto lock = receive_placed_after<multiprocessing::RLock>(in, SharedObjectAccess::region(object));
        return SharedObjectAccess::make<multiprocessing::Array<T>>(std::move(object), std::move(lock));
    }
};

}  // namespace tandem::detail
