#include "acme/jws/nonce.hpp"

#include <limits>

#include "ca/base/encoding.hpp"
#include "ca/crypto/crypto.hpp"

namespace sigil::acme::jws {
namespace {
constexpr std::size_t kExpiryBytes = 8, kRandomBytes = 16, kMacBytes = 16;
constexpr std::size_t kSignedBytes = kExpiryBytes + kRandomBytes;
constexpr std::size_t kNonceBytes = kSignedBytes + kMacBytes;

Bytes mac(const Bytes& key, crypto::ByteView signed_part) {
  Bytes m = crypto::hmac_sha256(key, signed_part);
  m.resize(kMacBytes);
  return m;
}
}  // namespace

Result<NonceStore> NonceStore::create(Bytes key, store::ClusterStore& spent, const Clock& clock, Seconds lifetime,
                                      TimePoint issued_since) {
  if (key.size() != kNonceKeySize)
    return make_error(Errc::invalid_argument, "the ACME nonce key must be " + std::to_string(kNonceKeySize) +
                                                  " bytes, not " + std::to_string(key.size()));
  return NonceStore(std::move(key), spent, clock, lifetime, issued_since);
}

NonceStore::NonceStore(Bytes key, store::ClusterStore& spent, const Clock& clock, Seconds lifetime,
                       TimePoint issued_since)
    : key_(std::move(key)),
      spent_(&spent),
      clock_(&clock),
      lifetime_(lifetime),
      oldest_expiry_(issued_since == TimePoint::min() ? std::numeric_limits<std::int64_t>::min()
                                                      : to_unix(issued_since) + lifetime.count()) {}

std::string NonceStore::issue() {
  const auto expiry = static_cast<std::uint64_t>(to_unix(clock_->now() + lifetime_));
  Bytes n(kExpiryBytes);
  for (std::size_t i = 0; i < kExpiryBytes; ++i) n[i] = static_cast<std::uint8_t>(expiry >> (8 * (7 - i)));
  const Bytes random = crypto::random_bytes(kRandomBytes);
  n.insert(n.end(), random.begin(), random.end());
  const Bytes m = mac(key_, n);
  n.insert(n.end(), m.begin(), m.end());
  return base64url_encode(n);
}

Result<bool> NonceStore::redeem(std::string_view nonce) {
  auto raw = base64url_decode(nonce);
  if (!raw || raw->size() != kNonceBytes) return false;
  // One spelling per nonce: unused trailing bits set would make a second string for the same
  // bytes, and the spent record is keyed by the string.
  if (base64url_encode(*raw) != nonce) return false;
  const crypto::ByteView signed_part(raw->data(), kSignedBytes);
  const crypto::ByteView given(raw->data() + kSignedBytes, kMacBytes);
  if (!crypto::constant_time_equal(mac(key_, signed_part), given)) return false;
  std::uint64_t expiry = 0;
  for (std::size_t i = 0; i < kExpiryBytes; ++i) expiry = (expiry << 8) | (*raw)[i];
  const std::int64_t now = to_unix(clock_->now());
  if (expiry > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
  const auto expires_at = static_cast<std::int64_t>(expiry);
  if (expires_at <= now || expires_at < oldest_expiry_) return false;
  return spent_->spend_nonce(std::string(nonce), expires_at, now);
}

}  // namespace sigil::acme::jws
