// `ember serve`'s unique-reply flags through the binary: a bad styles file or upstream URL stops
// the server before any model loads, with the file and entry (or the flag) named; out-of-range
// values are usage errors.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("ember-unique-cli-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

// A port nobody serves: these runs must fail before they would listen.
const std::string kServe = "serve --host 127.0.0.1 --port 0 --wallet.path /nonexistent-wallets ";

// `ember serve` with `flags` exits with `code` (1: a flag's value refused, 2: a usage error) and
// says `message`; returns what it printed.
std::string expect_serve_refused(const std::string& flags, int code, const std::string& message) {
  SCOPED_TRACE(flags);
  auto r = ember::test::run_ember(kServe + flags);
  EXPECT_EQ(r.code, code) << r.out;
  EXPECT_THAT(r.out, HasSubstr(message));
  return r.out;
}

TEST(UniqueCli, BadStylesFileNamesTheFileAndEntry) {
  TempDir t;
  const fs::path f = t.path / "styles.toml";
  std::ofstream(f) << "[[styles]]\nname = \"pirate\"\ntext = \"Arr.\"\nweight = -2\n";
  const std::string out = expect_serve_refused(
      "--styles " + f.string(), 1, f.string() + ": styles[0] (\"pirate\"): `weight` must be a finite number >= 0, got -2");
  EXPECT_THAT(out, ::testing::Not(HasSubstr("loaded")));  // before the model

  expect_serve_refused("--styles " + (t.path / "missing.json").string(), 1, "missing.json: cannot open the file");
}

TEST(UniqueCli, BadUpstreamAndRangesAreRefused) {
  expect_serve_refused("--upstream https://api.example.com/v1", 1,
                       "--upstream https://api.example.com/v1: expected http://HOST[:PORT][/PATH]");
  expect_serve_refused("--best-of 17", 2, "--best-of");
  expect_serve_refused("--select best", 2, "--select");
  expect_serve_refused("--style-placement before", 2, "--style-placement");
  expect_serve_refused("--best-of 4 --select-anchors 9", 2, "--select-anchors");
  expect_serve_refused("--best-of 4 --select-anchors 1 --select-target-distance -0.1", 2,
                       "--select-target-distance");
}

TEST(UniqueCli, AnchorsWithoutAChoiceToMakeAreRefused) {
  expect_serve_refused("--best-of 4 --select first --select-anchors 2", 1,
                       "--select-anchors 2: anchors only serve --select unique");
  expect_serve_refused("--styles builtin --select-anchors 1", 1,
                       "--select-anchors 1: there is no choice to make with one candidate");
}

}  // namespace
