#pragma once
// How every command shows a model loading: progress on a terminal (bytes mapped, tensors
// checked), then one line with the time taken, wherever stderr goes.
#include <string>

#include "engine/model/safetensors.h"
#include "engine/serve/transformer_runner.h"

namespace ember::cli {

std::string human_bytes(double bytes);

// Carriage-return progress on stderr when it is a terminal; none otherwise (a log file gets
// the summary, not a stream of carriage returns).
ProgressFn terminal_progress();

// Clears the progress line and prints "[loaded ... in X s ...]" to stderr.
void print_load_summary(const LoadSummary& s);

}  // namespace ember::cli
