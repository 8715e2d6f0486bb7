#include "net/http/router.h"

namespace ember::net::http {

void Router::add(std::string method, std::string path, Handler h) {
  routes_.push_back({std::move(method), std::move(path), std::move(h)});
}

void Router::handle(HttpRequest& req, ResponseWriter& w) const {
  std::string allow;
  for (const auto& r : routes_) {
    if (r.path != req.path) continue;
    if (r.method == req.method) {
      req.route = r.path;
      r.handler(req, w);
      return;
    }
    if (!allow.empty()) allow += ", ";
    allow += r.method;
  }
  if (!allow.empty()) {
    req.route = req.path;
    auto resp = json_error(405, "Method Not Allowed");
    resp.header("Allow", allow);
    w.send(resp);
    return;
  }
  if (fallback_) {
    fallback_(req, w);
    return;
  }
  w.send(json_error(404, "Not Found"));
}

}  // namespace ember::net::http
