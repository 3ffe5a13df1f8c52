// Deterministic mutation fuzzing of the parsers that see untrusted bytes. Seeded, so a failure
// reproduces; bounded, so it runs on every build. The libFuzzer harnesses in tests/fuzz/ go deeper.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ca/base/encoding.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/crypto/x509.hpp"
#include "tests/support/keys.hpp"
#include "tests/support/openssl.hpp"

namespace {

using namespace sigil;
using namespace sigil::crypto;
using test::cached_key;
using GN = GeneralName::Type;

constexpr std::uint64_t kSeed = 0x5161'1c0d'e5ee'd001;
constexpr int kDerMutations = 100000;
constexpr int kPemMutations = 5000;

std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  for (KeyType t : test::kAllKeyTypes) {
    const KeySigner& k = cached_key(t);
    auto csr = make_csr(k, encode_name("m.example.internal", "Org"),
                        {{GN::dns, "m.example.internal"},
                         {GN::ip, "10.0.0.1"},
                         {GN::uri, "spiffe://td/a"},
                         {GN::email, "a@m.example.internal"}});
    REQUIRE(csr.has_value());
    out.push_back(*csr);
    out.push_back(k.public_key().spki);
    const Bytes root = test::sign_spec(test::ca_spec(k, "Mutation Root"), k);
    out.push_back(root);
    const Certificate rc = test::parse_cert(root);
    auto spec = test::leaf_spec(k, rc, cached_key(t, 1).public_key());
    out.push_back(test::sign_spec(spec, k));
    spec.subject = encode_name("");
    spec.sans = {{GN::uri, "spiffe://td/x"}};
    spec.ocsp_no_check = true;
    out.push_back(test::sign_spec(spec, k));
  }
  // An OpenSSL-made request with a challengePassword and a name-constrained CA extension value.
  auto ossl = test::keygen("EC", "P-256");
  out.push_back(test::openssl_csr(ossl.get(), "o.example.internal", "DNS:o.example.internal,IP:fd00::1", "pw"));
  return out;
}

