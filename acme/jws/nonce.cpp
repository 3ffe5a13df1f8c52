#include "acme/jws/nonce.hpp"

#include "ca/base/encoding.hpp"
#include "ca/crypto/crypto.hpp"

namespace sigil::acme::jws {

NonceStore::NonceStore(const Clock& clock, Seconds lifetime, std::size_t capacity)
    : clock_(clock), lifetime_(lifetime), capacity_(capacity) {}

std::string NonceStore::issue() {
  std::string n = base64url_encode(crypto::random_bytes(16));
  const TimePoint now = clock_.now();
  std::lock_guard lock(mu_);
  evict_locked(now);
  while (live_.size() >= capacity_ && !by_expiry_.empty()) {  // full: the oldest go first
    live_.erase(by_expiry_.front().second);
    by_expiry_.pop_front();
  }
  live_.emplace(n, now + lifetime_);
  by_expiry_.emplace_back(now + lifetime_, n);
  return n;
}

bool NonceStore::redeem(std::string_view nonce) {
  const TimePoint now = clock_.now();
  std::lock_guard lock(mu_);
  evict_locked(now);
  auto it = live_.find(std::string(nonce));
  if (it == live_.end()) return false;
  const bool fresh = it->second > now;
  live_.erase(it);  // its by_expiry_ entry goes when it expires (erase of a missing key is a no-op)
  return fresh;
}

std::size_t NonceStore::size() const {
  std::lock_guard lock(mu_);
  return live_.size();
}

void NonceStore::evict_locked(TimePoint now) {
  while (!by_expiry_.empty() && by_expiry_.front().first <= now) {
    live_.erase(by_expiry_.front().second);
    by_expiry_.pop_front();
  }
}

}  // namespace sigil::acme::jws
