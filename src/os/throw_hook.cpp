// The program's throws, seen first by tandem: with the linker's
// --wrap=__cxa_throw (set by the tandem target, CMakeLists.txt) every throw
// of the program calls this, which records the throw site when capture is on
// (pool workers, tandem/detail/os/throw_site.hpp) and throws as before. In
// its own object file: a program linked without --wrap never pulls it in.
#include <typeinfo>  // std::type_info

#include "tandem/detail/os/throw_site.hpp"  // throw_capture_enabled, record_throw

extern "C" {
// The C++ runtime's own, under the name --wrap gives it.
[[noreturn]] void __real___cxa_throw(void* object, std::type_info* type, void (*destroy)(void*));

[[noreturn]] void __wrap___cxa_throw(void* object, std::type_info* type, void (*destroy)(void*)) {
    if (tandem::detail::throw_capture_enabled.load(std::memory_order_relaxed)) tandem::detail::record_throw(object);
    __real___cxa_throw(object, type, destroy);
}
}
