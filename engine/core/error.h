#pragma once
// One exception type for every user-facing failure. Messages carry their context
// ("config.json: num_key_value_heads=0"), so callers print them as they are.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace ember {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] inline void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace ember
