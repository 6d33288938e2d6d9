// Tests for tandem/serialization.hpp and tandem/detail/wire/encoding.hpp: values and
// exceptions crossing a process boundary. The behaviours come from Python's
// pickle as multiprocessing uses it (round trips of builtins, containers and
// user classes; a worker's exception re-raised in the parent with its type and
// message) and from CPython's test_pickle "bad input" cases (truncated data,
// huge declared lengths), where tandem raises FrameError instead of
// UnpicklingError / MemoryError and never allocates what the bytes claim.
#include "tandem/serialization.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <array>          // raw std::array values
#include <atomic>         // the allocation probe
#include <cstdint>        // crafted counts
#include <cstdlib>        // std::malloc for the replaced operator new
#include <cstring>        // std::memcpy
#include <deque>          // cereal containers
#include <functional>     // std::function, std::reference_wrapper (not serializable)
#include <list>           // cereal containers
#include <map>            // cereal containers
#include <memory>         // smart pointers through cereal
#include <new>            // std::bad_alloc, replaced operator new
#include <optional>       // cereal optional
#include <random>         // seeded mutations
#include <set>            // cereal containers
#include <span>           // spans encode like vectors
#include <stdexcept>      // the standard exception types
#include <string>         // strings and messages
#include <string_view>    // string views encode like strings
#include <thread>         // concurrent registration
#include <tuple>          // argument tuples
#include <typeinfo>       // exact exception types
#include <unordered_map>  // cereal containers
#include <variant>        // cereal variant
#include <vector>         // vectors and byte buffers

#include "tandem/errors.hpp"  // FrameError, RemoteError, tandem's errors

#include "support/child_process.hpp"  // fork_child, join_child: memory measured in a fresh child
#include "support/peak_rss.hpp"       // peak_rss_kib

// --- allocation probe ---------------------------------------------------------------
// Replaces the global allocation functions to record the largest request made
// while a probe is active, so a test can prove that a crafted length was
// rejected *before* anything of that size was allocated, in every build.
namespace {
std::atomic<bool> probe_active{false};
std::atomic<std::size_t> probe_largest{0};
}  // namespace

void* operator new(std::size_t size) {
    if (probe_active.load(std::memory_order_relaxed)) {
        std::size_t seen = probe_largest.load(std::memory_order_relaxed);
        while (size > seen && !probe_largest.compare_exchange_weak(seen, size, std::memory_order_relaxed)) {
        }
    }
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
// These deletes pair with the malloc in the operator new above; GCC, seeing
// free() applied to memory from "operator new", warns once it inlines them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

using tandem::FrameError;
using tandem::Serializable;
using tandem::detail::decode;
using tandem::detail::encode;
using Bytes = std::vector<std::byte>;

class AllocationProbe {
public:
    AllocationProbe() {
        probe_largest = 0;
        probe_active = true;
    }
    ~AllocationProbe() { probe_active = false; }
    AllocationProbe(const AllocationProbe&) = delete;
    AllocationProbe& operator=(const AllocationProbe&) = delete;
    std::size_t largest() const { return probe_largest.load(); }
};

template <class T>
void put(Bytes& out, const T& value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    out.insert(out.end(), p, p + sizeof(T));
}

template <class T>
T round_trip(const T& value) {
    return decode<T>(encode(value));
}

std::string frame_error_of(auto decode_call) {
    try {
        decode_call();
    } catch (const FrameError& e) {
        return e.what();
    }
    return "no error";
}

// A count followed by `filler` bytes of `fill`.
Bytes claim(std::uint64_t count, std::size_t filler, std::byte fill) {
    Bytes bytes;
    put(bytes, count);
    bytes.resize(bytes.size() + filler, fill);
    return bytes;
}

// The decode call fails on its count, before allocating more than a few KiB.
void expect_rejected_before_allocating(auto decode_call) {
    AllocationProbe probe;
    const std::string message = frame_error_of(decode_call);
    EXPECT_NE(message.find("exceeds the"), std::string::npos) << message;
    EXPECT_LT(probe.largest(), 4096u);
}

// --- types used below ---------------------------------------------------------------

struct Point3 {
    double x, y, z;
    bool operator==(const Point3&) const = default;
};

enum class Color : std::uint8_t { red, green, blue };

struct Order {
    std::string customer;
    std::vector<double> prices;
    std::optional<std::string> note;
    std::map<std::string, int> counts;
    template <class Archive>
    void serialize(Archive& archive) {
        archive(customer, prices, note, counts);
    }
    bool operator==(const Order&) const = default;
};

struct FreeSerialize {
    int id = 0;
    std::vector<std::string> tags;
    bool operator==(const FreeSerialize&) const = default;
};
template <class Archive>
void serialize(Archive& archive, FreeSerialize& value) {
    archive(value.id, value.tags);
}

class SplitSaveLoad {
public:
    SplitSaveLoad() = default;
    explicit SplitSaveLoad(std::list<int> items) : items_(std::move(items)) {}
    template <class Archive>
    void save(Archive& archive) const {
        archive(items_);
    }
    template <class Archive>
    void load(Archive& archive) {
        archive(items_);
        loaded_ = true;
    }
    const std::list<int>& items() const { return items_; }
    bool loaded() const { return loaded_; }

private:
    std::list<int> items_;
    bool loaded_ = false;
};

class PrivateMembers {
public:
    PrivateMembers() = default;
    explicit PrivateMembers(std::string secret) : secret_(std::move(secret)) {}
    const std::string& secret() const { return secret_; }

private:
    friend class cereal::access;
    template <class Archive>
    void serialize(Archive& archive) {
        archive(secret_);
    }
    std::string secret_;
};

// Trivially copyable, but its serialize member is used (it asks for versioning).
struct Versioned {
    int value = 0;
    std::uint32_t loaded_version = 0;
    template <class Archive>
    void serialize(Archive& archive, std::uint32_t version) {
        archive(value);
        loaded_version = version;
    }
};

struct Node {
    int value = 0;
    std::vector<Node> children;
    template <class Archive>
    void serialize(Archive& archive) {
        archive(value, children);
    }
};

struct NoSerialize {
    std::string text;
};

struct NeedsArgument {
    explicit NeedsArgument(int v) : value(v) {}
    int value;
    std::string text;
    template <class Archive>
    void serialize(Archive& archive) {
        archive(value, text);
    }
};

Node chain(int depth) {
    Node root{0, {}};
    Node* tail = &root;
    for (int i = 1; i < depth; ++i) {
        tail->children.push_back(Node{i, {}});
        tail = &tail->children.back();
    }
    return root;
}

int chain_depth(const Node& node) {
    int depth = 1;
    for (const Node* n = &node; !n->children.empty(); n = &n->children.front()) ++depth;
    return depth;
}

}  // namespace

