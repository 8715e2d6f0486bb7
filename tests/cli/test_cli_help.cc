// `ember --help` and every subcommand's --help: exit 0 and name the flags a user needs; an
// unknown flag or subcommand is a usage error (exit 2) with a message.
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace {

using ember::test::run_ember;
using ::testing::HasSubstr;

TEST(CliHelp, RootListsEverySubcommand) {
  auto r = run_ember("--help");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* sub : {"bench", "chat", "generate", "inspect", "key", "make-model", "query",
                          "serve", "template", "tokenize", "detokenize"})
    EXPECT_THAT(r.out, HasSubstr(sub)) << sub;
}

TEST(CliHelp, EverySubcommandDocumentsItsFlags) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"generate", {"--model", "--prompt", "--prompt-ids", "--max-tokens", "--temperature",
                    "--seed", "--raw", "--print-ids", "--backend", "--threads"}},
      {"chat", {"--model", "--system", "--max-tokens", "--seed", "--kv-cache-gb", "--backend",
                "--show-prompt"}},
      {"bench", {"--model", "--prompts", "--concurrency", "--requests", "--max-tokens", "--json",
                 "--dummy-weights", "--backend", "--kv-cache-dtype"}},
      {"inspect", {"--model"}},
      {"make-model", {"--arch", "--out", "--hidden", "--layers", "--heads", "--kv-heads",
                      "--intermediate", "--vocab", "--dtype", "--seed"}},
      {"serve", {"--model", "--host", "--port", "--wallet.path", "--wallet.name",
                 "--wallet.hotkey", "--allow-hotkeys", "--block-hotkeys", "--metagraph",
                 "--config", "--kv-cache-gb", "--kv-cache-dtype", "--backend",
                 "--deadline-margin-ms", "--temperature", "--xtc-probability", "--target-entropy"}},
      {"query", {"--axon", "--prompt", "--concurrency", "--requests", "--wallet.name"}},
      {"template", {"--model", "--tokenizer-config", "--template", "--bos", "--eos",
                    "--messages", "--add-generation-prompt"}},
      {"tokenize", {"--tokenizer", "--file", "--add-special"}},
      {"detokenize", {"--tokenizer", "--ids"}},
      {"key new", {"--wallet.path", "--wallet.name", "--wallet.hotkey"}},
      {"key show", {"--wallet.name"}},
      {"key sign", {"--wallet.name"}},
      {"key verify", {}},
  };
  for (const auto& [sub, flags] : cases) {
    auto r = run_ember(sub + " --help");
    EXPECT_EQ(r.code, 0) << sub << ": " << r.out;
    for (const auto& f : flags) EXPECT_THAT(r.out, HasSubstr(f)) << sub << " --help lacks " << f;
  }
}

TEST(CliHelp, BadFlagsAndSubcommandsExitTwo) {
  for (const char* args : {"", "no-such-command", "generate --no-such-flag",
                           "serve --port notanumber", "inspect", "key", "tokenize --file"}) {
    auto r = run_ember(args);
    EXPECT_EQ(r.code, 2) << "ember " << args << ": " << r.out;
    EXPECT_FALSE(r.out.empty()) << "ember " << args << " printed no message";
  }
}

}  // namespace
