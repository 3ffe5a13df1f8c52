#pragma once
// Time is a dependency: production code asks a Clock, tests travel with a FakeClock.
#include <chrono>
#include <cstdint>
#include <mutex>

namespace sigil {

using TimePoint = std::chrono::system_clock::time_point;
using Seconds = std::chrono::seconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start) : now_(start) {}
  TimePoint now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void advance(std::chrono::system_clock::duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }
  void set(TimePoint t) {
    std::lock_guard lock(mu_);
    now_ = t;
  }

 private:
  mutable std::mutex mu_;
  TimePoint now_;
};

inline std::int64_t to_unix(TimePoint t) { return std::chrono::duration_cast<Seconds>(t.time_since_epoch()).count(); }
// TimePoint counts nanoseconds in 64 bits (years 1678..2262): seconds outside that range
// saturate instead of overflowing.
inline TimePoint from_unix(std::int64_t s) {
  constexpr std::int64_t kMax = 9'200'000'000;  // 2261-07-13
  return TimePoint(Seconds(s > kMax ? kMax : s < -kMax ? -kMax : s));
}

}  // namespace sigil