CEREAL_CLASS_VERSION(Versioned, 3)

namespace {

// --- the Serializable concept -------------------------------------------------------

// pickle: builtins, containers and classes with a reduction pickle; here the
// same is decided at compile time.
TEST(Serializable, AcceptsValuesContainersAndCerealTypes) {
    static_assert(Serializable<int> && Serializable<double> && Serializable<bool> && Serializable<Color>);
    static_assert(Serializable<Point3> && Serializable<std::array<int, 3>>);
    static_assert(Serializable<std::string> && Serializable<std::vector<int>> && Serializable<std::vector<Point3>>);
    static_assert(Serializable<std::tuple<int, std::string, Order>> && Serializable<std::pair<int, double>>);
    static_assert(Serializable<std::tuple<>>);
    static_assert(Serializable<Order> && Serializable<FreeSerialize> && Serializable<SplitSaveLoad>);
    static_assert(Serializable<PrivateMembers> && Serializable<Node>);
    static_assert(Serializable<std::map<std::string, std::vector<int>>> && Serializable<std::optional<Order>>);
    static_assert(Serializable<std::variant<int, std::string>> && Serializable<std::unique_ptr<Order>>);
    static_assert(Serializable<const std::string&>);  // the concept looks through references
    static_assert(tandem::detail::codec_of<Point3>() == tandem::detail::Codec::raw);
    static_assert(tandem::detail::codec_of<Versioned>() == tandem::detail::Codec::cereal);
    static_assert(tandem::detail::codec_of<std::optional<int>>() == tandem::detail::Codec::cereal);
    SUCCEED();
}

// pickle: "Can't pickle <lambda>" / "cannot pickle 'X' object". Here pointers,
// capturing lambdas, views and types without serialization are rejected at
// compile time (encode/decode then fail with a static_assert naming the type).
TEST(Serializable, RejectsPointersLambdasViewsAndUnknownTypes) {
    static_assert(!Serializable<int*> && !Serializable<const char*> && !Serializable<void (*)()>);
    static_assert(!Serializable<int Point3::*> && !Serializable<std::reference_wrapper<int>>);
    static_assert(!Serializable<std::nullptr_t> && !Serializable<int* [2]>);
    static_assert(!Serializable<std::span<const int>> && !Serializable<std::string_view>);
    static_assert(!Serializable<NoSerialize> && !Serializable<std::function<void()>>);
    static_assert(!Serializable<NeedsArgument>);  // cereal must default-construct to load
    static_assert(!Serializable<std::tuple<int, int*>> && !Serializable<std::pair<std::string, NoSerialize>>);
    static_assert(!Serializable<std::tuple<int&>>);  // encodable, but cannot be decoded into
    int captured = 1;
    auto by_value = [captured] { return captured; };
    auto by_reference = [&captured] { return captured; };
    static_assert(!Serializable<decltype(by_value)> && !Serializable<decltype(by_reference)>);
    static_assert(!Serializable<std::tuple<int, decltype(by_value)>>);
    EXPECT_EQ(by_value() + by_reference(), 2);
}

// --- raw values and ranges ----------------------------------------------------------

// pickle: ints, floats, bools round-trip. Trivially copyable values travel as
// exactly their bytes: no length, no cereal.
TEST(Encoding, TriviallyCopyableValuesAreTheirBytes) {
    const Bytes four = encode(0x01020304);
    ASSERT_EQ(four.size(), sizeof(int));
    int back = 0;
    std::memcpy(&back, four.data(), sizeof back);
    EXPECT_EQ(back, 0x01020304);
    EXPECT_EQ(round_trip(-7), -7);
    EXPECT_EQ(round_trip(2.5), 2.5);
    EXPECT_EQ(round_trip(true), true);
    EXPECT_EQ(round_trip(false), false);
    EXPECT_EQ(round_trip(Color::blue), Color::blue);
    EXPECT_EQ(round_trip(Point3{1, 2, 3}), (Point3{1, 2, 3}));
    EXPECT_EQ(encode(std::array<int, 3>{1, 2, 3}).size(), 3 * sizeof(int));
    EXPECT_EQ(round_trip(std::array<int, 3>{1, 2, 3}), (std::array<int, 3>{1, 2, 3}));
}

// pickle: bytes and str round-trip, including empty ones and embedded NULs.
// Contiguous ranges are a u64 count followed by the elements' bytes.
TEST(Encoding, RangesAreCountAndBytes) {
    const std::string sixteen(16, 'x');
    EXPECT_EQ(encode(sixteen).size(), 8u + 16u);
    EXPECT_EQ(round_trip(sixteen), sixteen);
    EXPECT_EQ(round_trip(std::string()), "");
    const std::string with_nul("a\0b\0", 4);
    EXPECT_EQ(round_trip(with_nul), with_nul);
    EXPECT_EQ(round_trip(std::u16string(u"wide")), u"wide");
    const std::vector<double> doubles{1.5, -2.25, 1e300};
    EXPECT_EQ(encode(doubles).size(), 8u + 3 * sizeof(double));
    EXPECT_EQ(round_trip(doubles), doubles);
    EXPECT_EQ(round_trip(std::vector<int>{}), std::vector<int>{});
    const std::vector<Point3> points{{1, 2, 3}, {4, 5, 6}};
    EXPECT_EQ(round_trip(points), points);
}

// tandem: views share the encoding of the container they view, so a sender
// can send a span and the receiver decode a vector (no copy on the send side).
TEST(Encoding, ViewsEncodeLikeTheirContainers) {
    const std::vector<int> values{1, 2, 3};
    EXPECT_EQ(encode(std::span<const int>(values)), encode(values));
    EXPECT_EQ(decode<std::vector<int>>(encode(std::span<const int>(values))), values);
    EXPECT_EQ(encode(std::string_view("view")), encode(std::string("view")));
    EXPECT_EQ(decode<std::string>(encode(std::string_view("view"))), "view");
}

// multiprocessing: a task's arguments travel as one tuple. Elements are
// encoded one after another by their own codec; references encode like values.
TEST(Encoding, TuplesTravelElementByElement) {
    const auto args = std::make_tuple(1, 2.0, 'c');
    EXPECT_EQ(encode(args).size(), sizeof(int) + sizeof(double) + sizeof(char));
    EXPECT_EQ(round_trip(args), args);
    const auto mixed = std::make_tuple(7, std::string("seven"), Order{"ann", {1.0}, std::nullopt, {{"a", 1}}});
    EXPECT_EQ(round_trip(mixed), mixed);
    const std::string text = "by reference";
    const int number = 5;
    EXPECT_EQ(encode(std::forward_as_tuple(number, text)), encode(std::make_tuple(number, text)));
    EXPECT_EQ((decode<std::tuple<const int, std::string>>(encode(std::make_tuple(number, text)))),
              (std::tuple<const int, std::string>(number, text)));
    EXPECT_EQ(round_trip(std::make_pair(std::string("k"), 9)), std::make_pair(std::string("k"), 9));
    EXPECT_TRUE(encode(std::tuple<>()).empty());
    EXPECT_EQ(round_trip(std::make_tuple(std::make_tuple(1, std::string("nested")), 2)),
              std::make_tuple(std::make_tuple(1, std::string("nested")), 2));
}

// --- cereal types -------------------------------------------------------------------

// pickle: user classes round-trip through their reduction; here through
// cereal's serialize (member or free) or save/load, private members included.
TEST(Encoding, UserTypesThroughCereal) {
    const Order order{"bob", {9.5, 1.25}, "rush", {{"apples", 3}, {"pears", 0}}};
    EXPECT_EQ(round_trip(order), order);
    const Order empty{};
    EXPECT_EQ(round_trip(empty), empty);
    const FreeSerialize tagged{42, {"a", "", "ccc"}};
    EXPECT_EQ(round_trip(tagged), tagged);
    const SplitSaveLoad split = round_trip(SplitSaveLoad({3, 1, 4}));
    EXPECT_TRUE(split.loaded());
    EXPECT_EQ(split.items(), (std::list<int>{3, 1, 4}));
    EXPECT_EQ(round_trip(PrivateMembers("hidden")).secret(), "hidden");
    const Versioned versioned = round_trip(Versioned{17, 0});
    EXPECT_EQ(versioned.value, 17);
    EXPECT_EQ(versioned.loaded_version, 3u);
    EXPECT_EQ(chain_depth(round_trip(chain(300))), 300);
}

// pickle: dicts, sets, lists, None-or-value and unions of types round-trip.
TEST(Encoding, StandardContainersThroughCereal) {
    const std::map<std::string, std::vector<int>> map{{"one", {1}}, {"none", {}}, {"three", {1, 2, 3}}};
    EXPECT_EQ(round_trip(map), map);
    const std::unordered_map<int, std::string> hashed{{1, "a"}, {2, "b"}};
    EXPECT_EQ(round_trip(hashed), hashed);
    EXPECT_EQ(round_trip(std::set<std::string>{"x", "y"}), (std::set<std::string>{"x", "y"}));
    EXPECT_EQ(round_trip(std::deque<int>{1, 2}), (std::deque<int>{1, 2}));
    EXPECT_EQ(round_trip(std::vector<std::string>{"a", "bb"}), (std::vector<std::string>{"a", "bb"}));
    EXPECT_EQ(round_trip(std::vector<bool>{true, false, true}), (std::vector<bool>{true, false, true}));
    EXPECT_EQ(round_trip(std::optional<int>()), std::nullopt);
    EXPECT_EQ(round_trip(std::optional<std::string>("set")), "set");
    using Variant = std::variant<int, std::string, Order>;
    EXPECT_EQ(round_trip(Variant(std::string("alt"))), Variant(std::string("alt")));
    EXPECT_EQ(round_trip(Variant(5)), Variant(5));
    const auto owned = round_trip(std::make_unique<Order>(Order{"ptr", {}, {}, {}}));
    ASSERT_NE(owned, nullptr);
    EXPECT_EQ(owned->customer, "ptr");
    EXPECT_EQ(round_trip(std::unique_ptr<int>()), nullptr);
    const auto shared = std::make_shared<std::string>("same object");
    // Identity survives within one value, across tuple elements too, as within one pickle.dumps.
    const auto pair = round_trip(std::make_pair(shared, shared));
    EXPECT_EQ(*pair.first, "same object");
    EXPECT_EQ(pair.first, pair.second);
    const auto args = round_trip(std::make_tuple(shared, 1, std::vector<std::shared_ptr<std::string>>{shared}));
    EXPECT_EQ(std::get<0>(args), std::get<2>(args).front());
}

// --- bad input ----------------------------------------------------------------------

// pickle: "pickle data was truncated". Every strict prefix of an encoding, and
// any byte after it, is a FrameError.
TEST(Decoding, TruncationAndTrailingBytesAreFrameErrors) {
    const auto check = [](const auto& value) {
        using T = std::remove_cvref_t<decltype(value)>;
        const Bytes bytes = encode(value);
        for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
            // Either the bytes run out, or a count is seen to exceed them first.
            const auto message = frame_error_of([&] { decode<T>(std::span(bytes).first(cut)); });
            EXPECT_TRUE(message.find("truncated value") != std::string::npos ||
                        message.find("exceeds the") != std::string::npos)
                << cut << ": " << message;
        }
        Bytes longer = bytes;
        longer.push_back(std::byte{0});
        EXPECT_NE(frame_error_of([&] { decode<T>(longer); }).find("trailing bytes"), std::string::npos);
    };
    check(12345);
    check(std::string("truncate me"));
    check(std::make_tuple(1, std::string("two"), 3.0));
    check(Order{"carol", {1, 2}, "n", {{"k", 1}}});
    check(std::map<int, std::string>{{1, "a"}, {2, "b"}});
}

