#pragma once
// Each subcommand lives in its own file and registers itself on the root app.
#include <CLI/CLI.hpp>

namespace ember::cli {

void add_bench_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_embed_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_key_command(CLI::App& app);
void add_make_model_command(CLI::App& app);
void add_query_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_template_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);

}  // namespace ember::cli
