// Internal: what a decoded container may cost, so that a count read from a
// peer is checked before cereal allocates for it.
//
// cereal reads a container's element count and allocates for all of them
// (vector, list, deque and string resize; unordered containers reserve)
// before it decodes the first element. The decoder (encoding.hpp) therefore
// checks each count twice, knowing the container's type:
//  - against the bytes left: every element encodes to at least
//    min_encoded_size<Element>() bytes (a std::string to its 8-byte length,
//    an int to 4), so a count the remaining bytes cannot hold is a lie;
//  - against the message's allocation budget: count x the memory one element
//    takes once decoded (its size, plus the links of a node-based container)
//    is charged to a budget of kDecodeBudgetFloor + kDecodeBudgetPerByte x
//    the payload's size, shared by every container of the message.
// The first check keeps a std::vector<std::string> of an 8 MiB payload under
// 32 MiB (one byte per element allowed 256 MiB); the second stops what the
// first cannot see: elements that are large in memory and small on the wire,
// nested containers each claiming the same remaining bytes. An honest value
// stays far from the budget: a std::set<int> node takes 36 bytes for 4
// encoded ones, 9 times its encoding.
//
//     static_assert(min_encoded_size<std::string>() == 8);
//     static_assert(container_cost<std::list<std::vector<int>>>().min_encoded == 8);
#pragma once

#include <array>          // std::array elements
#include <bitset>         // std::bitset elements
#include <chrono>         // durations, time points
#include <complex>        // std::complex
#include <cstddef>        // std::size_t
#include <cstdint>        // std::uint64_t size tags, cereal's index and id widths
#include <deque>          // a container cereal resizes
#include <forward_list>   // a node-based container cereal resizes
#include <list>           // a node-based container cereal resizes
#include <map>            // tree-based containers
#include <memory>         // smart pointers
#include <optional>       // std::optional
#include <set>            // tree-based containers
#include <string>         // std::basic_string
#include <tuple>          // std::tuple
#include <type_traits>    // std::is_arithmetic_v, std::underlying_type_t
#include <unordered_map>  // hashed containers (they reserve buckets)
#include <unordered_set>  // hashed containers
#include <utility>        // std::pair
#include <variant>        // std::variant
#include <vector>         // std::vector