// CPython test_pickle: a huge declared length raises instead of allocating
// (bpo-36050 style). Here no allocation above a few KiB happens for counts of
// up to 2^60 in tandem's own ranges and in every cereal container.
TEST(Decoding, HugeCountsAreRejectedBeforeAllocating) {
    const auto expect_rejected = [](auto decode_call) { expect_rejected_before_allocating(decode_call); };
    for (const std::uint64_t count : {std::uint64_t{1} << 60, std::uint64_t{1} << 33, std::uint64_t{1000}}) {
        const Bytes bytes = claim(count, 3, std::byte{'a'});
        expect_rejected([&] { decode<std::string>(bytes); });
        expect_rejected([&] { decode<std::vector<int>>(bytes); });
        expect_rejected([&] { decode<std::vector<std::string>>(bytes); });
        expect_rejected([&] { decode<std::map<std::string, int>>(bytes); });
        expect_rejected([&] { decode<std::unordered_map<int, int>>(bytes); });
        expect_rejected([&] { decode<std::deque<std::string>>(bytes); });
        expect_rejected([&] { decode<std::list<int>>(bytes); });
        expect_rejected([&] { decode<std::set<int>>(bytes); });
        expect_rejected([&] { decode<Order>(bytes); });
    }
    // A count after a valid first tuple element.
    Bytes after_int;
    put(after_int, 7);
    put(after_int, std::uint64_t{1} << 60);
    expect_rejected([&] { decode<std::tuple<int, std::string>>(after_int); });
    // A count inside a nested container, after a valid outer count.
    Bytes nested;
    put(nested, std::uint64_t{1});
    put(nested, std::uint64_t{1} << 50);
    expect_rejected([&] { decode<std::vector<std::vector<int>>>(nested); });
}

