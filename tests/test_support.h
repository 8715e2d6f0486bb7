#pragma once
// Helpers shared by the tests: where the shared assets are, and skipping when they are absent.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
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

// TMP/<tag>_<pid>_<current test's name>: a folder of the running test's own, apart from
// parallel ctest processes and from the other tests of the suite. Not created.
inline std::filesystem::path per_test_dir(const std::string& tag) {
  return std::filesystem::temp_directory_path() /
         (tag + "_" + std::to_string(::getpid()) + "_" +
          ::testing::UnitTest::GetInstance()->current_test_info()->name());
}

// Where tools/fetch-models.sh puts model NAME ($XDG_CACHE_HOME/ember/models/NAME, else
// ~/.cache/...): the real models the parity tests use when they were fetched.
inline std::filesystem::path fetched_model(const std::string& name) {
  const char* x = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::filesystem::path root =
      x && *x ? std::filesystem::path(x) : std::filesystem::path(home ? home : "/") / ".cache";
  return root / "ember" / "models" / name;
}

inline std::string ember_binary() { return EMBER_BINARY; }
inline std::string source_dir() { return EMBER_SOURCE_DIR; }

// The Python with the reference tools (tools/setup.sh makes .venv).
inline std::string python() {
  if (const char* e = std::getenv("EMBER_PYTHON")) return e;
  return std::string(EMBER_SOURCE_DIR) + "/.venv/bin/python";
}

struct CommandResult {
  int code = -1;    // exit status; -1 when the command did not exit normally
  std::string out;  // what it printed (stderr too when the command line redirects it)
};

// Runs a shell command line and collects its standard output.
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Runs the ember binary with ARGS (a shell-quoted string), stdout and stderr together.
inline CommandResult run_ember(const std::string& args) {
  return run_command(ember_binary() + " " + args + " 2>&1");
}

}  // namespace ember::test

// Skips the current test when a shared asset is missing (a user's clone has no ../shared).
#define EMBER_REQUIRE_ASSET(rel)                                                          \
  do {                                                                                    \
    if (!std::filesystem::exists(::ember::test::asset(rel)))                              \
      GTEST_SKIP() << "shared asset not found: " << ::ember::test::asset(rel)             \
                   << " (../shared/assets is absent in a user's clone)";                  \
  } while (0)
