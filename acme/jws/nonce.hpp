#pragma once
// Anti-replay nonces (RFC 8555 §6.5): random, single-use, expiring, held in memory (a restart
// forgets them; clients retry on badNonce with the fresh nonce every response carries).
// Bounded: at most `capacity` nonces are tracked (the oldest go first), and a redeemed or
// expired one is forgotten at once, so neither issuing nor redeeming can grow memory.
#include <chrono>
#include <cstddef>
#include <list>
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
  // True exactly once for a nonce this store issued that has not expired. The WFE redeems only
  // after the JWS signature verified, so a forged request cannot spend someone else's nonce.
  bool redeem(std::string_view nonce);
  // Nonces tracked (live and not yet redeemed); never more than the capacity.
  std::size_t size() const;

 private:
  struct Entry {
    TimePoint expiry;
    std::string nonce;
  };
  using Queue = std::list<Entry>;  // issue order == expiry order; erased from anywhere on redeem

  void evict_locked(TimePoint now);
  const Clock& clock_;
  Seconds lifetime_;
  std::size_t capacity_;
  mutable std::mutex mu_;
  Queue by_expiry_;
  std::unordered_map<std::string, Queue::iterator> live_;  // nonce -> its entry in by_expiry_
};

}  // namespace sigil::acme::jws