// tandem (beyond Python): a count the remaining bytes could hold, but whose
// elements are not there, fails as truncated after a bounded allocation.
TEST(Decoding, PlausibleCountWithMissingElementsIsTruncated) {
    Bytes bytes;
    put(bytes, std::uint64_t{25});  // 25 strings: at least 200 bytes, and 200 follow,
    put(bytes, std::uint64_t{8});   // but the first takes 16 of them:
    bytes.resize(bytes.size() + 8, std::byte{'a'});
    bytes.resize(bytes.size() + 184, std::byte{0});  // 23 empty strings, and no 25th
    AllocationProbe probe;
    EXPECT_NE(frame_error_of([&] { decode<std::vector<std::string>>(bytes); }).find("truncated"), std::string::npos);
    EXPECT_LE(probe.largest(), 25 * sizeof(std::string));
}

// tandem (beyond Python): a count is checked against the bytes its elements
// need at least, not one byte each: 200 strings cannot follow in 200 bytes
// (each encodes its 8-byte length), nor 100 lists of ints in 799 bytes, nor
// 100 map items or (int, double) tuples of 12 bytes in 1199, so nothing is
// allocated for them.
TEST(Decoding, CountsAreCheckedAgainstTheElementsMinimumSize) {
    const auto zeros = [](std::uint64_t count, std::size_t filler) { return claim(count, filler, std::byte{0}); };
    const auto expect_rejected = [](auto decode_call) { expect_rejected_before_allocating(decode_call); };
    expect_rejected([&] { decode<std::vector<std::string>>(zeros(200, 200)); });
    expect_rejected([&] { decode<std::list<std::vector<int>>>(zeros(100, 799)); });
    expect_rejected([&] { decode<std::map<int, std::string>>(zeros(100, 1199)); });
    expect_rejected([&] { decode<std::vector<std::tuple<int, double>>>(zeros(100, 1199)); });
    // Elements that encode to nothing still count one byte each.
    expect_rejected([&] { decode<std::vector<std::tuple<>>>(zeros(5, 4)); });
    // The same counts with the bytes there decode.
    EXPECT_EQ(decode<std::vector<std::string>>(zeros(25, 200)).size(), 25u);
    const std::map<int, std::string> items{{1, ""}, {2, "b"}};
    EXPECT_EQ((decode<std::map<int, std::string>>(encode(items))), items);
}

