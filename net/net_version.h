#pragma once
// ember's version as the server reports it (GET /version).
namespace ember::net {
const char* net_version();
}  // namespace ember::net
