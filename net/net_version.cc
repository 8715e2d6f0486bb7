// ember's version as the server reports it (GET /version); `ember --version` prints the same.
#include "net/net_version.h"

namespace ember::net {
const char* net_version() { return "0.1.0"; }
}  // namespace ember::net