// A type that is large in memory and small on the wire: the kind of element
// the minimum-size check cannot bound.
struct Heavy {
    char tag = 0;
    std::array<char, 4096> scratch{};
    template <class Archive>
    void serialize(Archive& archive) {
        archive(tag);
    }
};

// tandem (beyond Python): the elements a message's containers would allocate
// are charged to its decoding budget (32 MiB + 16 x its size), so 65536
// claimed 4 KiB elements in a 64 KiB payload (one byte each on the wire) are
// refused before cereal allocates 256 MiB for them.
TEST(Decoding, AllocationBeyondTheMessageBudgetIsRefused) {
    Bytes bytes;
    put(bytes, std::uint64_t{1} << 16);
    bytes.resize(bytes.size() + (std::size_t{1} << 16), std::byte{0});
    AllocationProbe probe;
    const std::string message = frame_error_of([&] { decode<std::vector<Heavy>>(bytes); });
    EXPECT_NE(message.find("decoding budget"), std::string::npos) << message;
    EXPECT_LT(probe.largest(), 4096u);
    // Within the budget, the same type decodes.
    EXPECT_EQ(decode<std::vector<Heavy>>(encode(std::vector<Heavy>(3))).size(), 3u);
}

// ThreadSanitizer keeps about four bytes of shadow for each byte the
// program touches: resident memory grows five times as fast.
#if defined(__SANITIZE_THREAD__)
constexpr long kResidentPerAllocatedByte = 5;
#else
constexpr long kResidentPerAllocatedByte = 1;
#endif

