// Internal: the input iterator of a range that produces its values one at a
// time (map() results, imap results, as_completed()).
//
// The owner keeps the current value in `std::optional<...> current_` and
// makes the next one current with `bool advance()` (false at the end, or it
// throws); the iterator only asks for it. The owner befriends the iterator.
//
//     class Results {
//     public:
//         using iterator = detail::PullIterator<Results, int>;
//         iterator begin() { return iterator::first(this); }
//         std::default_sentinel_t end() const noexcept { return {}; }
//     private:
//         friend iterator;
//         bool advance();               // fills current_
//         std::optional<int> current_;
//     };
#pragma once

#include <cstddef>      // std::ptrdiff_t
#include <iterator>     // std::input_iterator_tag, std::default_sentinel_t
#include <type_traits>  // std::remove_const_t

namespace tandem::detail {

template <class Owner, class Value>
class PullIterator {
public:
    using iterator_category = std::input_iterator_tag;
    using value_type = std::remove_const_t<Value>;
    using difference_type = std::ptrdiff_t;

    PullIterator() = default;
    /// The owner's first value (waiting for it, rethrowing what advance()
    /// throws), or the end.
    static PullIterator first(Owner* owner) { return owner->advance() ? PullIterator(owner) : PullIterator(); }

    Value& operator*() const { return *owner_->current_; }
    Value* operator->() const { return &*owner_->current_; }
    PullIterator& operator++() {
        if (!owner_->advance()) owner_ = nullptr;
        return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const PullIterator& it, std::default_sentinel_t) noexcept { return it.owner_ == nullptr; }

private:
    explicit PullIterator(Owner* owner) noexcept : owner_(owner) {}
    Owner* owner_ = nullptr;
};

}  // namespace tandem::detail
