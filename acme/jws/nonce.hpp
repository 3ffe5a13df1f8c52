#pragma once
// Anti-replay nonces (RFC 8555 §6.5): random, single-use, expiring, held in memory (a restart
// forgets them; clients retry on badNonce with the fresh nonce every response carries).
#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ca/base/clock.hpp"

namespace sigil::acme::jws {

class NonceStore {
 public:
  NonceStore(const Clock& clock, Seconds lifetime = Seconds(15 * 60), std::size_t capacity = 200'000);
  std::string issue();  // 128 bits from the CSPRNG, base64url
  // True exactly once for a nonce this store issued that has not expired.
  bool redeem(std::string_view nonce);
  std::size_t size() const;

 private:
  void evict_locked(TimePoint now);
  const Clock& clock_;
  Seconds lifetime_;
  std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, TimePoint> live_;          // nonce -> expiry
  std::deque<std::pair<TimePoint, std::string>> by_expiry_;  // issue order == expiry order
};

}  // namespace sigil::acme::jws
