#pragma once
// Prometheus text exposition (format 0.0.4): labelled counters and histograms that the server
// updates from many threads, rendered on GET /metrics. Label values are escaped; callers keep
// label cardinality bounded (routes, not raw paths).
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "net/completion_service.h"

namespace ember::net::metrics {

using Labels = std::vector<std::string>;  // values, in the family's label-name order

class CounterFamily {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names);
  void add(const Labels& values, double v = 1);
  double value(const Labels& values) const;
  void render(std::string& out) const;

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  mutable std::mutex mu_;
  std::map<Labels, double> values_;
};

class HistogramFamily {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> upper_bounds);
  void observe(const Labels& values, double v);
  uint64_t count(const Labels& values) const;
  void render(std::string& out) const;

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<Labels, HistogramSnapshot> values_;
};

// Writers for one-off series (engine numbers sampled at scrape time).
void render_gauge(std::string& out, std::string_view name, std::string_view help, double v);
void render_counter(std::string& out, std::string_view name, std::string_view help, double v);
void render_histogram(std::string& out, std::string_view name, std::string_view help,
                      const HistogramSnapshot& h, std::string_view labels = {});

// `name="value",...` with Prometheus escaping of the values.
std::string format_labels(const std::vector<std::string>& names, const Labels& values);
// Prometheus number formatting (+Inf, NaN, shortest round-trip).
std::string format_value(double v);

}  // namespace ember::net::metrics