// tandem (beyond Python): an 8 MiB payload claiming as many elements as the
// checks allow grows a process's memory by tens of MiB, not hundreds (one
// byte per element let it reach 256 MiB for vector<string> and 384 MiB for
// list<vector<int>>). Measured as peak RSS in a fresh child.
TEST(Decoding, AmplifyingPayloadsStayUnderBoundedMemory) {
    constexpr std::size_t kPayload = std::size_t{8} << 20;
    // The growth in MiB, up to 1000 (the child reports it in its exit status, in 4 MiB steps).
    const auto grown_mib = [](auto decode_call) {
        const pid_t pid = tandem_test::fork_child([&] {
            const long before = tandem_test::peak_rss_kib();
            try {
                decode_call();
                return 251;
            } catch (const FrameError&) {
            }
            return static_cast<int>(std::min<long>((tandem_test::peak_rss_kib() - before) / 4096, 250));
        });
        return 4 * tandem_test::join_child(pid);
    };
    constexpr long kLimitMib = 100 * kResidentPerAllocatedByte;
    for (const std::size_t element_bytes : {std::size_t{1}, std::size_t{8}}) {
        // A count of one element per byte left (what one byte per element
        // allowed), then of one per 8 bytes (as many 8-byte counts as fit),
        // the last of which claims an element that is not there: decoding
        // fails in the end either way.
        Bytes bytes;
        put(bytes, static_cast<std::uint64_t>((kPayload - 8) / element_bytes));
        bytes.resize(kPayload - 8, std::byte{0});
        put(bytes, std::uint64_t{1});
        EXPECT_LT(grown_mib([&] { decode<std::vector<std::string>>(bytes); }), kLimitMib) << element_bytes;
        EXPECT_LT(grown_mib([&] { decode<std::list<std::vector<int>>>(bytes); }), kLimitMib) << element_bytes;
    }
}

// pickle loads bools from its own opcodes; here a byte other than 0 or 1 in
// a bool is rejected instead of becoming undefined behaviour.
TEST(Decoding, BoolsMustBeZeroOrOne) {
    const Bytes two{std::byte{2}};
    EXPECT_NE(frame_error_of([&] { decode<bool>(two); }).find("bool byte 2"), std::string::npos);
    Bytes in_tuple = encode(std::make_tuple(1, true));
    in_tuple.back() = std::byte{7};
    EXPECT_THROW((decode<std::tuple<int, bool>>(in_tuple)), FrameError);
    Bytes in_cereal = encode(std::vector<bool>{true});
    in_cereal.back() = std::byte{0xFF};
    EXPECT_THROW(decode<std::vector<bool>>(in_cereal), FrameError);
    Bytes optional = encode(std::optional<int>(3));
    optional.front() = std::byte{9};  // the engaged flag
    EXPECT_THROW(decode<std::optional<int>>(optional), FrameError);
}

// tandem (beyond Python): cereal's own consistency checks (a variant index out
// of range) surface as FrameError too.
TEST(Decoding, CerealErrorsBecomeFrameErrors) {
    using Variant = std::variant<int, std::string>;
    for (const std::int32_t index : {2, 100, -1}) {
        Bytes bytes = encode(Variant(5));
        std::memcpy(bytes.data(), &index, sizeof index);
        const std::string message = frame_error_of([&] { decode<Variant>(bytes); });
        EXPECT_NE(message.find("corrupted value of type std::variant"), std::string::npos) << message;
    }
}

