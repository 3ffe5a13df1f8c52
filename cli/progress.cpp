#include "cli/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sigil::cli {

namespace {
bool stderr_is_terminal() {
  const char* term = std::getenv("TERM");
  return isatty(STDERR_FILENO) == 1 && !(term != nullptr && std::strcmp(term, "dumb") == 0);
}
}  // namespace

Progress::Progress(std::string label) : label_(std::move(label)), tty_(stderr_is_terminal()) {}

Progress::~Progress() {
  if (drawn_) std::fputs("\r\033[K", stderr);
}

void Progress::update(std::int64_t done, std::int64_t total) {
  if (!tty_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool last = total > 0 && done >= total;
  if (drawn_ && !last && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  drawn_ = true;
  constexpr int kWidth = 30;
  if (total <= 0) {
    std::fprintf(stderr, "\r\033[K%s %lld", label_.c_str(), static_cast<long long>(done));
  } else {
    const double f = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    const int full = static_cast<int>(f * kWidth);
    std::string bar(static_cast<std::size_t>(full), '#');
    bar.append(static_cast<std::size_t>(kWidth - full), '.');
    std::fprintf(stderr, "\r\033[K%s [%s] %3d%% %lld/%lld", label_.c_str(), bar.c_str(), static_cast<int>(f * 100),
                 static_cast<long long>(done), static_cast<long long>(total));
  }
  std::fflush(stderr);
}

}  // namespace sigil::cli
