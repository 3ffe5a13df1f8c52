// CRLs: full, streamed, sharded and delta CRLs, encoded by Sigil and judged by OpenSSL.
#include <doctest/doctest.h>

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
using test::kAllKeyTypes;
using test::key_name;
namespace tag = der::tag;

// ---- CRLs --------------------------------------------------------------------------------------

TEST_CASE("encode_tbs_crl + sign: OpenSSL parses and verifies the CRL, reasons included") {
  for (KeyType t : kAllKeyTypes) {
    const std::string name = key_name(t);
    CAPTURE(name);
    const KeySigner& ca_key = cached_key(t);
    const Bytes root_der = test::sign_spec(test::ca_spec(ca_key, "CRL Root"), ca_key);
    const Certificate root = test::parse_cert(root_der);
    auto rx = test::x509_from_der(root_der);

    CrlSpec spec;
    spec.signature = ca_key.signature_algorithm();
    spec.issuer.assign(root.tbs().subject.begin(), root.tbs().subject.end());
    spec.this_update = test::t0();
    spec.next_update = test::t0() + Seconds(7 * 86400);
    spec.authority_key_id = *root.subject_key_id();
    spec.crl_number = 300;  // needs two octets
    spec.revoked = {{{0x01, 0x02}, test::t0() - Seconds(60), std::nullopt},
                    {{0x80, 0x00, 0x01}, test::t0() - Seconds(120), 1},  // high bit: padded INTEGER
                    {{0x03}, test::t0() - Seconds(180), 4},
                    {{0x04}, test::t0() - Seconds(240), 5},
                    {{0x05}, test::t0() - Seconds(300), 9},
                    {{0x06}, test::t0() - Seconds(360), 10},
                    {{0x07}, test::t0() - Seconds(420), 0}};  // unspecified: no extension
    const Bytes tbs = encode_tbs_crl(spec);
    auto sig = ca_key.sign(tbs);
    REQUIRE(sig.has_value());
    const Bytes der = assemble_signed(tbs, spec.signature, *sig);
    auto crl = test::crl_from_der(der);

    CHECK(X509_CRL_verify(crl.get(), X509_get0_pubkey(rx.get())) == 1);
    CHECK(X509_CRL_get_version(crl.get()) == 1);
    CHECK(X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(rx.get())) == 0);
    CHECK(ASN1_TIME_cmp_time_t(X509_CRL_get0_lastUpdate(crl.get()), static_cast<time_t>(to_unix(test::t0()))) == 0);
    CHECK(ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(crl.get()), static_cast<time_t>(to_unix(spec.next_update))) ==
          0);
    test::AsnIntPtr number(
        static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr)));
    REQUIRE(number);
    CHECK(ASN1_INTEGER_get(number.get()) == 300);
    test::AkidPtr akid(
        static_cast<AUTHORITY_KEYID*>(X509_CRL_get_ext_d2i(crl.get(), NID_authority_key_identifier, nullptr, nullptr)));
    REQUIRE(akid);
    REQUIRE(akid->keyid != nullptr);
    CHECK(Bytes(ASN1_STRING_get0_data(akid->keyid),
                ASN1_STRING_get0_data(akid->keyid) + ASN1_STRING_length(akid->keyid)) == spec.authority_key_id);

    STACK_OF(X509_REVOKED)* revs = X509_CRL_get_REVOKED(crl.get());
    REQUIRE(sk_X509_REVOKED_num(revs) == static_cast<int>(spec.revoked.size()));
    for (int i = 0; i < sk_X509_REVOKED_num(revs); ++i) {
      const RevokedEntry& want = spec.revoked[static_cast<std::size_t>(i)];
      X509_REVOKED* r = sk_X509_REVOKED_value(revs, i);
      std::string want_hex = to_hex(want.serial);
      while (want_hex.size() > 2 && want_hex.substr(0, 2) == "00") want_hex.erase(0, 2);
      CHECK(test::bn_hex(X509_REVOKED_get0_serialNumber(r)) == want_hex);
      CHECK(ASN1_TIME_cmp_time_t(X509_REVOKED_get0_revocationDate(r), static_cast<time_t>(to_unix(want.revoked_at))) ==
            0);
      int crit = 0;
      test::AsnEnumPtr reason(
          static_cast<ASN1_ENUMERATED*>(X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, nullptr)));
      if (want.reason && *want.reason != 0) {
        REQUIRE(reason);
        CHECK(ASN1_ENUMERATED_get(reason.get()) == *want.reason);
        CHECK(crit == 0);
      } else {
        CHECK_FALSE(reason);
        CHECK(crit == -1);
      }
    }
    // A different key does not verify it.
    auto other = test::pkey_from_spki(cached_key(t, 1).public_key().spki);
    CHECK(X509_CRL_verify(crl.get(), other.get()) != 1);
    ERR_clear_error();
  }
}

