#pragma once
// A whole CA made in-process for each test: root and intermediate (ceremony code, FakeClock),
// a real SQLite store in a fresh directory under /tmp, and the Issuer on top.
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/base/encoding.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/issuer/ceremony.hpp"
#include "ca/issuer/issuer.hpp"
#include "ca/policy/policy.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store.hpp"
#include "tests/support/keys.hpp"
#include "tests/support/openssl.hpp"
#include "tests/support/temp_dir.hpp"

namespace sigil::test {

namespace fs = std::filesystem;
using crypto::GeneralName;
using GN = GeneralName::Type;

inline crypto::Certificate copy_of(const crypto::Certificate& c) { return parse_cert(Bytes(c.der())); }

// A signer the caller keeps alive, as Issuer::add_authority takes one.
inline std::shared_ptr<const crypto::Signer> borrowed(const crypto::Signer& s) {
  return std::shared_ptr<const crypto::Signer>(&s, [](const crypto::Signer*) {});
}

inline crypto::Csr parse_csr(const Bytes& der) {
  auto c = crypto::Csr::from_der(der);
  REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().detail));
  return std::move(c).value();
}

inline policy::IdentifierPolicy test_identifier_policy() {
  policy::IdentifierPolicy p;
  p.dns_names = {"ca.example.com"};
  p.dns_suffixes = {"example.internal"};
  p.ip_ranges = {"10.0.0.0/8", "fd00::/8"};
  p.spiffe_trust_domain = "example.internal";
  return p;
}

inline constexpr const char* kPublicUrl = "https://ca.example.internal/";

struct CaOptions {
  crypto::KeyType root_type = crypto::KeyType::ec_p256;
  crypto::KeyType intermediate_type = crypto::KeyType::ec_p256;
  int key_slot = 0;  // a different slot gives other keys of the same types
  Seconds intermediate_ttl{5LL * 365 * 86400};
  issuer::Options options{kPublicUrl, Seconds(5 * 60)};
};

// Root + intermediate + store + Issuer. Members are declared in dependency order: the Issuer
// holds references to the signer, the clock and the store.
struct TestCa {
  explicit TestCa(CaOptions o = {}, const std::string& dir_base = "/tmp")
      : opts(o), dir("issuer-test", dir_base), clock(t0()) {
    root_key = &cached_key(o.root_type, 100 + o.key_slot);
    int_key = &cached_key(o.intermediate_type, 200 + o.key_slot);
    auto r = issuer::make_root(*root_key, issuer::RootParams{"Sigil Test", Seconds(20LL * 365 * 86400)}, clock);
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().detail));
    root = std::make_unique<crypto::Certificate>(std::move(r).value());
    auto csr = crypto::make_csr(*int_key, issuer::intermediate_subject("Sigil Test"), {});
    REQUIRE(csr.has_value());
    issuer::IntermediateParams ip;
    ip.ttl = o.intermediate_ttl;
    ip.crl_url = "https://ca.example.internal/crl/root.crl";
    ip.ca_issuers_url = "https://ca.example.internal/ca/root.crt";
    auto i = issuer::sign_intermediate(*root_key, *root, parse_csr(*csr), ip, clock);
    REQUIRE_MESSAGE(i.has_value(), (i ? "" : i.error().detail));
    intermediate = std::make_unique<crypto::Certificate>(std::move(i).value());
    db_path = (dir / "sigil.db").string();
    auto s = store::sqlite::open(db_path);
    REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.error().detail));
    db = std::move(s).value();
    make_issuer(*int_key);
  }

  void make_issuer(const crypto::Signer& signer) {
    issuer_.reset();
    auto is = issuer::Issuer::create(signer, copy_of(*intermediate), test_identifier_policy(),
                                     policy::Profiles::defaults(), opts.options, clock, *db);
    REQUIRE_MESSAGE(is.has_value(), (is ? "" : is.error().detail));
    issuer_ = std::move(is).value();
  }

  issuer::Issuer& issuer() { return *issuer_; }

  // Another intermediate of the same root for `key` (a rotation), valid for `ttl`.
  crypto::Certificate another_intermediate(const crypto::KeySigner& key, Seconds ttl = Seconds(365 * 86400)) {
    auto csr = crypto::make_csr(key, issuer::intermediate_subject("Sigil Test G2"), {});
    REQUIRE(csr.has_value());
    issuer::IntermediateParams ip;
    ip.ttl = ttl;
    auto i = issuer::sign_intermediate(*root_key, *root, parse_csr(*csr), ip, clock);
    REQUIRE_MESSAGE(i.has_value(), (i ? "" : i.error().detail));
    return std::move(i).value();
  }

  std::int64_t count() {
    auto n = db->count();
    REQUIRE(n.has_value());
    return *n;
  }
  std::vector<store::AuditEntry> audit() {
    auto rows = db->recent(1000);  // the store's maximum; tests here write far fewer
    REQUIRE(rows.has_value());
    return *rows;
  }

  Result<issuer::Issued> issue(const std::string& csr, const std::string& profile,
                               std::optional<Seconds> ttl = std::nullopt) {
    SIGIL_TRY(issuer::Prepared p, issuer_->prepare({csr, profile, ttl, "test:requester"}));
    return issuer_->issue(std::move(p));
  }

  CaOptions opts;
  TempDir dir;
  FakeClock clock;
  const crypto::KeySigner* root_key = nullptr;
  const crypto::KeySigner* int_key = nullptr;
  std::unique_ptr<crypto::Certificate> root;
  std::unique_ptr<crypto::Certificate> intermediate;
  std::string db_path;
  std::unique_ptr<store::Store> db;
  std::unique_ptr<issuer::Issuer> issuer_;
};

