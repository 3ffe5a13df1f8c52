#pragma once
// Anti-replay nonces (RFC 8555 §6.5) that every node of a cluster accepts: stateless to issue,
// recorded only when spent. A nonce is base64url(expiry (8 bytes, big-endian unix seconds) ||
// 16 random bytes || the first 16 bytes of HMAC-SHA256(key, those 24 bytes)); the key is shared
// by every node (the home's ca/acme-nonce.key), so any node can tell one of its own from a forged
// one, and the store's spent-nonce record (store::ClusterStore::spend_nonce, kept until the
// nonce's expiry) makes each one single-use across nodes. Issuing holds nothing in memory.
#include <cstdint>
#include <string>
#include <string_view>

#include "ca/base/clock.hpp"
#include "ca/base/error.hpp"
#include "ca/base/file.hpp"
#include "store/store.hpp"

namespace sigil::acme::jws {

inline constexpr std::size_t kNonceKeySize = 32;
inline constexpr Seconds kNonceLifetime{15 * 60};

class NonceStore {
 public:
  // `key`: kNonceKeySize bytes (invalid_argument otherwise, at start-up). `issued_since`: nonces
  // issued before it are refused; for a spent record that does not outlive the process (SQLite
  // keeps it in memory), the process's start, or a nonce spent before a restart could be
  // replayed after it. A durable record (PostgreSQL) needs no bound.
  static Result<NonceStore> create(Bytes key, store::ClusterStore& spent, const Clock& clock,
                                   Seconds lifetime = kNonceLifetime, TimePoint issued_since = TimePoint::min());
  std::string issue();  // never blocks, never touches the store
  // True exactly once for an unexpired nonce made with this key (by any node). False: a forged,
  // tampered, expired or replayed one (badNonce). An error: the store could not record it
  // (unavailable during a failover): the request fails, it is never accepted unrecorded.
  // The WFE redeems only after the JWS signature verified, so a forged request cannot spend
  // someone else's nonce.
  Result<bool> redeem(std::string_view nonce);

 private:
  NonceStore(Bytes key, store::ClusterStore& spent, const Clock& clock, Seconds lifetime, TimePoint issued_since);
  Bytes key_;
  store::ClusterStore* spent_;
  const Clock* clock_;
  Seconds lifetime_;
  std::int64_t oldest_expiry_;  // unix seconds: issued_since + lifetime
};

}  // namespace sigil::acme::jws