TEST_CASE("an empty CRL omits revokedCertificates and still verifies") {
  const KeySigner& ca_key = cached_key(KeyType::ec_p256);
  const Bytes root_der = test::sign_spec(test::ca_spec(ca_key, "Root"), ca_key);
  const Certificate root = test::parse_cert(root_der);
  CrlSpec spec;
  spec.signature = ca_key.signature_algorithm();
  spec.issuer.assign(root.tbs().subject.begin(), root.tbs().subject.end());
  spec.this_update = test::t0();
  spec.next_update = test::t0() + Seconds(86400);
  spec.authority_key_id = *root.subject_key_id();
  spec.crl_number = 1;
  const Bytes tbs = encode_tbs_crl(spec);
  auto sig = ca_key.sign(tbs);
  REQUIRE(sig.has_value());
  auto crl = test::crl_from_der(assemble_signed(tbs, spec.signature, *sig));
  CHECK(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl.get())) <= 0);
  CHECK(X509_CRL_verify(crl.get(), X509_get0_pubkey(test::x509_from_der(root_der).get())) == 1);
}

}  // namespace

namespace {

using namespace sigil;
using namespace sigil::crypto;
using test::cached_key;

struct CrlFixture {
  const KeySigner& key = cached_key(KeyType::ec_p256);
  Bytes root_der = test::sign_spec(test::ca_spec(key, "CRL Writer Root"), key);
  Certificate root = test::parse_cert(root_der);