// pickle: RecursionError on data nested too deeply. Here encode throws
// ValueError and decode FrameError at kMaxNesting, before the stack runs out.
TEST(Decoding, NestingIsBounded) {
    EXPECT_THROW(encode(chain(600)), tandem::ValueError);
    Bytes bomb;
    for (int level = 0; level < 100000; ++level) {
        put(bomb, level);                // Node::value
        put(bomb, std::uint64_t{1});     // one child
    }
    const std::string message = frame_error_of([&] { decode<Node>(bomb); });
    EXPECT_NE(message.find("nested deeper than"), std::string::npos) << message;
}

// tandem (beyond Python): mutated encodings of cereal types only ever raise
// FrameError (the libFuzzer target covers this at scale).
TEST(Decoding, RandomMutationsOnlyRaiseFrameError) {
    std::mt19937 random(5);
    const Bytes order = encode(Order{"mutant", {1, 2, 3}, "x", {{"a", 1}, {"b", 2}}});
    const Bytes nested = encode(std::map<std::string, std::vector<std::string>>{{"k", {"v", "w"}}});
    const Bytes variant = encode(std::vector<std::variant<int, std::string>>{1, std::string("s")});
    int rejected = 0;
    for (int round = 0; round < 3000; ++round) {
        const Bytes& base = round % 3 == 0 ? order : round % 3 == 1 ? nested : variant;
        Bytes data = base;
        data[random() % data.size()] = static_cast<std::byte>(random());
        if (round % 5 == 0) data.resize(random() % data.size());
        try {
            if (round % 3 == 0) (void)decode<Order>(data);
            if (round % 3 == 1) (void)decode<std::map<std::string, std::vector<std::string>>>(data);
            if (round % 3 == 2) (void)decode<std::vector<std::variant<int, std::string>>>(data);
        } catch (const FrameError&) {
            ++rejected;
        }
    }
    EXPECT_GT(rejected, 0);
}

// --- exceptions ---------------------------------------------------------------------

struct PricingError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct UnregisteredError : std::logic_error {
    using std::logic_error::logic_error;
};

template <class E>
Bytes encoded(const E& error) {
    return tandem::encode_exception(std::make_exception_ptr(error));
}

// Rethrows what `payload` decodes to and checks it is exactly an E with `what`.
template <class E>
void expect_rethrown_as(const Bytes& payload, const std::string& what) {
    bool caught = false;
    try {
        tandem::rethrow_remote(payload);
    } catch (const std::exception& e) {
        caught = true;
        EXPECT_EQ(typeid(e), typeid(E)) << "rethrown as " << tandem::detail::demangle(typeid(e).name());
        EXPECT_EQ(e.what(), what);
    }
    EXPECT_TRUE(caught) << "not rethrown as a std::exception";
}

template <class E>
void expect_round_trip(const std::string& message) {
    expect_rethrown_as<E>(encoded(E(message)), message);
}

// multiprocessing: an exception raised in a worker is re-raised in the parent
// with its type and message (pickled). The standard exception types come back
// as themselves.
TEST(RemoteException, StandardTypesComeBackAsThemselves) {
    expect_round_trip<std::runtime_error>("runtime");
    expect_round_trip<std::logic_error>("logic");
    expect_round_trip<std::invalid_argument>("invalid argument");
    expect_round_trip<std::out_of_range>("index 9 out of range");
    expect_round_trip<std::length_error>("too long");
    expect_round_trip<std::domain_error>("domain");
    expect_round_trip<std::range_error>("range");
    expect_round_trip<std::overflow_error>("overflow");
    expect_round_trip<std::underflow_error>("underflow");
    expect_rethrown_as<std::bad_alloc>(encoded(std::bad_alloc()), std::bad_alloc().what());
    expect_rethrown_as<std::exception>(encoded(std::exception()), std::exception().what());
}

// multiprocessing: the dynamic type is sent, not the static type of the handler.
TEST(RemoteException, TheDynamicTypeIsCaptured) {
    std::exception_ptr error;
    try {
        throw std::out_of_range("dynamic");
    } catch (const std::exception&) {
        error = std::current_exception();
    }
    expect_rethrown_as<std::out_of_range>(tandem::encode_exception(error), "dynamic");
}

