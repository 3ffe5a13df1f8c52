#include "acme/jws/nonce.hpp"

#include "ca/base/encoding.hpp"
#include "ca/crypto/crypto.hpp"

namespace sigil::acme::jws {

NonceStore::NonceStore(const Clock& clock, Seconds lifetime, std::size_t capacity)
    : clock_(clock), lifetime_(lifetime), capacity_(capacity < 1 ? 1 : capacity) {}

std::string NonceStore::issue() {
  std::string n = base64url_encode(crypto::random_bytes(16));
  const TimePoint now = clock_.now();
  std::lock_guard lock(mu_);
  evict_locked(now);
  while (by_expiry_.size() >= capacity_) {  // full: the oldest go first
    live_.erase(by_expiry_.front().nonce);
    by_expiry_.pop_front();
  }
  by_expiry_.push_back(Entry{now + lifetime_, n});
  live_.emplace(n, std::prev(by_expiry_.end()));
  return n;
}

bool NonceStore::redeem(std::string_view nonce) {
  const TimePoint now = clock_.now();
  std::lock_guard lock(mu_);
  evict_locked(now);
  auto it = live_.find(std::string(nonce));
  if (it == live_.end()) return false;
  const bool fresh = it->second->expiry > now;
  by_expiry_.erase(it->second);
  live_.erase(it);
  return fresh;
}

std::size_t NonceStore::size() const {
  std::lock_guard lock(mu_);
  return by_expiry_.size();
}

void NonceStore::evict_locked(TimePoint now) {
  while (!by_expiry_.empty() && by_expiry_.front().expiry <= now) {
    live_.erase(by_expiry_.front().nonce);
    by_expiry_.pop_front();
  }
}

}  // namespace sigil::acme::jws
