// The main() of every test program: tandem::init() first, as a program using
// spawn or forkserver must, then GoogleTest. Spawned children and the
// forkserver re-execute the test program, and init() turns them into the
// child (or the server) before GoogleTest sees the command line.
//
// TANDEM_TEST_WITHOUT_INIT=1 skips init(), so that a test can re-execute its
// own program to check what a program that never called init() gets
// (test_context.cpp: spawn without init is a clear error).
#include <gtest/gtest.h>  // testing::InitGoogleTest, RUN_ALL_TESTS

#include <cstdlib>  // std::getenv

#include "tandem/init.hpp"  // tandem::init

int main(int argc, char** argv) {
    if (std::getenv("TANDEM_TEST_WITHOUT_INIT") == nullptr) tandem::init(argc, argv);
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
