// Keeps ember_net a real library while the axon sources land.
namespace ember::net {
const char* net_version() { return "0.1.0"; }
}  // namespace ember::net
