// Test support: expecting a throw of a given type whose message says why.
//
//     expect_error<tandem::FrameError>([&] { run_call(in); }, "refused");
#pragma once

#include <gtest/gtest.h>  // ADD_FAILURE, EXPECT_NE

#include <string>  // the message

namespace tandem_test {

/// Fails the test unless `body()` throws an E whose what() contains `needle`.
template <class E, class Body>
void expect_error(Body body, const std::string& needle) {
    try {
        body();
        ADD_FAILURE() << "nothing thrown";
    } catch (const E& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

}  // namespace tandem_test
