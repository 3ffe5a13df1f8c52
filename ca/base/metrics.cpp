#include "ca/base/metrics.hpp"

#include <cstdio>

namespace sigil {
namespace {
constexpr double kBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}
std::string render_labels(const Labels& labels, const std::string& extra_k = "", const std::string& extra_v = "") {
  if (labels.empty() && extra_k.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    out += (first ? "" : ",") + k + "=\"" + escape(v) + "\"";
    first = false;
  }
  if (!extra_k.empty()) out += (first ? "" : ",") + extra_k + "=\"" + extra_v + "\"";
  return out + "}";
}
std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}
}  // namespace

void Metrics::add(const std::string& name, const Labels& labels, double v) {
  std::lock_guard lock(mu_);
  families_[name].values[labels] += v;
}

void Metrics::set(const std::string& name, const Labels& labels, double v) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.type = "gauge";
  f.values[labels] = v;
}

void Metrics::observe(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.type = "histogram";
  auto& h = f.histograms[labels];
  if (h.counts.empty()) h.counts.assign(std::size(kBuckets), 0);
  for (std::size_t i = 0; i < std::size(kBuckets); ++i)
    if (value <= kBuckets[i]) {
      h.counts[i] += 1;
      break;
    }
  h.sum += value;
  h.count += 1;
}

void Metrics::gauge_fn(const std::string& name, const std::string& help, std::function<double()> fn) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.type = "gauge";
  f.help = help;
  f.fn = std::move(fn);
}

void Metrics::describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.type = type;
  f.help = help;
}

double Metrics::value(const std::string& name, const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto v = it->second.values.find(labels);
  return v == it->second.values.end() ? 0 : v->second;
}

std::string Metrics::render() const {
  // Scrape-time gauges may take their own locks: evaluate them outside ours.
  std::map<std::string, std::function<double()>> fns;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, f] : families_)
      if (f.fn) fns[name] = f.fn;
  }
  std::map<std::string, double> computed;
  for (const auto& [name, fn] : fns) computed[name] = fn();

  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    if (!f.help.empty()) out += "# HELP " + name + " " + f.help + "\n";
    out += "# TYPE " + name + " " + f.type + "\n";
    if (f.fn) {
      out += name + " " + num(computed[name]) + "\n";
      continue;
    }
    for (const auto& [labels, v] : f.values) out += name + render_labels(labels) + " " + num(v) + "\n";
    for (const auto& [labels, h] : f.histograms) {
      double cum = 0;
      for (std::size_t i = 0; i < std::size(kBuckets); ++i) {
        cum += h.counts[i];
        out += name + "_bucket" + render_labels(labels, "le", num(kBuckets[i])) + " " + num(cum) + "\n";
      }
      out += name + "_bucket" + render_labels(labels, "le", "+Inf") + " " + num(h.count) + "\n";
      out += name + "_sum" + render_labels(labels) + " " + num(h.sum) + "\n";
      out += name + "_count" + render_labels(labels) + " " + num(h.count) + "\n";
    }
  }
  return out;
}

}  // namespace sigil
