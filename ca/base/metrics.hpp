#pragma once
// A small metrics registry rendered as Prometheus text (exposition format 0.0.4).
// Counters and gauges with labels, and fixed-bucket histograms. Thread-safe.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sigil {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  void add(const std::string& name, const Labels& labels, double v = 1);      // counter
  void set(const std::string& name, const Labels& labels, double v);          // gauge
  void observe(const std::string& name, const Labels& labels, double value);  // histogram (seconds)
  // A gauge computed at scrape time (e.g. certificates expiring within 7 days).
  void gauge_fn(const std::string& name, const std::string& help, std::function<double()> fn);
  void describe(const std::string& name, const std::string& type, const std::string& help);
  std::string render() const;
  double value(const std::string& name, const Labels& labels) const;  // counters/gauges, for tests

 private:
  struct Histogram {
    std::vector<double> counts;  // per bucket, cumulative at render
    double sum = 0;
    double count = 0;
  };
  struct Family {
    std::string type = "counter";
    std::string help;
    std::map<Labels, double> values;
    std::map<Labels, Histogram> histograms;
    std::function<double()> fn;
  };
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

}  // namespace sigil