namespace tandem::detail {

/// The allocation budget of one decode(): this many bytes, plus
/// kDecodeBudgetPerByte per byte of the payload. A value whose containers
/// would take more is a FrameError.
inline constexpr std::size_t kDecodeBudgetFloor = std::size_t{32} << 20;
inline constexpr std::size_t kDecodeBudgetPerByte = 16;

/// What one element of a container costs on the wire and in memory.
struct ElementCost {
    /// The fewest bytes one element encodes to (1 when unknown: a user type).
    std::size_t min_encoded = 1;
    /// The bytes one element takes once decoded, links included.
    std::size_t footprint = 1;
};

template <class T>
consteval std::size_t min_encoded_size();

/// How a container type is laid out: its element and per-element links.
/// `known` is false for everything that is not a container cereal sizes.
template <class T>
struct ContainerLayout {
    static constexpr bool known = false;
};

template <class Element, std::size_t Links>
struct ContainerOf {
    static constexpr bool known = true;
    using element = Element;
    static constexpr std::size_t links = Links * sizeof(void*);
};

template <class T, class A>
struct ContainerLayout<std::vector<T, A>> : ContainerOf<T, 0> {};
template <class T, class A>
struct ContainerLayout<std::deque<T, A>> : ContainerOf<T, 0> {};
template <class C, class Traits, class A>
struct ContainerLayout<std::basic_string<C, Traits, A>> : ContainerOf<C, 0> {};
template <class T, class A>
struct ContainerLayout<std::list<T, A>> : ContainerOf<T, 2> {};
template <class T, class A>
struct ContainerLayout<std::forward_list<T, A>> : ContainerOf<T, 1> {};
// A red-black tree node: colour (padded), parent, left, right.
template <class K, class C, class A>
struct ContainerLayout<std::set<K, C, A>> : ContainerOf<K, 4> {};
template <class K, class C, class A>
struct ContainerLayout<std::multiset<K, C, A>> : ContainerOf<K, 4> {};
template <class K, class V, class C, class A>
struct ContainerLayout<std::map<K, V, C, A>> : ContainerOf<std::pair<K, V>, 4> {};
template <class K, class V, class C, class A>
struct ContainerLayout<std::multimap<K, V, C, A>> : ContainerOf<std::pair<K, V>, 4> {};
// A hashed node: next, the cached hash, and its bucket.
template <class K, class H, class E, class A>
struct ContainerLayout<std::unordered_set<K, H, E, A>> : ContainerOf<K, 3> {};
template <class K, class H, class E, class A>
struct ContainerLayout<std::unordered_multiset<K, H, E, A>> : ContainerOf<K, 3> {};
template <class K, class V, class H, class E, class A>
struct ContainerLayout<std::unordered_map<K, V, H, E, A>> : ContainerOf<std::pair<K, V>, 3> {};
template <class K, class V, class H, class E, class A>
struct ContainerLayout<std::unordered_multimap<K, V, H, E, A>> : ContainerOf<std::pair<K, V>, 3> {};

template <class T>
inline constexpr bool is_optional_v = false;
template <class T>
inline constexpr bool is_optional_v<std::optional<T>> = true;
template <class T>
inline constexpr bool is_variant_v = false;
template <class... Ts>
inline constexpr bool is_variant_v<std::variant<Ts...>> = true;
template <class T>
inline constexpr bool is_unique_ptr_v = false;
template <class T, class D>
inline constexpr bool is_unique_ptr_v<std::unique_ptr<T, D>> = true;
template <class T>
inline constexpr bool is_shared_ptr_v = false;
template <class T>
inline constexpr bool is_shared_ptr_v<std::shared_ptr<T>> = true;
template <class T>
inline constexpr bool is_shared_ptr_v<std::weak_ptr<T>> = true;

template <class T>
struct MinEncodedSize {
    static consteval std::size_t get() {
        if constexpr (std::is_arithmetic_v<T>) {
            return sizeof(T);
        } else if constexpr (std::is_enum_v<T>) {
            return sizeof(std::underlying_type_t<T>);
        } else if constexpr (ContainerLayout<T>::known) {
            return sizeof(std::uint64_t);  // the count
        } else if constexpr (is_optional_v<T> || is_unique_ptr_v<T>) {
            return 1;  // the "empty" / "valid" flag
        } else if constexpr (is_variant_v<T> || is_shared_ptr_v<T>) {
            return sizeof(std::int32_t);  // the index, the pointer's id
        } else {
            return 1;  // a user type: at least one byte, as it always was
        }
    }
};
template <class A, class B>
struct MinEncodedSize<std::pair<A, B>> {
    static consteval std::size_t get() { return min_encoded_size<A>() + min_encoded_size<B>(); }
};
template <class... Ts>
struct MinEncodedSize<std::tuple<Ts...>> {
    static consteval std::size_t get() { return (std::size_t{0} + ... + min_encoded_size<Ts>()); }
};
template <class T, std::size_t N>
struct MinEncodedSize<std::array<T, N>> {
    static consteval std::size_t get() { return N * min_encoded_size<T>(); }
};
template <class T>
struct MinEncodedSize<std::complex<T>> {
    static consteval std::size_t get() { return 2 * sizeof(T); }
};
template <class R, class P>
struct MinEncodedSize<std::chrono::duration<R, P>> {
    static consteval std::size_t get() { return sizeof(R); }
};
template <class C, class D>
struct MinEncodedSize<std::chrono::time_point<C, D>> {
    static consteval std::size_t get() { return sizeof(typename D::rep); }
};

/// The fewest bytes a T can encode to through cereal (const ignored).
template <class T>
consteval std::size_t min_encoded_size() {
    return MinEncodedSize<std::remove_cv_t<T>>::get();
}

/// The cost of one element of container T, or the unknown cost ({1, 1}: one
/// byte, the rule for user types) if T is not a container cereal sizes. An
/// element that encodes to nothing (an empty tuple) still counts one byte:
/// a container may not hold more elements than bytes follow its count.
template <class T>
consteval ElementCost container_cost() {
    if constexpr (ContainerLayout<T>::known) {
        using Element = typename ContainerLayout<T>::element;
        const std::size_t encoded = min_encoded_size<Element>();
        return {encoded == 0 ? 1 : encoded, sizeof(Element) + ContainerLayout<T>::links};
    } else {
        return {};
    }
}

}  // namespace tandem::detail
