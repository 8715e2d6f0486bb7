#include "tools/ember/sampling_options.h"

namespace ember::cli {

void add_sampling_options(CLI::App* cmd, SamplingParams& sp) {
  cmd->add_option("--temperature", sp.temperature, "Sampling temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--top-k", sp.top_k, "Keep the k most likely tokens (0: off)")->capture_default_str();
  cmd->add_option("--top-p", sp.top_p, "Nucleus: smallest set with this mass (1: off)")->capture_default_str();
  cmd->add_option("--min-p", sp.min_p, "Keep tokens with p >= min_p * p_max (0: off)")->capture_default_str();
  cmd->add_option("--typical-p", sp.typical_p, "Locally typical sampling (1: off)")->capture_default_str();
  cmd->add_option("--repetition-penalty", sp.repetition_penalty, "HF-style, over prompt and reply (1: off)")
      ->capture_default_str();
  cmd->add_option("--presence-penalty", sp.presence_penalty, "OpenAI-style, over the reply (0: off)")
      ->capture_default_str();
  cmd->add_option("--frequency-penalty", sp.frequency_penalty, "OpenAI-style, over the reply (0: off)")
      ->capture_default_str();
  cmd->add_option("--xtc-probability", sp.xtc_probability,
                  "Exclude-top-choices: chance per step of dropping the likeliest tokens (0: off)")
      ->capture_default_str();
  cmd->add_option("--xtc-threshold", sp.xtc_threshold, "XTC: tokens at or above this p qualify")
      ->capture_default_str();
  cmd->add_option("--target-entropy", sp.target_entropy,
                  "Adapt the temperature each step to hold this entropy in nats (0: off)")
      ->capture_default_str();
}

}  // namespace ember::cli
