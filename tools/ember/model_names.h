#pragma once
// Where ember keeps what it makes or fetches ($XDG_CACHE_HOME/ember, else ~/.cache/ember), and
// the short model names that `--model` accepts: a model that tools/fetch-models.sh converted
// into <cache>/models/NAME is `--model NAME` (a folder of that name in the working directory
// wins, as any path does).
#include <string>

namespace ember::cli {

// $XDG_CACHE_HOME/ember, else $HOME/.cache/ember; throws when neither is set.
std::string ember_cache_root();

// <cache>/models: the folders tools/fetch-models.sh writes.
std::string fetched_models_dir();

// `arg` itself when it names an existing path (or is empty); else the fetched model of that
// name. A missing path fails; a bare name that matches nothing fails too, listing what was
// fetched and what can be.
std::string resolve_model_arg(const std::string& arg);

}  // namespace ember::cli
