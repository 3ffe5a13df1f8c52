// The one extension walker, through each of its four callers: certificate TBS, CSR
// extensionRequest, CRL, OCSP (request and response). Inputs are built by hand with der::Writer
// (what no well-behaved encoder writes), signed with real keys, and parsed by the public entry
// points a peer's bytes reach.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ca/crypto/crypto.hpp"
#include "ca/crypto/extensions.hpp"
#include "ca/crypto/ocsp.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/crypto/x509.hpp"
#include "tests/support/keys.hpp"
#include "tests/support/raw_extensions.hpp"

namespace {

using namespace sigil;
using namespace sigil::crypto;
using test::bytes_of;
using test::cached_key;
using test::Crit;
using test::many_unknown;
using test::private_oid;
using test::raw_certificate;
using test::RawExt;
using test::t0;
using test::unknown;
using test::write_extensions;
namespace tag = der::tag;

// The cap as the tests know it: the walker's constant, and the number the issue was measured at.
constexpr std::size_t kCap = kMaxExtensions;
static_assert(kCap >= 32 && kCap <= 100, "far above legitimate counts, far below the measured attack");
constexpr std::size_t kAttack = 60'000;

std::vector<RawExt> operator+(std::vector<RawExt> a, const std::vector<RawExt>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const KeySigner& key() { return cached_key(KeyType::ec_p256); }

Bytes sign(const Bytes& tbs) {
  auto sig = key().sign(tbs);
  REQUIRE(sig.has_value());
  return assemble_signed(tbs, key().signature_algorithm(), *sig);
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

template <class T>
void refused(const Result<T>& r, Errc code, std::string_view why, const char* what) {
  INFO("case: " << std::string(what));
  CHECK_FALSE(r.has_value());
  if (r.has_value()) return;
  CHECK(r.error().code == code);
  INFO("detail: " << r.error().detail);
  CHECK(contains(r.error().detail, why));
}

// ---- certificate --------------------------------------------------------------------------

// What encode_tbs writes for a leaf: critical basicConstraints and keyUsage, a key identifier.
std::vector<RawExt> cert_base() {
  return {{bytes_of(oid::basic_constraints), Crit::critical, {0x30, 0x00}},
          {bytes_of(oid::key_usage), Crit::critical, {0x03, 0x02, 0x07, 0x80}},
          {bytes_of(oid::subject_key_identifier), Crit::absent, {0x04, 0x02, 0x01, 0x02}}};
}

Bytes cert(const std::vector<RawExt>& exts) { return raw_certificate(key(), "ext.example.internal", exts); }

TEST_CASE("certificate extensions: duplicates, explicit FALSE, unknown critical and too many are refused") {
  auto ok = Certificate::from_der(cert(cert_base()));
  REQUIRE_MESSAGE(ok.has_value(), (ok ? "" : ok.error().detail));
  CHECK(ok->tbs().extensions.size() == 3);
  // Unknown non-critical extensions are ignored; critical ones Sigil knows are kept.
  const RawExt nc = {bytes_of(oid::name_constraints), Crit::critical, {0x30, 0x00}};
  CHECK(Certificate::from_der(cert(cert_base() + std::vector<RawExt>{unknown(1), nc})).has_value());

  // (a) a duplicate, also when it is not adjacent to its twin.
  refused(Certificate::from_der(cert(cert_base() + std::vector<RawExt>{unknown(7), cert_base()[0]})), Errc::malformed,
          "duplicate extension 2.5.29.19", "duplicate basicConstraints");
  // (b) DER: FALSE is the default, so it is never encoded.
  auto explicit_false = cert_base();
  explicit_false[2].crit = Crit::explicit_false;
  refused(Certificate::from_der(cert(explicit_false)), Errc::malformed, "explicit critical FALSE",
          "explicit critical FALSE");
  // (c) RFC 5280 §4.2: a critical extension the reader does not know makes the certificate unusable.
  refused(Certificate::from_der(cert(cert_base() + std::vector<RawExt>{unknown(9, Crit::critical)})), Errc::malformed,
          "unsupported critical extension 1.3.6.1.4.1.55555.9", "unknown critical extension");
  // (d) the cap: exactly kCap extensions parse, one more does not.
  CHECK(Certificate::from_der(cert(many_unknown(kCap))).has_value());
  refused(Certificate::from_der(cert(many_unknown(kCap + 1))), Errc::malformed,
          "more than " + std::to_string(kCap) + " extensions", "one above the cap");
}

TEST_CASE("a 60,000-extension certificate (the revokeCert attack) is refused") {
  const Bytes big = cert(cert_base() + many_unknown(kAttack));
  CHECK(big.size() > 600'000);
  refused(Certificate::from_der(big), Errc::malformed, "more than " + std::to_string(kCap) + " extensions",
          "60,000 distinct non-critical extensions");
  // The same count of identical extensions is refused by the cap too (before any duplicate scan).
  std::vector<RawExt> same(kAttack, unknown(3));
  refused(Certificate::from_der(cert(same)), Errc::malformed, "more than", "60,000 identical extensions");
}

TEST_CASE("malformed extension encodings are refused: bad OID, missing OCTET STRING, trailing fields, empty list") {
  auto with_raw = [](const Bytes& ext_contents) {
    der::Writer w;
    w.tlv(tag::kSequence, ext_contents);
    return w.take();
  };
  auto cert_with_one = [&](const Bytes& one) {
    // cert() with the Extensions SEQUENCE holding `one` (a whole Extension TLV) after the base.
    der::Writer x;
    write_extensions(x, cert_base());
    Bytes exts = x.take();
    Bytes contents(exts.begin() + 2, exts.end());
    contents.insert(contents.end(), one.begin(), one.end());
    der::Writer w;
    w.tlv(tag::kSequence, contents);
    return w.take();
  };
  auto build = [&](const Bytes& exts_seq) {
    der::Writer w;
    const auto m = w.begin(tag::kSequence);
    const auto v = w.begin(tag::context_constructed(0));
    w.small_integer(2);
    w.end(v);
    const std::uint8_t serial[] = {0x4e, 0x02};
    w.unsigned_integer(serial);
    w.raw(algorithm_identifier(key().signature_algorithm()));
    const Bytes name = encode_name("ext.example.internal");
    w.raw(name);
    const auto validity = w.begin(tag::kSequence);
    w.time(t0());
    w.time(t0() + Seconds(86400));
    w.end(validity);
    w.raw(name);
    w.raw(key().public_key().spki);
    const auto wrap = w.begin(tag::context_constructed(3));
    w.raw(exts_seq);
    w.end(wrap);
    w.end(m);
    return sign(w.take());
  };
  // A sanity check of the helper: a well-formed extension passes.
  CHECK(Certificate::from_der(build(cert_with_one(with_raw({0x06, 0x03, 0x2a, 0x03, 0x04, 0x04, 0x00})))).has_value());
  // OID contents: empty, a last byte with the continuation bit, a subidentifier padded with 0x80.
  refused(Certificate::from_der(build(cert_with_one(with_raw({0x06, 0x00, 0x04, 0x00})))), Errc::malformed, "OID",
          "empty OID");
  refused(Certificate::from_der(build(cert_with_one(with_raw({0x06, 0x02, 0x2a, 0x83, 0x04, 0x00})))), Errc::malformed,
          "OID", "truncated OID");
  refused(Certificate::from_der(build(cert_with_one(with_raw({0x06, 0x03, 0x2a, 0x80, 0x01, 0x04, 0x00})))),
          Errc::malformed, "OID", "non-minimal OID subidentifier");
  CHECK_FALSE(Certificate::from_der(build(cert_with_one(with_raw({0x06, 0x03, 0x2a, 0x03, 0x04, 0x05, 0x00}))))
                  .has_value());  // NULL where the OCTET STRING goes
  CHECK_FALSE(
      Certificate::from_der(build(cert_with_one(with_raw({0x06, 0x03, 0x2a, 0x03, 0x04, 0x04, 0x00, 0x05, 0x00}))))
          .has_value());                                                // a field after extnValue
  CHECK_FALSE(Certificate::from_der(build({0x30, 0x00})).has_value());  // SIZE (1..MAX)
}

// ---- CSR ----------------------------------------------------------------------------------

RawExt san_ext(const std::string& dns) {
  der::Writer v;
  const auto s = v.begin(tag::kSequence);
  v.string(tag::context(2), dns);
  v.end(s);
  return {bytes_of(oid::subject_alt_name), Crit::absent, v.take()};
}

Bytes csr(const std::vector<RawExt>& exts) {
  der::Writer w;
  const auto m = w.begin(tag::kSequence);
  w.small_integer(0);
  w.raw(encode_name("ext.example.internal"));
  w.raw(key().public_key().spki);
  const auto attrs = w.begin(tag::context_constructed(0));
  const auto a = w.begin(tag::kSequence);
  w.oid(oid::extension_request);
  const auto set = w.begin(tag::kSet);
  write_extensions(w, exts);
  w.end(set);
  w.end(a);
  w.end(attrs);
  w.end(m);
  return sign(w.take());
}

TEST_CASE("CSR extensionRequest: duplicates, explicit FALSE, unknown critical and too many are refused") {
  const std::vector<RawExt> base = {san_ext("ext.example.internal")};
  auto ok = Csr::from_der(csr(base));
  REQUIRE_MESSAGE(ok.has_value(), (ok ? "" : ok.error().detail));
  CHECK(ok->sans().size() == 1);
  // What clients commonly request is accepted, even critical (the profile decides it anyway).
  const std::vector<RawExt> usual = {{bytes_of(oid::basic_constraints), Crit::critical, {0x30, 0x00}},
                                     {bytes_of(oid::key_usage), Crit::critical, {0x03, 0x02, 0x07, 0x80}},
                                     unknown(1)};
  CHECK(Csr::from_der(csr(base + usual)).has_value());

  // (a) duplicates: of the SAN (as before) and of any other extension (new).
  refused(Csr::from_der(csr(base + base)), Errc::bad_csr, "duplicate extension 2.5.29.17", "duplicate SAN");
  refused(Csr::from_der(csr(base + std::vector<RawExt>{unknown(4), unknown(4)})), Errc::bad_csr,
          "duplicate extension 1.3.6.1.4.1.55555.4", "duplicate unknown extension");
  // (b)
  refused(Csr::from_der(csr(base + std::vector<RawExt>{unknown(5, Crit::explicit_false)})), Errc::bad_csr,
          "explicit critical FALSE", "explicit critical FALSE");
  // (c)
  refused(Csr::from_der(csr(base + std::vector<RawExt>{unknown(6, Crit::critical)})), Errc::bad_csr,
          "unsupported critical extension 1.3.6.1.4.1.55555.6", "unknown critical extension");
  // (d)
  CHECK(Csr::from_der(csr(base + many_unknown(kCap - 1))).has_value());
  refused(Csr::from_der(csr(base + many_unknown(kCap))), Errc::bad_csr,
          "more than " + std::to_string(kCap) + " extensions", "one above the cap");
  refused(Csr::from_der(csr(base + many_unknown(kAttack))), Errc::bad_csr, "more than", "60,000 extensions");
}

// ---- CRL ----------------------------------------------------------------------------------

// What CrlWriter writes: authorityKeyIdentifier and cRLNumber 5.
std::vector<RawExt> crl_base() {
  return {{bytes_of(oid::authority_key_identifier), Crit::absent, {0x30, 0x04, 0x80, 0x02, 0x01, 0x02}},
          {bytes_of(oid::crl_number), Crit::absent, {0x02, 0x01, 0x05}}};
}

Bytes crl(const std::vector<RawExt>& exts) {
  der::Writer w;
  const auto m = w.begin(tag::kSequence);
  w.small_integer(1);
  w.raw(algorithm_identifier(key().signature_algorithm()));
  w.raw(encode_name("Ext Test CA"));
  w.time(t0());
  w.time(t0() + Seconds(86400));
  const auto wrap = w.begin(tag::context_constructed(0));
  write_extensions(w, exts);
  w.end(wrap);
  w.end(m);
  return sign(w.take());
}

TEST_CASE("CRL extensions: duplicates, explicit FALSE, unknown critical and too many are refused") {
  auto ok = parse_crl_summary(crl(crl_base()));
  REQUIRE_MESSAGE(ok.has_value(), (ok ? "" : ok.error().detail));
  CHECK(ok->number == 5);
  CHECK(parse_crl_summary(crl(crl_base() + std::vector<RawExt>{unknown(1)})).has_value());

  // (a) two cRLNumbers: which one is the CRL's number?
  refused(parse_crl_summary(
              crl(crl_base() + std::vector<RawExt>{{bytes_of(oid::crl_number), Crit::absent, {0x02, 0x01, 0x09}}})),
          Errc::malformed, "duplicate extension 2.5.29.20", "duplicate cRLNumber");
  // (b)
  auto explicit_false = crl_base();
  explicit_false[1].crit = Crit::explicit_false;
  refused(parse_crl_summary(crl(explicit_false)), Errc::malformed, "explicit critical FALSE",
          "explicit critical FALSE");
  // (c) RFC 5280 §5.2: a CRL with a critical extension the reader does not know is not used.
  refused(parse_crl_summary(crl(crl_base() + std::vector<RawExt>{unknown(8, Crit::critical)})), Errc::malformed,
          "unsupported critical extension 1.3.6.1.4.1.55555.8", "unknown critical extension");
  // (d)
  CHECK(parse_crl_summary(crl(crl_base() + many_unknown(kCap - 2))).has_value());
  refused(parse_crl_summary(crl(crl_base() + many_unknown(kCap - 1))), Errc::malformed,
          "more than " + std::to_string(kCap) + " extensions", "one above the cap");
  refused(parse_crl_summary(crl(crl_base() + many_unknown(kAttack))), Errc::malformed, "more than",
          "60,000 extensions");
}

// ---- OCSP ---------------------------------------------------------------------------------

void write_cert_id(der::Writer& w) {
  const auto m = w.begin(tag::kSequence);
  const auto a = w.begin(tag::kSequence);
  w.oid(oid::sha1);
  w.null();
  w.end(a);
  w.octet_string(Bytes(20, 0x11));
  w.octet_string(Bytes(20, 0x22));
  const std::uint8_t serial[] = {0x01};
  w.tlv(tag::kInteger, serial);
  w.end(m);
}

RawExt nonce_ext() {
  Bytes v = {0x04, 0x10};
  v.resize(18, 0x5a);
  return {bytes_of(oid::ocsp_nonce), Crit::absent, v};
}

// An OCSPRequest with one CertID; extension lists are written only when non-empty.
Bytes ocsp_request(const std::vector<RawExt>& request_exts, const std::vector<RawExt>& single_exts) {
  der::Writer w;
  const auto m = w.begin(tag::kSequence);
  const auto tbs = w.begin(tag::kSequence);
  const auto list = w.begin(tag::kSequence);
  const auto one = w.begin(tag::kSequence);
  write_cert_id(w);
  if (!single_exts.empty()) {
    const auto wrap = w.begin(tag::context_constructed(0));
    write_extensions(w, single_exts);
    w.end(wrap);
  }
  w.end(one);
  w.end(list);
  if (!request_exts.empty()) {
    const auto wrap = w.begin(tag::context_constructed(2));
    write_extensions(w, request_exts);
    w.end(wrap);
  }
  w.end(tbs);
  w.end(m);
  return w.take();
}

// A signed successful OCSPResponse, one SingleResponse (good), responderID byKey.
Bytes ocsp_response(const std::vector<RawExt>& response_exts, const std::vector<RawExt>& single_exts) {
  der::Writer d;
  const auto data = d.begin(tag::kSequence);
  const auto rid = d.begin(tag::context_constructed(2));
  d.octet_string(ocsp::responder_key_hash(key().public_key()));
  d.end(rid);
  d.time(t0(), true);
  const auto responses = d.begin(tag::kSequence);
  const auto single = d.begin(tag::kSequence);
  write_cert_id(d);
  d.tlv(tag::context(0), {});  // good
  d.time(t0(), true);
  if (!single_exts.empty()) {
    const auto wrap = d.begin(tag::context_constructed(1));
    write_extensions(d, single_exts);
    d.end(wrap);
  }
  d.end(single);
  d.end(responses);
  if (!response_exts.empty()) {
    const auto wrap = d.begin(tag::context_constructed(1));
    write_extensions(d, response_exts);
    d.end(wrap);
  }
  d.end(data);
  const Bytes tbs = d.take();
  auto sig = key().sign(tbs);
  REQUIRE(sig.has_value());
  return ocsp::assemble_response(tbs, key().signature_algorithm(), *sig, {});
}

TEST_CASE("OCSP request and response extensions: duplicates, explicit FALSE, unknown critical and too many") {
  const std::vector<RawExt> none;
  const std::vector<RawExt> base = {nonce_ext()};
  auto rq = ocsp::parse_request(ocsp_request(base, none));
  REQUIRE_MESSAGE(rq.has_value(), (rq ? "" : rq.error().detail));
  CHECK(rq->nonce.has_value());
  auto rs = ocsp::parse_response(ocsp_response(base, none));
  REQUIRE_MESSAGE(rs.has_value(), (rs ? "" : rs.error().detail));
  CHECK(rs->nonce.has_value());
  CHECK(ocsp::verify_response(*rs, key().public_key()).has_value());

  struct Case {
    const char* what;
    std::vector<RawExt> exts;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"(a) duplicate", base + std::vector<RawExt>{unknown(2), unknown(2)}, "duplicate extension 1.3.6.1.4.1.55555.2"},
      {"(b) explicit critical FALSE", base + std::vector<RawExt>{unknown(3, Crit::explicit_false)},
       "explicit critical FALSE"},
      {"(c) unknown critical", base + std::vector<RawExt>{unknown(4, Crit::critical)},
       "unsupported critical extension 1.3.6.1.4.1.55555.4"},
      {"(d) one above the cap", base + many_unknown(kCap), "more than " + std::to_string(kCap) + " extensions"},
      {"(d) 60,000", many_unknown(kAttack), "more than"},
  };
  for (const Case& c : cases) {
    INFO("OCSP case: " << std::string(c.what));
    refused(ocsp::parse_request(ocsp_request(c.exts, none)), Errc::malformed, c.why, "requestExtensions");
    refused(ocsp::parse_request(ocsp_request(none, c.exts)), Errc::malformed, c.why, "singleRequestExtensions");
    refused(ocsp::parse_response(ocsp_response(c.exts, none)), Errc::malformed, c.why, "responseExtensions");
    refused(ocsp::parse_response(ocsp_response(none, c.exts)), Errc::malformed, c.why, "singleExtensions");
  }
  // At the cap, everything still parses.
  CHECK(ocsp::parse_request(ocsp_request(base + many_unknown(kCap - 1), many_unknown(kCap))).has_value());
  CHECK(ocsp::parse_response(ocsp_response(base + many_unknown(kCap - 1), many_unknown(kCap))).has_value());
}

}  // namespace