  CrlSpec header(std::int64_t number) const {
    CrlSpec s;
    s.signature = key.signature_algorithm();
    s.issuer.assign(root.tbs().subject.begin(), root.tbs().subject.end());
    s.this_update = test::t0();
    s.next_update = test::t0() + Seconds(86400);
    s.authority_key_id = *root.subject_key_id();
    s.crl_number = number;
    return s;
  }
  Bytes sign(CrlWriter& w) const {
    auto sig = key.sign(w.tbs());
    REQUIRE(sig.has_value());
    return w.finish(*sig);
  }
};

TEST_CASE("CrlWriter: thousands of streamed entries, whatever the size hint, verify with OpenSSL") {
  CrlFixture f;
  constexpr int kEntries = 3000;  // the revoked list needs a three-octet length
  for (std::size_t hint : {std::size_t{0}, std::size_t{kEntries}, std::size_t{100000}}) {
    CAPTURE(hint);
    CrlWriter w(f.header(12), hint);
    for (int i = 0; i < kEntries; ++i) {
      Bytes serial(16, static_cast<std::uint8_t>(i));
      serial[0] = static_cast<std::uint8_t>(0x40 | (i >> 8));
      serial[1] = static_cast<std::uint8_t>(i);
      w.add(serial, test::t0() - Seconds(i), i % 11 == 7 ? 0 : i % 11);
    }
    CHECK(w.count() == static_cast<std::size_t>(kEntries));
    const Bytes der = f.sign(w);
    auto crl = test::crl_from_der(der);
    CHECK(X509_CRL_verify(crl.get(), X509_get0_pubkey(test::x509_from_der(f.root_der).get())) == 1);
    STACK_OF(X509_REVOKED)* revs = X509_CRL_get_REVOKED(crl.get());
    REQUIRE(sk_X509_REVOKED_num(revs) == kEntries);
    for (int i = 0; i < kEntries; i += 97) {
      X509_REVOKED* r = sk_X509_REVOKED_value(revs, i);
      test::AsnEnumPtr reason(
          static_cast<ASN1_ENUMERATED*>(X509_REVOKED_get_ext_d2i(r, NID_crl_reason, nullptr, nullptr)));
      const int want = i % 11 == 7 ? 0 : i % 11;
      if (want == 0) {
        CHECK_FALSE(reason);
      } else {
        REQUIRE(reason);
        CHECK(ASN1_ENUMERATED_get(reason.get()) == want);
      }
      CHECK(ASN1_TIME_cmp_time_t(X509_REVOKED_get0_revocationDate(r), static_cast<time_t>(to_unix(test::t0()) - i)) ==
            0);
    }
    auto summary = parse_crl_summary(der);
    REQUIRE(summary.has_value());
    CHECK(summary->this_update == test::t0());
    CHECK(summary->next_update == test::t0() + Seconds(86400));
    CHECK(summary->entries == static_cast<std::size_t>(kEntries));
    CHECK(summary->number == 12);
  }
}

TEST_CASE("CrlWriter and encode_tbs_crl write the same bytes; no entries means no list") {
  CrlFixture f;
  CrlSpec spec = f.header(5);
  spec.revoked = {{{0x01}, test::t0(), 1}, {{0xff, 0x00}, test::t0(), std::nullopt}, {{0x02}, test::t0(), 0}};
  CrlWriter w(spec, 1);
  for (const auto& e : spec.revoked) w.add(e.serial, e.revoked_at, e.reason.value_or(0));
  const auto view = w.tbs();
  CHECK(Bytes(view.begin(), view.end()) == encode_tbs_crl(spec));

  CrlWriter empty(f.header(6), 10);
  const Bytes der = f.sign(empty);
  auto crl = test::crl_from_der(der);
  CHECK(X509_CRL_get_REVOKED(crl.get()) == nullptr);  // absent, not an empty SEQUENCE
  CHECK(X509_CRL_verify(crl.get(), X509_get0_pubkey(test::x509_from_der(f.root_der).get())) == 1);
  // The TBSCertList has exactly version, algorithm, issuer, two times and the extensions.
  auto outer = der::read_single(der, der::tag::kSequence);
  REQUIRE(outer.has_value());
  der::Reader r(outer->contents);
  auto tbs = r.expect(der::tag::kSequence);
  REQUIRE(tbs.has_value());
  der::Reader t(tbs->contents);
  int elements = 0;
  while (!t.empty()) {
    REQUIRE(t.next().has_value());
    ++elements;
  }
  CHECK(elements == 6);
}

TEST_CASE("parse_crl_summary refuses what is not a CRL") {
  CHECK_FALSE(parse_crl_summary(Bytes{}).has_value());
  CHECK_FALSE(parse_crl_summary(Bytes{0x30, 0x00}).has_value());
  CrlFixture f;
  CHECK_FALSE(parse_crl_summary(f.root_der).has_value());  // a certificate: no times where a CRL has them
}

}  // namespace

// ---- CRL shards and delta CRLs (RFC 5280 §5.2.4-§5.2.6) -----------------------------------------

namespace {

using namespace sigil;
using namespace sigil::crypto;
using test::cached_key;

using IdpPtr = test::Ptr<ISSUING_DIST_POINT, ISSUING_DIST_POINT_free>;

const std::string kShard1 = "http://ca.example/crl/0123456789abcdef/1.crl";
const std::string kShard2 = "http://ca.example/crl/0123456789abcdef/2.crl";
const std::string kDelta1 = "http://ca.example/crl/0123456789abcdef/1-delta.crl";

struct ShardFixture : CrlFixture {
  // A leaf of the root whose CRL distribution point (and FreshestCRL) are these URLs.
  Bytes leaf(std::uint8_t serial, const std::string& cdp, const std::string& freshest = "") const {
    const KeySigner& leaf_key = cached_key(KeyType::ec_p256, 1);
    CertificateSpec s;
    s.serial = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, serial};
    s.signature = key.signature_algorithm();
    s.issuer.assign(root.tbs().subject.begin(), root.tbs().subject.end());
    s.subject = encode_name("leaf.example");
    s.not_before = test::t0() - Seconds(3600);
    s.not_after = test::t0() + Seconds(30 * 86400);
    s.spki = leaf_key.public_key().spki;
    s.key_usage = ku::digital_signature;
    s.ext_key_usage = {Eku::server_auth};
    s.subject_key_id = key_identifier(leaf_key.public_key());
    s.authority_key_id = *root.subject_key_id();
    s.sans = {{GeneralName::Type::dns, "leaf.example"}};
    s.crl_urls = {cdp};
    if (!freshest.empty()) s.freshest_crl_urls = {freshest};
    return test::sign_spec(s, key);
  }
  // A signed CRL of the root listing these leaf serials.
  Bytes crl(CrlSpec spec, const std::vector<std::uint8_t>& serials) const {
    CrlWriter w(spec, serials.size());
    for (std::uint8_t s : serials) w.add(Bytes{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, s}, test::t0(), 1);
    return sign(w);
  }
  // OpenSSL's verdict on the leaf with these CRLs (X509_V_OK or the error), at t0 + 1 min.
  int verify(const Bytes& leaf_der, const std::vector<Bytes>& crls, bool use_deltas) const {
    test::StorePtr store(X509_STORE_new());
    auto root_x = test::x509_from_der(root_der);
    REQUIRE(X509_STORE_add_cert(store.get(), root_x.get()) == 1);
    for (const auto& c : crls) {
      auto x = test::crl_from_der(c);
      REQUIRE(X509_STORE_add_crl(store.get(), x.get()) == 1);
    }
    auto leaf_x = test::x509_from_der(leaf_der);
    test::StoreCtxPtr ctx(X509_STORE_CTX_new());
    REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), leaf_x.get(), nullptr) == 1);
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(to_unix(test::t0()) + 60));
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK | (use_deltas ? X509_V_FLAG_USE_DELTAS : 0));
    const int ok = X509_verify_cert(ctx.get());
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return ok == 1 ? X509_V_OK : err;
  }
};

