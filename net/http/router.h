#pragma once
// Exact-path routing by method, with a fallback for unmatched paths. Sets HttpRequest::route to
// the matched path so that metrics label requests by route, not by whatever path was sent.
#include <string>
#include <vector>

#include "net/http/server.h"

namespace ember::net::http {

class Router {
 public:
  void add(std::string method, std::string path, Handler h);
  // Handles paths no route matches (default: 404 {"message": "Not Found"}).
  void set_fallback(Handler h) { fallback_ = std::move(h); }
  void handle(HttpRequest& req, ResponseWriter& w) const;
  Handler as_handler() const {
    return [this](HttpRequest& req, ResponseWriter& w) { handle(req, w); };
  }

 private:
  struct Route {
    std::string method, path;
    Handler handler;
  };
  std::vector<Route> routes_;
  Handler fallback_;
};

}  // namespace ember::net::http
