#include "net/metrics/prometheus.h"

#include <cmath>

#include <fmt/format.h>

namespace ember::net::metrics {
namespace {

void header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void render_hist_series(std::string& out, std::string_view name, std::string_view labels,
                        const std::vector<double>& bounds, const HistogramSnapshot& h) {
  std::string sep = labels.empty() ? "" : ",";
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cum += i < h.bucket_counts.size() ? h.bucket_counts[i] : 0;
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep,
                   format_value(bounds[i]), cum);
  }
  fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep,
                 h.count);
  std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
  fmt::format_to(std::back_inserter(out), "{}_sum{} {}\n{}_count{} {}\n", name, braces,
                 format_value(h.sum), name, braces, h.count);
}

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

std::string format_labels(const std::vector<std::string>& names, const Labels& values) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    for (char c : values[i]) {
      if (c == '\\') out += "\\\\";
      else if (c == '"') out += "\\\"";
      else if (c == '\n') out += "\\n";
      else out += c;
    }
    out += '"';
  }
  return out;
}

CounterFamily::CounterFamily(std::string name, std::string help,
                             std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void CounterFamily::add(const Labels& values, double v) {
  std::lock_guard lk(mu_);
  values_[values] += v;
}

double CounterFamily::value(const Labels& values) const {
  std::lock_guard lk(mu_);
  auto it = values_.find(values);
  return it == values_.end() ? 0 : it->second;
}

void CounterFamily::render(std::string& out) const {
  header(out, name_, help_, "counter");
  std::lock_guard lk(mu_);
  for (const auto& [labels, v] : values_) {
    if (label_names_.empty())
      fmt::format_to(std::back_inserter(out), "{} {}\n", name_, format_value(v));
    else
      fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name_,
                     format_labels(label_names_, labels), format_value(v));
  }
}

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> label_names,
                                 std::vector<double> upper_bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bounds_(std::move(upper_bounds)) {}

void HistogramFamily::observe(const Labels& values, double v) {
  std::lock_guard lk(mu_);
  auto& h = values_[values];
  if (h.bucket_counts.empty()) h.bucket_counts.assign(bounds_.size() + 1, 0);
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  h.bucket_counts[i]++;
  h.sum += v;
  h.count++;
}

uint64_t HistogramFamily::count(const Labels& values) const {
  std::lock_guard lk(mu_);
  auto it = values_.find(values);
  return it == values_.end() ? 0 : it->second.count;
}

void HistogramFamily::render(std::string& out) const {
  header(out, name_, help_, "histogram");
  std::lock_guard lk(mu_);
  for (const auto& [labels, h] : values_)
    render_hist_series(out, name_, format_labels(label_names_, labels), bounds_, h);
}

void render_gauge(std::string& out, std::string_view name, std::string_view help, double v) {
  header(out, name, help, "gauge");
  fmt::format_to(std::back_inserter(out), "{} {}\n", name, format_value(v));
}

void render_counter(std::string& out, std::string_view name, std::string_view help, double v) {
  header(out, name, help, "counter");
  fmt::format_to(std::back_inserter(out), "{} {}\n", name, format_value(v));
}

void render_histogram(std::string& out, std::string_view name, std::string_view help,
                      const HistogramSnapshot& h, std::string_view labels) {
  header(out, name, help, "histogram");
  render_hist_series(out, name, labels, h.upper_bounds, h);
}

}  // namespace ember::net::metrics