std::string crl_text(const Bytes& der) {
  auto crl = test::crl_from_der(der);
  test::BioPtr bio(BIO_new(BIO_s_mem()));
  REQUIRE(X509_CRL_print(bio.get(), crl.get()) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string uri_of(const GENERAL_NAMES* names, int i) {
  const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
  REQUIRE(n->type == GEN_URI);
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.uniformResourceIdentifier)),
                     static_cast<std::size_t>(ASN1_STRING_length(n->d.uniformResourceIdentifier)));
}

TEST_CASE("a shard CRL has a critical IssuingDistributionPoint naming its URL, onlyContainsUserCerts") {
  ShardFixture f;
  CrlSpec spec = f.header(7);
  spec.idp_url = kShard1;
  const Bytes der = f.crl(spec, {1});

  // OpenSSL decodes it back.
  auto crl = test::crl_from_der(der);
  CHECK(X509_CRL_verify(crl.get(), X509_get0_pubkey(test::x509_from_der(f.root_der).get())) == 1);
  int crit = -1;
  IdpPtr idp(static_cast<ISSUING_DIST_POINT*>(
      X509_CRL_get_ext_d2i(crl.get(), NID_issuing_distribution_point, &crit, nullptr)));
  REQUIRE(idp);
  CHECK(crit == 1);
  REQUIRE(idp->distpoint != nullptr);
  REQUIRE(idp->distpoint->type == 0);  // fullName
  REQUIRE(sk_GENERAL_NAME_num(idp->distpoint->name.fullname) == 1);
  CHECK(uri_of(idp->distpoint->name.fullname, 0) == kShard1);
  CHECK(idp->onlyuser > 0);
  CHECK(idp->onlyCA <= 0);
  CHECK(idp->indirectCRL <= 0);
  CHECK(idp->onlysomereasons == nullptr);
  // ... and prints it as `openssl crl -text` does.
  const std::string text = crl_text(der);
  CAPTURE(text);
  CHECK(text.find("X509v3 Issuing Distribution Point: critical") != std::string::npos);
  CHECK(text.find("URI:" + kShard1) != std::string::npos);
  CHECK(text.find("Only User Certificates") != std::string::npos);
  CHECK(text.find("Delta CRL Indicator") == std::string::npos);
  CHECK(text.find("Freshest CRL") == std::string::npos);

  // Sigil's own decoder agrees.
  auto summary = parse_crl_summary(der);
  REQUIRE(summary.has_value());
  REQUIRE(summary->idp.has_value());
  CHECK(summary->idp_critical);
  CHECK(summary->idp->urls == std::vector<std::string>{kShard1});
  CHECK(summary->idp->only_user_certs);
  CHECK_FALSE(summary->idp->only_ca_certs);
  CHECK_FALSE(summary->base_number.has_value());
  CHECK(summary->freshest_crl_urls.empty());
  CHECK(summary->entries == 1);
  CHECK(summary->number == 7);

  // Without idp_url: no IDP at all (the CA's whole scope, as before sharding).
  auto plain = parse_crl_summary(f.crl(f.header(8), {}));
  REQUIRE(plain.has_value());
  CHECK_FALSE(plain->idp.has_value());
}

