#pragma once
// What the OCSP codec tests share: a test CA with a leaf and a delegated responder, OpenSSL
// conversions and views, and hand-made requests (what no well-behaved encoder writes).
#include "ca/crypto/ocsp.hpp"

#include <doctest/doctest.h>
#include <openssl/ocsp.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ca/base/encoding.hpp"
#include "ca/crypto/oids.hpp"
#include "tests/support/keys.hpp"
#include "tests/support/openssl.hpp"

namespace sigil::test::ocsp_fixture {

namespace ocsp = crypto::ocsp;
namespace tag = crypto::der::tag;
using crypto::ByteView;
using crypto::KeyType;
using ocsp::HashAlg;

using OcspReqPtr = Ptr<OCSP_REQUEST, OCSP_REQUEST_free>;
using OcspRespPtr = Ptr<OCSP_RESPONSE, OCSP_RESPONSE_free>;
using OcspBasicPtr = Ptr<OCSP_BASICRESP, OCSP_BASICRESP_free>;
using OcspIdPtr = Ptr<OCSP_CERTID, OCSP_CERTID_free>;
inline void x509_stack_pop_free(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }
using X509OwningStackPtr = Ptr<STACK_OF(X509), x509_stack_pop_free>;

inline const Bytes kSerialGood = {0x3a, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                  0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
inline const Bytes kSerialRevoked = {0x7f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
inline const Bytes kSerialUnknown = {0x00, 0x80, 0x00, 0x01};  // high bit set: INTEGER contents need the 0x00

// A CA (self-signed, made with Sigil's encoder), a leaf it issued, and OpenSSL views of both.
struct Ca {
  explicit Ca(KeyType type, int slot = 0)
      : key(cached_key(type, 10 + slot)),
        cert(parse_cert(sign_spec(ca_spec(key, "OCSP Test CA " + std::to_string(slot)), key))),
        leaf(parse_cert(sign_spec(leaf_spec(key, cert, cached_key(KeyType::ec_p256, 50).public_key()), key))),
        x509(x509_from_der(cert.der())),
        leaf_x509(x509_from_der(leaf.der())) {}

  // A delegated responder certificate (RFC 6960 §4.2.2.2) for `responder_key`.
  Bytes responder_cert(const crypto::Signer& responder_key) const {
    crypto::CertificateSpec s;
    s.serial = {0x55, 0x01};
    s.signature = key.signature_algorithm();
    s.issuer.assign(cert.tbs().subject.begin(), cert.tbs().subject.end());
    s.subject = crypto::encode_name("OCSP Responder", "Sigil Test");
    s.not_before = t0() - Seconds(3600);
    s.not_after = t0() + Seconds(7 * 86400);
    s.spki = responder_key.public_key().spki;
    s.key_usage = crypto::ku::digital_signature;
    s.ext_key_usage = {crypto::Eku::ocsp_signing};
    s.ocsp_no_check = true;
    s.subject_key_id = crypto::key_identifier(responder_key.public_key());
    s.authority_key_id = *cert.subject_key_id();
    return sign_spec(s, key);
  }

  const crypto::KeySigner& key;
  crypto::Certificate cert;
  crypto::Certificate leaf;
  X509Ptr x509;
  X509Ptr leaf_x509;
};

inline Bytes to_der_req(OCSP_REQUEST* req) {
  unsigned char* der = nullptr;
  const int n = i2d_OCSP_REQUEST(req, &der);
  REQUIRE(n > 0);
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return out;
}

inline Bytes to_der_resp(OCSP_RESPONSE* resp) {
  unsigned char* der = nullptr;
  const int n = i2d_OCSP_RESPONSE(resp, &der);
  REQUIRE(n > 0);
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return out;
}

inline OcspReqPtr req_from_der(const Bytes& der) {
  const unsigned char* p = der.data();
  OcspReqPtr r(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE_MESSAGE(r, "OpenSSL refuses the request: " << openssl_errors());
  REQUIRE(p == der.data() + der.size());
  return r;
}

inline OcspRespPtr resp_from_der(const Bytes& der) {
  const unsigned char* p = der.data();
  OcspRespPtr r(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE_MESSAGE(r, "OpenSSL refuses the response: " << openssl_errors());
  REQUIRE(p == der.data() + der.size());
  return r;
}

inline AsnIntPtr asn1_serial(const Bytes& big_endian) {
  BnPtr bn(BN_bin2bn(big_endian.data(), static_cast<int>(big_endian.size()), nullptr));
  REQUIRE(bn);
  AsnIntPtr i(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  REQUIRE(i);
  return i;
}

// OpenSSL's CertID for `serial` issued by `ca`.
inline OcspIdPtr openssl_id(const EVP_MD* md, X509* ca, const Bytes& serial) {
  auto s = asn1_serial(serial);
  OcspIdPtr id(OCSP_cert_id_new(md, X509_get_subject_name(ca), X509_get0_pubkey_bitstr(ca), s.get()));
  REQUIRE(id);
  return id;
}

inline Bytes octets(const ASN1_OCTET_STRING* s) {
  return Bytes(ASN1_STRING_get0_data(s), ASN1_STRING_get0_data(s) + ASN1_STRING_length(s));
}

// INTEGER contents, as they travel in a CertID.
inline Bytes integer_contents(const ASN1_INTEGER* i) {
  unsigned char* der = nullptr;
  const int n = i2d_ASN1_INTEGER(i, &der);
  REQUIRE(n > 0);
  Bytes whole(der, der + n);
  OPENSSL_free(der);
  auto t = crypto::der::read_single(whole, tag::kInteger);
  REQUIRE(t.has_value());
  return Bytes(t->contents.begin(), t->contents.end());
}

inline std::int64_t unix_of(const ASN1_GENERALIZEDTIME* t) {
  REQUIRE(t != nullptr);
  std::tm tm{};
  REQUIRE(ASN1_TIME_to_tm(t, &tm) == 1);
  return static_cast<std::int64_t>(timegm(&tm));
}

inline ocsp::CertId expected_id(HashAlg h, const Ca& ca, const Bytes& serial) {
  return ocsp::make_cert_id(h, ca.cert, serial);
}

inline X509StackPtr stack_of(std::initializer_list<X509*> xs) {
  X509StackPtr s(sk_X509_new_null());
  REQUIRE(s);
  for (X509* x : xs) REQUIRE(sk_X509_push(s.get(), x) > 0);
  return s;
}

// A trust store holding `anchor`, evaluating at t0() (the fixtures live in 2030).
inline StorePtr store_at_t0(X509* anchor) {
  StorePtr st(X509_STORE_new());
  REQUIRE(st);
  REQUIRE(X509_STORE_add_cert(st.get(), anchor) == 1);
  X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(st.get()), static_cast<time_t>(to_unix(t0())));
  return st;
}

inline PkeyPtr private_pkey(const crypto::KeySigner& k) {
  auto pem = k.to_pem();
  REQUIRE(pem.has_value());
  BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  REQUIRE(bio);
  PkeyPtr p(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(p);
  return p;
}

inline void require_malformed(const Result<ocsp::Request>& r, const char* what) {
  INFO(what);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::malformed);
}

// Hand-made requests for the refusal tests: what no well-behaved encoder writes.
struct RawExt {
  RawExt(Bytes o, bool c, Bytes v, bool f = false)
      : oid(std::move(o)), critical(c), value(std::move(v)), explicit_false(f) {}
  Bytes oid;
  bool critical = false;
  Bytes value;
  bool explicit_false = false;  // encodes critical FALSE (which DER forbids)
};

inline Bytes raw_cert_id(ByteView hash_oid, int params /* 0 absent, 1 NULL, 2 an INTEGER */, const Bytes& name_hash,
                         const Bytes& key_hash, const Bytes& serial_contents) {
  crypto::der::Writer w;
  const auto m = w.begin(tag::kSequence);
  const auto a = w.begin(tag::kSequence);
  w.oid(hash_oid);
  if (params == 1) w.null();
  if (params == 2) w.small_integer(0);
  w.end(a);
  w.octet_string(name_hash);
  w.octet_string(key_hash);
  w.tlv(tag::kInteger, serial_contents);
  w.end(m);
  return w.take();
}

inline Bytes raw_cert_id(const ocsp::CertId& id, int params = 1) {
  const ByteView oids[] = {crypto::oid::sha1, crypto::oid::sha256, crypto::oid::sha384, crypto::oid::sha512};
  return raw_cert_id(oids[static_cast<int>(id.hash)], params, id.issuer_name_hash, id.issuer_key_hash, id.serial);
}

inline void raw_extensions(crypto::der::Writer& w, const std::vector<RawExt>& exts) {
  const auto seq = w.begin(tag::kSequence);
  for (const RawExt& e : exts) {
    const auto x = w.begin(tag::kSequence);
    w.oid(e.oid);
    if (e.critical || e.explicit_false) w.boolean(e.critical);
    w.octet_string(e.value);
    w.end(x);
  }
  w.end(seq);
}

struct RawRequest {
  RawRequest(std::vector<Bytes> ids, std::vector<RawExt> e = {}) : cert_ids(std::move(ids)), exts(std::move(e)) {}
  std::vector<Bytes> cert_ids;
  std::vector<RawExt> exts;
  bool empty_exts = false;
  std::optional<std::int64_t> version;
  std::vector<RawExt> single_exts;  // on the first Request
  bool requestor = false;
  bool signature = false;
};

inline Bytes raw_request(const RawRequest& q) {
  crypto::der::Writer w;
  const auto m = w.begin(tag::kSequence);
  const auto tbs = w.begin(tag::kSequence);
  if (q.version) {
    const auto v = w.begin(tag::context_constructed(0));
    w.small_integer(*q.version);
    w.end(v);
  }
  if (q.requestor) {
    const auto r = w.begin(tag::context_constructed(1));
    w.string(tag::context(2), "client.example");  // dNSName
    w.end(r);
  }
  const auto list = w.begin(tag::kSequence);
  for (std::size_t i = 0; i < q.cert_ids.size(); ++i) {
    const auto one = w.begin(tag::kSequence);
    w.raw(q.cert_ids[i]);
    if (i == 0 && !q.single_exts.empty()) {
      const auto wrap = w.begin(tag::context_constructed(0));
      raw_extensions(w, q.single_exts);
      w.end(wrap);
    }
    w.end(one);
  }
  w.end(list);
  if (!q.exts.empty() || q.empty_exts) {
    const auto wrap = w.begin(tag::context_constructed(2));
    raw_extensions(w, q.exts);
    w.end(wrap);
  }
  w.end(tbs);
  if (q.signature) {
    const auto sig = w.begin(tag::context_constructed(0));
    const auto s = w.begin(tag::kSequence);
    w.raw(crypto::algorithm_identifier(crypto::SignatureAlgorithm::ecdsa_sha256));
    const std::uint8_t junk[] = {1, 2, 3};
    w.bit_string(junk);
    w.end(s);
    w.end(sig);
  }
  w.end(m);
  return w.take();
}

inline Bytes nonce_value(const Bytes& nonce) {
  crypto::der::Writer w;
  w.octet_string(nonce);
  return w.take();
}

inline Bytes oid_bytes(ByteView o) { return Bytes(o.begin(), o.end()); }

inline ocsp::ResponseSpec three_statuses(const Ca& ca, HashAlg h, std::optional<Bytes> nonce) {
  ocsp::ResponseSpec spec;
  spec.produced_at = t0() + Seconds(5);
  ocsp::SingleResponse good;
  good.id = expected_id(h, ca, kSerialGood);
  good.this_update = t0();
  good.next_update = t0() + Seconds(4 * 86400);
  ocsp::SingleResponse revoked;
  revoked.id = expected_id(h, ca, kSerialRevoked);
  revoked.status = ocsp::CertStatus::revoked;
  revoked.revoked_at = t0() - Seconds(7200);
  revoked.reason = 1;  // keyCompromise
  revoked.this_update = t0() + Seconds(1);
  revoked.next_update = t0() + Seconds(86400);
  ocsp::SingleResponse unknown;
  unknown.id = expected_id(h, ca, kSerialUnknown);
  unknown.status = ocsp::CertStatus::unknown;
  unknown.this_update = t0() + Seconds(2);
  unknown.next_update = t0() + Seconds(2 * 86400);
  spec.responses = {good, revoked, unknown};
  spec.nonce = std::move(nonce);
  return spec;
}

inline const KeyType kSignerTypes[] = {KeyType::ec_p256, KeyType::rsa_2048, KeyType::ed25519};

}  // namespace sigil::test::ocsp_fixture
