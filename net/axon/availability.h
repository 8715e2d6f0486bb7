#pragma once
// POST /availability (validators-today.md §3): validators ask which tasks and models a miner
// serves before sending it model-specific work. Unsigned, as in the reference miner.
#include <string>
#include <string_view>
#include <vector>

namespace ember::net::axon {

// Every key of the request's "task_availabilities" and "llm_model_availabilities" objects,
// mapped to whether this miner serves it: a task when it is in `tasks` (or `tasks` holds "*"),
// a model when it is one of `models` exactly. The request's own values are ignored; a missing
// object answers as an empty one. Throws ember::Error for a body that is not such a JSON object.
std::string availability_reply(std::string_view body, const std::vector<std::string>& models,
                               const std::vector<std::string>& tasks);

}  // namespace ember::net::axon