TEST_CASE("OpenSSL's CRL check takes a shard CRL for the leaves whose CDP it names, and only those") {
  ShardFixture f;
  const Bytes a = f.leaf(1, kShard1), b = f.leaf(2, kShard2);
  CrlSpec spec = f.header(3);
  spec.idp_url = kShard1;
  const Bytes empty = f.crl(spec, {});
  CHECK(f.verify(a, {empty}, false) == X509_V_OK);
  // Shard 1's CRL says nothing of a shard-2 leaf: no CRL in scope for it.
  CHECK(f.verify(b, {empty}, false) == X509_V_ERR_DIFFERENT_CRL_SCOPE);
  spec.crl_number = 4;
  const Bytes lists_a = f.crl(spec, {1});
  CHECK(f.verify(a, {lists_a}, false) == X509_V_ERR_CERT_REVOKED);
  CrlSpec spec2 = f.header(1);
  spec2.idp_url = kShard2;
  CHECK(f.verify(b, {lists_a, f.crl(spec2, {})}, false) == X509_V_OK);
  CHECK(f.verify(b, {lists_a, f.crl(spec2, {2})}, false) == X509_V_ERR_CERT_REVOKED);
}

TEST_CASE("delta CRLs: critical Delta CRL Indicator naming the base, FreshestCRL in complete CRLs and leaves") {
  ShardFixture f;
  const Bytes leaf = f.leaf(1, kShard1, kDelta1);
  // The leaf's CDP and FreshestCRL, decoded by OpenSSL and by Sigil.
  auto leaf_x = test::x509_from_der(leaf);
  int crit = -1;
  test::CdpPtr freshest(
      static_cast<CRL_DIST_POINTS*>(X509_get_ext_d2i(leaf_x.get(), NID_freshest_crl, &crit, nullptr)));
  REQUIRE(freshest);
  CHECK(crit == 0);
  REQUIRE(sk_DIST_POINT_num(freshest.get()) == 1);
  CHECK(uri_of(sk_DIST_POINT_value(freshest.get(), 0)->distpoint->name.fullname, 0) == kDelta1);
  const Certificate parsed = test::parse_cert(leaf);
  const Extension* cdp_ext = parsed.tbs().find(oid::crl_distribution_points);
  const Extension* freshest_ext = parsed.tbs().find(oid::freshest_crl);
  REQUIRE(cdp_ext != nullptr);
  REQUIRE(freshest_ext != nullptr);
  CHECK(decode_distribution_point_urls(cdp_ext->value).value() == std::vector<std::string>{kShard1});
  CHECK(decode_distribution_point_urls(freshest_ext->value).value() == std::vector<std::string>{kDelta1});

  CrlSpec base_spec = f.header(10);
  base_spec.idp_url = kShard1;
  base_spec.freshest_crl_urls = {kDelta1};
  const Bytes base = f.crl(base_spec, {});
  CrlSpec delta_spec = f.header(11);
  delta_spec.idp_url = kShard1;  // the base's scope
  delta_spec.base_crl_number = 10;
  const Bytes delta = f.crl(delta_spec, {1});

  auto base_x = test::crl_from_der(base);
  test::CdpPtr base_freshest(
      static_cast<CRL_DIST_POINTS*>(X509_CRL_get_ext_d2i(base_x.get(), NID_freshest_crl, &crit, nullptr)));
  REQUIRE(base_freshest);
  CHECK(crit == 0);
  CHECK(uri_of(sk_DIST_POINT_value(base_freshest.get(), 0)->distpoint->name.fullname, 0) == kDelta1);
  auto delta_x = test::crl_from_der(delta);
  test::AsnIntPtr base_number(
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(delta_x.get(), NID_delta_crl, &crit, nullptr)));
  REQUIRE(base_number);
  CHECK(crit == 1);
  CHECK(ASN1_INTEGER_get(base_number.get()) == 10);
  CHECK(X509_CRL_get_ext_d2i(delta_x.get(), NID_freshest_crl, nullptr, nullptr) == nullptr);

  const std::string base_text = crl_text(base), delta_text = crl_text(delta);
  CAPTURE(base_text);
  CAPTURE(delta_text);
  CHECK(base_text.find("X509v3 Freshest CRL:") != std::string::npos);
  CHECK(base_text.find("URI:" + kDelta1) != std::string::npos);
  CHECK(delta_text.find("X509v3 Delta CRL Indicator: critical") != std::string::npos);
  CHECK(delta_text.find("X509v3 Issuing Distribution Point: critical") != std::string::npos);

  auto bs = parse_crl_summary(base);
  auto ds = parse_crl_summary(delta);
  REQUIRE(bs.has_value());
  REQUIRE(ds.has_value());
  CHECK(bs->freshest_crl_urls == std::vector<std::string>{kDelta1});
  CHECK_FALSE(bs->base_number.has_value());
  CHECK(ds->base_number == 10);
  CHECK(ds->delta_indicator_critical);
  CHECK(ds->number == 11);
  CHECK(ds->entries == 1);

  // OpenSSL combines them: the base alone says good, base + delta (with -use_deltas) revoked.
  CHECK(f.verify(leaf, {base}, false) == X509_V_OK);
  CHECK(f.verify(leaf, {base, delta}, false) == X509_V_OK);  // deltas ignored unless asked for
  CHECK(f.verify(leaf, {base, delta}, true) == X509_V_ERR_CERT_REVOKED);
  // A delta whose base is newer than the complete CRL at hand does not apply to it.
  CrlSpec later = delta_spec;
  later.crl_number = 12;
  later.base_crl_number = 11;
  CHECK(f.verify(leaf, {base, f.crl(later, {1})}, true) == X509_V_OK);
}

