#pragma once
// Helpers shared by the tests: where the shared assets are, and skipping when they are absent.
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace ember::test {

inline std::string assets_dir() {
  if (const char* e = std::getenv("EMBER_ASSETS")) return e;
  return EMBER_ASSETS_DIR;
}

inline std::string asset(const std::string& rel) { return assets_dir() + "/" + rel; }

inline std::string ember_binary() { return EMBER_BINARY; }
inline std::string source_dir() { return EMBER_SOURCE_DIR; }

// The Python with the reference tools (tools/setup.sh makes .venv).
inline std::string python() {
  if (const char* e = std::getenv("EMBER_PYTHON")) return e;
  return std::string(EMBER_SOURCE_DIR) + "/.venv/bin/python";
}

}  // namespace ember::test

// Skips the current test when a shared asset is missing (a user's clone has no ../shared).
#define EMBER_REQUIRE_ASSET(rel)                                                          \
  do {                                                                                    \
    if (!std::filesystem::exists(::ember::test::asset(rel)))                              \
      GTEST_SKIP() << "shared asset not found: " << ::ember::test::asset(rel)             \
                   << " (../shared/assets is absent in a user's clone)";                  \
  } while (0)