// Everything a parsed certificate offers, so mutations reach the extension decoders too.
std::size_t exercise_certificate(const Certificate& c) {
  std::size_t touched = 0;
  (void)c.serial_hex();
  (void)c.subject_key_id();
  (void)c.is_ca();
  (void)name_to_string(c.tbs().subject);
  (void)name_to_string(c.tbs().issuer);
  (void)name_common_name(c.tbs().subject);
  for (const Extension& e : c.tbs().extensions) {
    ++touched;
    if (oid::equal(e.oid, oid::basic_constraints))
      (void)decode_basic_constraints(e.value);
    else if (oid::equal(e.oid, oid::key_usage))
      (void)decode_key_usage(e.value);
    else if (oid::equal(e.oid, oid::ext_key_usage))
      (void)decode_ext_key_usage(e.value);
    else if (oid::equal(e.oid, oid::subject_alt_name))
      (void)decode_general_names(e.value);
    else if (oid::equal(e.oid, oid::subject_key_identifier))
      (void)decode_subject_key_id(e.value);
    else if (oid::equal(e.oid, oid::authority_key_identifier))
      (void)decode_authority_key_id(e.value);
    // Every value is also tried as the extensions that must never crash on foreign bytes.
    (void)decode_name_constraints(e.value);
    (void)decode_general_names(e.value);
  }
  return touched;
}

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : rng_(seed) {}
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng_() % n); }

  Bytes mutate(Bytes b) {
    const int rounds = 1 + static_cast<int>(below(3));
    for (int r = 0; r < rounds; ++r) {
      if (b.empty()) {
        b.push_back(static_cast<std::uint8_t>(rng_()));
        continue;
      }
      switch (below(7)) {
        case 0:  // bit flip
          b[below(b.size())] ^= static_cast<std::uint8_t>(1u << below(8));
          break;
        case 1:  // truncation
          b.resize(below(b.size()));
          break;
        case 2: {  // insertion of 1..8 random bytes
          const std::size_t at = below(b.size() + 1);
          const std::size_t n = 1 + below(8);
          Bytes ins(n);
          for (auto& c : ins) c = static_cast<std::uint8_t>(rng_());
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), ins.begin(), ins.end());
          break;
        }
        case 3: {  // length-byte tweak: pick a byte that follows a plausible tag
          const std::size_t at = below(b.size());
          static constexpr std::uint8_t kLens[] = {0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0xff};
          if (rng_() & 1)
            b[at] = kLens[below(std::size(kLens))];
          else
            b[at] = static_cast<std::uint8_t>(b[at] + ((rng_() & 1) ? 1 : -1));
          break;
        }
        case 4: {  // deletion of a run
          const std::size_t at = below(b.size());
          const std::size_t n = 1 + below(std::min<std::size_t>(16, b.size() - at));
          b.erase(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + n));
          break;
        }
        case 5: {  // duplicate a chunk somewhere else
          const std::size_t from = below(b.size());
          const std::size_t n = 1 + below(std::min<std::size_t>(64, b.size() - from));
          const Bytes chunk(b.begin() + static_cast<std::ptrdiff_t>(from),
                            b.begin() + static_cast<std::ptrdiff_t>(from + n));
          const std::size_t to = below(b.size() + 1);
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(to), chunk.begin(), chunk.end());
          break;
        }
        default:  // overwrite with an interesting byte
          b[below(b.size())] = static_cast<std::uint8_t>(below(2) ? 0x00 : 0xff);
          break;
      }
    }
    return b;
  }

  std::string mutate_text(std::string s) {
    static const char* kPieces[] = {"-----BEGIN ", "-----END ", "-----", "CERTIFICATE REQUEST",          "\n", "=", ":",
                                    "\r\n",        "====",      "A",     "-----BEGIN CERTIFICATE-----\n"};
    const int rounds = 1 + static_cast<int>(below(3));
    for (int r = 0; r < rounds; ++r) {
      const std::size_t at = below(s.size() + 1);
      switch (below(4)) {
        case 0:
          s.insert(at, kPieces[below(std::size(kPieces))]);
          break;
        case 1:
          if (!s.empty()) s.erase(below(s.size()), 1 + below(40));
          break;
        case 2:
          if (!s.empty()) s[below(s.size())] = static_cast<char>(rng_());
          break;
        default:
          s.resize(at);
          break;
      }
    }
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

TEST_CASE("mutation fuzz: CSR, certificate and SPKI parsers never crash on mutated DER") {
  const std::vector<Bytes> pool = seeds();
  // The unmutated seeds all parse as something: otherwise the run below proves little.
  for (const Bytes& s : pool) {
    const bool any = Csr::from_der(s).has_value() || Certificate::from_der(s).has_value() || parse_spki(s).has_value();
    CHECK(any);
  }
  Mutator m(kSeed);
  int csr_ok = 0, csr_verified = 0, cert_ok = 0, spki_ok = 0, refused = 0;
  std::size_t extensions = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kDerMutations; ++i) {
    const Bytes input = m.mutate(pool[m.below(pool.size())]);
    bool any = false;
    if (auto c = Csr::from_der(input)) {
      any = true;
      ++csr_ok;
      (void)name_to_string(c->subject());
      // Verification of what parses must also be safe (keys off the curve, odd RSA values).
      if (verify_signature(c->public_key(), c->signature_algorithm(), c->info_der(), c->signature()).has_value())
        ++csr_verified;
    } else {
      const Errc code = c.error().code;
      CHECK((code == Errc::bad_csr || code == Errc::bad_public_key));
    }
    if (auto c = Certificate::from_der(input)) {
      any = true;
      ++cert_ok;
      extensions += exercise_certificate(*c);
    }
    if (auto k = parse_spki(input)) {
      any = true;
      ++spki_ok;
    }
    (void)parse_tbs(input);
    if (!any) ++refused;
  }
  const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("DER mutations: " << kDerMutations << " in " << secs << " s; csr ok " << csr_ok << " (verified "
                            << csr_verified << "), cert ok " << cert_ok << " (extensions " << extensions
                            << "), spki ok " << spki_ok << ", refused everywhere " << refused);
  // Not degenerate: some mutations keep the input valid, most are refused.
  CHECK(csr_ok > 0);
  CHECK(cert_ok > 0);
  CHECK(spki_ok > 0);
  CHECK(refused > kDerMutations / 2);
  CHECK(secs < 120);  // a hang guard, far above the expected ~1-2 s
}

TEST_CASE("mutation fuzz: PEM decoding never crashes on mutated text") {
  std::vector<std::string> texts;
  for (const Bytes& s : seeds()) {
    texts.push_back(pem_encode("CERTIFICATE REQUEST", s));
    texts.push_back("intro\n" + pem_encode("CERTIFICATE", s) + "middle\n" + pem_encode("CERTIFICATE", s) + "end");
  }
  Mutator m(kSeed + 1);
  int ok = 0, refused = 0;
  for (int i = 0; i < kPemMutations; ++i) {
    const std::string text = m.mutate_text(texts[m.below(texts.size())]);
    auto blocks = pem_decode_all(text);
    if (blocks) {
      ++ok;
      for (const auto& b : *blocks) CHECK_FALSE(b.der.empty());
    } else {
      ++refused;
      CHECK(blocks.error().code == Errc::malformed);
    }
    (void)Csr::from_pem_or_der(text);
    (void)certificates_from_pem(text);
  }
  MESSAGE("PEM mutations: ok " << ok << ", refused " << refused);
  CHECK(ok > 0);
  CHECK(refused > 0);
}

}  // namespace