TEST_CASE("IssuingDistributionPoint and distribution point decoders are strict") {
  const std::uint8_t bad_names[] = {0x30, 0x08, 0xa0, 0x03, 0xa0, 0x01, 0x00, 0x81, 0x01, 0xff};
  CHECK_FALSE(decode_issuing_distribution_point(ByteView(bad_names)).has_value());  // a truncated GeneralName
  const std::uint8_t flags[] = {0x30, 0x06, 0x81, 0x01, 0xff, 0x82, 0x01, 0xff};
  auto idp = decode_issuing_distribution_point(ByteView(flags));
  REQUIRE(idp.has_value());
  CHECK(idp->urls.empty());
  CHECK(idp->only_user_certs);
  CHECK(idp->only_ca_certs);
  const std::uint8_t false_flag[] = {0x30, 0x03, 0x81, 0x01, 0x00};  // DER omits a FALSE default
  CHECK_FALSE(decode_issuing_distribution_point(ByteView(false_flag)).has_value());
  const std::uint8_t trailing[] = {0x30, 0x05, 0x81, 0x01, 0xff, 0x05, 0x00};
  CHECK_FALSE(decode_issuing_distribution_point(ByteView(trailing)).has_value());
  const std::uint8_t empty_dps[] = {0x30, 0x00};
  CHECK_FALSE(decode_distribution_point_urls(ByteView(empty_dps)).has_value());
  const std::uint8_t nameless_dp[] = {0x30, 0x02, 0x30, 0x00};
  CHECK_FALSE(decode_distribution_point_urls(ByteView(nameless_dp)).has_value());
}

}  // namespace

namespace {

using namespace sigil;
using namespace sigil::crypto;

TEST_CASE("parse_crl_summary and the distribution point decoders never crash on mutated shard and delta CRLs") {
  ShardFixture f;
  CrlSpec base = f.header(300);
  base.idp_url = kShard1;
  base.freshest_crl_urls = {kDelta1, kShard2};
  CrlSpec delta = f.header(301);
  delta.idp_url = kShard1;
  delta.base_crl_number = 300;
  const std::vector<Bytes> pool = {f.crl(base, {1, 2}), f.crl(delta, {3})};
  for (const Bytes& s : pool) REQUIRE(parse_crl_summary(s).has_value());
  std::mt19937_64 rng(0x5349474cu);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes b = pool[rng() % pool.size()];
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    if (rng() % 8 == 0) b.resize(rng() % b.size());
    if (b.empty()) continue;
    if (parse_crl_summary(b)) ++parsed;
    // The extension decoders on their own, from an arbitrary offset.
    const std::size_t at = rng() % b.size();
    const ByteView tail = ByteView(b).subspan(at);
    (void)decode_issuing_distribution_point(tail);
    (void)decode_distribution_point_urls(tail);
  }
  MESSAGE("CRL mutations: 20000, parsed " << parsed);
  CHECK(parsed > 0);
}

}  // namespace