// concurrent.futures: CancelledError, TimeoutError, BrokenProcessPool... raised
// in a worker keep their type; so does every tandem error with a message.
TEST(RemoteException, TandemErrorsComeBackAsThemselves) {
    expect_round_trip<tandem::Error>("base");
    expect_round_trip<tandem::CancelledError>("cancelled");
    expect_round_trip<tandem::TimeoutError>("late");
    expect_round_trip<tandem::InvalidStateError>("state");
    expect_round_trip<tandem::BrokenExecutor>("broken");
    expect_round_trip<tandem::BrokenThreadPool>("broken threads");
    expect_round_trip<tandem::BrokenProcessPool>("broken processes");
    expect_round_trip<tandem::RuntimeError>("runtime");
    expect_round_trip<tandem::ValueError>("value");
    expect_round_trip<tandem::Empty>("queue is empty");
    expect_round_trip<tandem::Full>("queue is full");
    expect_round_trip<tandem::ShutDown>("shut down");
    expect_round_trip<tandem::BrokenBarrierError>("barrier");
    expect_round_trip<tandem::ProcessError>("process");
    expect_round_trip<tandem::FrameError>("frame");
}

// multiprocessing: a user exception class importable in the parent is
// re-raised as itself; here the parent registers it.
TEST(RemoteException, RegisteredUserTypeComesBackAsItself) {
    tandem::register_exception<PricingError>();
    expect_round_trip<PricingError>("price must be positive");
}

// multiprocessing: an exception that cannot be rebuilt in the parent (Python:
// the worker's traceback as RemoteTraceback) keeps its type name and message.
TEST(RemoteException, UnregisteredTypeBecomesRemoteError) {
    try {
        tandem::rethrow_remote(encoded(UnregisteredError("not registered")));
    } catch (const tandem::RemoteError& e) {
        EXPECT_NE(e.type_name().find("UnregisteredError"), std::string::npos) << e.type_name();
        EXPECT_EQ(e.message(), "not registered");
        EXPECT_NE(std::string(e.what()).find("UnregisteredError: not registered"), std::string::npos);
        return;
    }
    FAIL() << "no RemoteError";
}

// tandem (beyond Python): a RemoteError forwarded again keeps the original
// type name and message; WorkerCrashed (no message constructor) arrives as a
// RemoteError naming it.
TEST(RemoteException, RemoteErrorsForwardTheOriginal) {
    const Bytes once = encoded(tandem::RemoteError("app::Original", "first hop"));
    try {
        tandem::rethrow_remote(once);
    } catch (const tandem::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "app::Original");
        EXPECT_EQ(e.message(), "first hop");
    }
    try {
        tandem::rethrow_remote(encoded(tandem::WorkerCrashed(12, 9, 0, "worker killed by SIGKILL")));
    } catch (const tandem::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "tandem::WorkerCrashed");
        EXPECT_EQ(e.message(), "worker killed by SIGKILL");
    }
}

// Python can raise only BaseException subclasses; C++ can throw anything. A
// non-std exception arrives as RemoteError of type "unknown", naming the type.
TEST(RemoteException, NonStandardExceptionsAreUnknown) {
    std::exception_ptr error;
    try {
        throw 42;
    } catch (...) {
        error = std::current_exception();
    }
    const std::exception_ptr rebuilt = tandem::decode_exception(tandem::encode_exception(error));
    try {
        std::rethrow_exception(rebuilt);
    } catch (const tandem::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "unknown");
        EXPECT_NE(e.message().find("int"), std::string::npos) << e.message();
    }
}

// Misuse and bad input: a null exception_ptr is a ValueError, a malformed
// payload a FrameError.
TEST(RemoteException, NullAndMalformedInput) {
    EXPECT_THROW(tandem::encode_exception(nullptr), tandem::ValueError);
    Bytes payload = encoded(std::runtime_error("x"));
    payload.pop_back();
    EXPECT_THROW(tandem::rethrow_remote(payload), FrameError);
    EXPECT_THROW(tandem::decode_exception(Bytes{}), FrameError);
}

// tandem (beyond Python): registration and decoding may race (threads of a pool
// registering late); the registry is thread-safe.
TEST(RemoteException, RegistrationIsThreadSafe) {
    const Bytes payload = encoded(PricingError("concurrent"));
    std::vector<std::thread> threads;
    std::atomic<int> rebuilt_as_pricing{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 200; ++i) {
                tandem::register_exception<PricingError>();
                try {
                    tandem::rethrow_remote(payload);
                } catch (const PricingError&) {
                    rebuilt_as_pricing.fetch_add(1);
                } catch (const std::exception&) {
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(rebuilt_as_pricing.load(), 800);
}

}  // namespace
