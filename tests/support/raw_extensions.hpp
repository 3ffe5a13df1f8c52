// Extension lists written by hand (duplicates, explicit critical FALSE, unknown OIDs, tens of
// thousands of entries: what no well-behaved encoder writes), and a certificate carrying one, for
// the tests of the extension walker and of what reaches it (ACME revokeCert).
#pragma once

#include <string>
#include <vector>

#include "ca/crypto/crypto.hpp"
#include "ca/crypto/der.hpp"
#include "ca/crypto/x509.hpp"
#include "tests/support/keys.hpp"

namespace sigil::test {

namespace tag = crypto::der::tag;
using crypto::der::Writer;

enum class Crit { absent, critical, explicit_false };
struct RawExt {
  Bytes oid;
  Crit crit = Crit::absent;
  Bytes value;  // extnValue contents
};

inline Bytes bytes_of(crypto::ByteView v) { return Bytes(v.begin(), v.end()); }

// 1.3.6.1.4.1.55555.n (a private arc no code knows), distinct for every n.
inline Bytes private_oid(std::size_t n) {
  Bytes o = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb2, 0x03};  // 1.3.6.1.4.1.55555
  Bytes sub;
  do {
    sub.insert(sub.begin(), static_cast<std::uint8_t>((n & 0x7f) | (sub.empty() ? 0 : 0x80)));
    n >>= 7;
  } while (n > 0);
  o.insert(o.end(), sub.begin(), sub.end());
  return o;
}

inline RawExt unknown(std::size_t n, Crit c = Crit::absent) { return {private_oid(n), c, {0x05, 0x00}}; }
// `n` distinct unknown, non-critical extensions: each one valid on its own.
inline std::vector<RawExt> many_unknown(std::size_t n) {
  std::vector<RawExt> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(unknown(i));
  return out;
}

inline void write_extensions(Writer& w, const std::vector<RawExt>& exts) {
  const auto seq = w.begin(tag::kSequence);
  for (const RawExt& e : exts) {
    const auto x = w.begin(tag::kSequence);
    w.oid(e.oid);
    if (e.crit != Crit::absent) w.boolean(e.crit == Crit::critical);
    w.octet_string(e.value);
    w.end(x);
  }
  w.end(seq);
}

// A v3 certificate for `cn` (subject = issuer), valid a day from t0(), with `exts`, signed by `key`.
inline Bytes raw_certificate(const crypto::Signer& key, const std::string& cn, const std::vector<RawExt>& exts) {
  Writer w;
  const auto m = w.begin(tag::kSequence);
  const auto v = w.begin(tag::context_constructed(0));
  w.small_integer(2);
  w.end(v);
  const std::uint8_t serial[] = {0x4e, 0x01};
  w.unsigned_integer(serial);
  w.raw(crypto::algorithm_identifier(key.signature_algorithm()));
  const Bytes name = crypto::encode_name(cn);
  w.raw(name);
  const auto validity = w.begin(tag::kSequence);
  w.time(t0());
  w.time(t0() + Seconds(86400));
  w.end(validity);
  w.raw(name);
  w.raw(key.public_key().spki);
  const auto wrap = w.begin(tag::context_constructed(3));
  write_extensions(w, exts);
  w.end(wrap);
  w.end(m);
  const Bytes tbs = w.take();
  auto sig = key.sign(tbs);
  REQUIRE(sig.has_value());
  return crypto::assemble_signed(tbs, key.signature_algorithm(), *sig);
}

}  // namespace sigil::test
