#pragma once
// A progress bar for long operations (migrate, backup, bulk revocation), drawn on stderr only when
// stderr is a terminal: nothing at all in a pipe, a log or a cron mail. At most ten redraws a
// second; the line is cleared when the operation ends, so the command's result prints as usual.
#include <chrono>
#include <cstdint>
#include <string>

namespace sigil::cli {

class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress();  // clears the line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` of `total` units (total 0: unknown, the count alone is shown).
  void update(std::int64_t done, std::int64_t total);
  bool shown() const { return tty_; }

 private:
  std::string label_;
  bool tty_ = false;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace sigil::cli
