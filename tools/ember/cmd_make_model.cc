#include "engine/core/error.h"
#include "tools/ember/commands.h"

namespace ember::cli {

void add_make_model_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("make-model", "(not yet implemented)");
  cmd->callback([] { fail("make-model: not implemented yet"); });
}

}  // namespace ember::cli
