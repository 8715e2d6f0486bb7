#pragma once
// `ember serve --config FILE.toml`: TOML keys are the command's flag names without the leading
// dashes (`port = 8091`, `wallet.path = "..."` or a [wallet] table, `require-permit = true`).
// A flag given on the command line wins over the file.
#include <string>

#include <CLI/CLI.hpp>

namespace ember::cli {

// Sets every option of `cmd` that the command line left unset from FILE, through the option's
// own conversion and checks. Throws ember::Error naming the file and key for an unknown key, a
// value of the wrong kind, or a TOML syntax error.
void apply_toml_config(CLI::App& cmd, const std::string& file);

}  // namespace ember::cli
