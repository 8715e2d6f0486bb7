#pragma once
// The built-in demo model of `ember serve` without --model: one of the project's own random
// tiny models (fixed seed, llama architecture, byte-level tokenizer), so a fresh install can
// answer requests end to end. Its weights are random: it produces gibberish.
#include <string>

namespace ember::cli {

// $XDG_CACHE_HOME/ember/demo-model, else ~/.cache/ember/demo-model.
std::string demo_model_cache_dir();

// The demo model's folder: reused when a complete copy is there, else written first (into a
// temporary sibling, renamed into place, so an interrupted run never leaves a half model).
std::string ensure_demo_model();

}  // namespace ember::cli
