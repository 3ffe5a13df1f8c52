#pragma once
// Latencies gathered by the load generators' threads (each keeps its own, merged once at the
// end, so measuring takes no lock per request) and their percentiles.
#include <algorithm>
#include <cstddef>
#include <mutex>
#include <vector>

namespace sigil::bench {

class Latencies {
 public:
  void merge(const std::vector<double>& mine) {
    std::lock_guard lock(mu_);
    all_.insert(all_.end(), mine.begin(), mine.end());
    sorted_ = false;
  }
  // p in [0, 1]; 0 when nothing was recorded.
  double percentile(double p) {
    std::lock_guard lock(mu_);
    if (all_.empty()) return 0.0;
    if (!sorted_) std::sort(all_.begin(), all_.end());
    sorted_ = true;
    return all_[std::min(all_.size() - 1, static_cast<std::size_t>(p * static_cast<double>(all_.size())))];
  }

 private:
  std::mutex mu_;
  std::vector<double> all_;
  bool sorted_ = false;
};

}  // namespace sigil::bench
