#pragma once
// The sampler's flags, shared by the commands that sample (chat, serve) so that a setting has
// one name and one help text everywhere.
#include <CLI/CLI.hpp>

#include "engine/sample/sampling_params.h"

namespace ember::cli {

// --temperature, --top-k, --top-p, --min-p, --typical-p, the three penalties, --xtc-probability,
// --xtc-threshold and --target-entropy, defaulting to what `sp` holds.
void add_sampling_options(CLI::App* cmd, SamplingParams& sp);

}  // namespace ember::cli
