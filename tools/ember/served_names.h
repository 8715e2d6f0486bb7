#pragma once
// The names `ember serve` answers to (vLLM's --served-model-name). By default: the model
// folder's name and the Hugging Face id the folder records, so that a validator asking for
// "Qwen/Qwen2.5-Coder-0.5B-Instruct" and a client asking for the folder's name both get it.
#include <string>
#include <vector>

namespace ember::cli {

// config.json's `_name_or_path` when it is a Hugging Face id ("org/name"), not a local path
// (transformers writes whichever it loaded from); "" when the folder records none.
std::string recorded_hf_id(const std::string& model_dir);

// `folder_name` first (what /v1/models shows first and replies echo for a null `model`), then
// the recorded id when there is one and it differs.
std::vector<std::string> default_served_names(const std::string& model_dir, const std::string& folder_name);

}  // namespace ember::cli