inline std::string csr_pem(const crypto::Signer& key, const std::string& cn, const std::vector<GeneralName>& sans) {
  auto der = crypto::make_csr(key, crypto::encode_name(cn), sans);
  REQUIRE(der.has_value());
  return pem_encode("CERTIFICATE REQUEST", *der);
}

// A client certificate for `name` (its first DNS SAN, hence its identity) from the test CA, with
// the key of `slot`: the caller a listener would have verified, for router-level API tests.
inline std::shared_ptr<const crypto::Certificate> client_certificate(TestCa& ca, const std::string& name, int slot) {
  auto out = ca.issue(csr_pem(cached_key(crypto::KeyType::ec_p256, slot), name, {{GN::dns, name}}), "client");
  REQUIRE_MESSAGE(out.has_value(), (out ? "" : out.error().detail));
  const auto der =
      pem_decode_one(out->chain_pem.substr(0, out->chain_pem.find("-----END CERTIFICATE-----") + 26), "CERTIFICATE");
  REQUIRE(der.has_value());
  return std::make_shared<const crypto::Certificate>(parse_cert(*der));
}

// Re-encodes a to-be-signed certificate with its extensions edited: what encode_tbs would never
// write (a non-critical SAN beside an empty subject, an extra extension, nameConstraints).
struct ExtOut {
  Bytes oid;
  bool critical = false;
  Bytes value;
};
template <class Edit>
Bytes rebuild_tbs(crypto::ByteView tbs, Edit&& edit) {
  namespace tag = crypto::der::tag;
  auto parsed = crypto::parse_tbs(tbs);
  REQUIRE(parsed.has_value());
  const crypto::TbsView& t = *parsed;
  std::vector<ExtOut> exts;
  for (const auto& e : t.extensions)
    exts.push_back({Bytes(e.oid.begin(), e.oid.end()), e.critical, Bytes(e.value.begin(), e.value.end())});
  edit(exts);
  crypto::der::Writer w;
  const auto m = w.begin(tag::kSequence);
  const auto v = w.begin(tag::context_constructed(0));
  w.small_integer(t.version);
  w.end(v);
  w.tlv(tag::kInteger, t.serial);
  w.raw(t.signature_alg);
  w.raw(t.issuer);
  const auto val = w.begin(tag::kSequence);
  w.time(t.not_before);
  w.time(t.not_after);
  w.end(val);
  w.raw(t.subject);
  w.raw(t.spki);
  if (!exts.empty()) {
    const auto wrap = w.begin(tag::context_constructed(3));
    const auto seq = w.begin(tag::kSequence);
    for (const auto& e : exts) {
      const auto x = w.begin(tag::kSequence);
      w.oid(e.oid);
      if (e.critical) w.boolean(true);
      w.octet_string(e.value);
      w.end(x);
    }
    w.end(seq);
    w.end(wrap);
  }
  w.end(m);
  return w.take();
}

inline Bytes sign_tbs(const Bytes& tbs, const crypto::Signer& signer) {
  auto sig = signer.sign(tbs);
  REQUIRE(sig.has_value());
  return crypto::assemble_signed(tbs, signer.signature_algorithm(), *sig);
}

inline bool has_finding(const std::vector<std::string>& findings, const std::string& needle) {
  for (const auto& f : findings)
    if (f.find(needle) != std::string::npos) return true;
  return false;
}

inline std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " | ") + s;
  return out;
}

}  // namespace sigil::test
