// OCSP codec: requests made by OpenSSL (API and `openssl ocsp`) parse to the right CertIDs and
// nonces; responses made here verify with OpenSSL's OCSP_basic_verify (CA-signed and delegated,
// ECDSA, RSA and Ed25519) and give the right statuses; malformed input is refused, never crashes.
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
#include "tests/crypto/fixtures.hpp"
#include "tests/crypto/openssl_util.hpp"

namespace sigil::test {
namespace {

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

const Bytes kSerialGood = {0x3a, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                           0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
const Bytes kSerialRevoked = {0x7f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
const Bytes kSerialUnknown = {0x00, 0x80, 0x00, 0x01};  // high bit set: INTEGER contents need the 0x00

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

Bytes to_der_req(OCSP_REQUEST* req) {
  unsigned char* der = nullptr;
  const int n = i2d_OCSP_REQUEST(req, &der);
  REQUIRE(n > 0);
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return out;
}

Bytes to_der_resp(OCSP_RESPONSE* resp) {
  unsigned char* der = nullptr;
  const int n = i2d_OCSP_RESPONSE(resp, &der);
  REQUIRE(n > 0);
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return out;
}

OcspReqPtr req_from_der(const Bytes& der) {
  const unsigned char* p = der.data();
  OcspReqPtr r(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE_MESSAGE(r, "OpenSSL refuses the request: " << openssl_errors());
  REQUIRE(p == der.data() + der.size());
  return r;
}

OcspRespPtr resp_from_der(const Bytes& der) {
  const unsigned char* p = der.data();
  OcspRespPtr r(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE_MESSAGE(r, "OpenSSL refuses the response: " << openssl_errors());
  REQUIRE(p == der.data() + der.size());
  return r;
}

AsnIntPtr asn1_serial(const Bytes& big_endian) {
  BnPtr bn(BN_bin2bn(big_endian.data(), static_cast<int>(big_endian.size()), nullptr));
  REQUIRE(bn);
  AsnIntPtr i(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  REQUIRE(i);
  return i;
}

// OpenSSL's CertID for `serial` issued by `ca`.
OcspIdPtr openssl_id(const EVP_MD* md, X509* ca, const Bytes& serial) {
  auto s = asn1_serial(serial);
  OcspIdPtr id(OCSP_cert_id_new(md, X509_get_subject_name(ca), X509_get0_pubkey_bitstr(ca), s.get()));
  REQUIRE(id);
  return id;
}

Bytes octets(const ASN1_OCTET_STRING* s) {
  return Bytes(ASN1_STRING_get0_data(s), ASN1_STRING_get0_data(s) + ASN1_STRING_length(s));
}

// INTEGER contents, as they travel in a CertID.
Bytes integer_contents(const ASN1_INTEGER* i) {
  unsigned char* der = nullptr;
  const int n = i2d_ASN1_INTEGER(i, &der);
  REQUIRE(n > 0);
  Bytes whole(der, der + n);
  OPENSSL_free(der);
  auto t = crypto::der::read_single(whole, tag::kInteger);
  REQUIRE(t.has_value());
  return Bytes(t->contents.begin(), t->contents.end());
}

std::int64_t unix_of(const ASN1_GENERALIZEDTIME* t) {
  REQUIRE(t != nullptr);
  std::tm tm{};
  REQUIRE(ASN1_TIME_to_tm(t, &tm) == 1);
  return static_cast<std::int64_t>(timegm(&tm));
}

ocsp::CertId expected_id(HashAlg h, const Ca& ca, const Bytes& serial) {
  return ocsp::make_cert_id(h, ca.cert, serial);
}

X509StackPtr stack_of(std::initializer_list<X509*> xs) {
  X509StackPtr s(sk_X509_new_null());
  REQUIRE(s);
  for (X509* x : xs) REQUIRE(sk_X509_push(s.get(), x) > 0);
  return s;
}

// A trust store holding `anchor`, evaluating at t0() (the fixtures live in 2030).
StorePtr store_at_t0(X509* anchor) {
  StorePtr st(X509_STORE_new());
  REQUIRE(st);
  REQUIRE(X509_STORE_add_cert(st.get(), anchor) == 1);
  X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(st.get()), static_cast<time_t>(to_unix(t0())));
  return st;
}

PkeyPtr private_pkey(const crypto::KeySigner& k) {
  auto pem = k.to_pem();
  REQUIRE(pem.has_value());
  BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  REQUIRE(bio);
  PkeyPtr p(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(p);
  return p;
}

void require_malformed(const Result<ocsp::Request>& r, const char* what) {
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

Bytes raw_cert_id(ByteView hash_oid, int params /* 0 absent, 1 NULL, 2 an INTEGER */, const Bytes& name_hash,
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

Bytes raw_cert_id(const ocsp::CertId& id, int params = 1) {
  const ByteView oids[] = {crypto::oid::sha1, crypto::oid::sha256, crypto::oid::sha384, crypto::oid::sha512};
  return raw_cert_id(oids[static_cast<int>(id.hash)], params, id.issuer_name_hash, id.issuer_key_hash, id.serial);
}

void raw_extensions(crypto::der::Writer& w, const std::vector<RawExt>& exts) {
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

Bytes raw_request(const RawRequest& q) {
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

Bytes nonce_value(const Bytes& nonce) {
  crypto::der::Writer w;
  w.octet_string(nonce);
  return w.take();
}

Bytes oid_bytes(ByteView o) { return Bytes(o.begin(), o.end()); }

ocsp::ResponseSpec three_statuses(const Ca& ca, HashAlg h, std::optional<Bytes> nonce) {
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

const KeyType kSignerTypes[] = {KeyType::ec_p256, KeyType::rsa_2048, KeyType::ed25519};

}  // namespace

TEST_CASE("ocsp: issuer hashes and CertIDs equal OpenSSL's") {
  for (KeyType type : kSignerTypes) {
    CAPTURE(crypto::to_string(type));
    Ca ca(type);
    struct Case {
      HashAlg h;
      const EVP_MD* md;
    };
    const Case cases[] = {{HashAlg::sha1, EVP_sha1()},
                          {HashAlg::sha256, EVP_sha256()},
                          {HashAlg::sha384, EVP_sha384()},
                          {HashAlg::sha512, EVP_sha512()}};
    for (const Case& c : cases) {
      OcspIdPtr id(OCSP_cert_to_id(c.md, ca.leaf_x509.get(), ca.x509.get()));
      REQUIRE(id);
      ASN1_OCTET_STRING* name_hash = nullptr;
      ASN1_OCTET_STRING* key_hash = nullptr;
      ASN1_OBJECT* md_oid = nullptr;
      ASN1_INTEGER* serial = nullptr;
      REQUIRE(OCSP_id_get0_info(&name_hash, &md_oid, &key_hash, &serial, id.get()) == 1);
      CHECK(OBJ_obj2nid(md_oid) == EVP_MD_get_type(c.md));
      CHECK(ocsp::issuer_name_hash(c.h, ca.cert.tbs().subject) == octets(name_hash));
      CHECK(ocsp::issuer_key_hash(c.h, ca.cert.public_key()) == octets(key_hash));
      CHECK(ocsp::issuer_name_hash(c.h, ca.cert.tbs().subject).size() == ocsp::digest_size(c.h));
      const ocsp::CertId ours = ocsp::make_cert_id(c.h, ca.cert, kSerialGood);
      CHECK(ours.serial == integer_contents(serial));
      CHECK(ours.serial == Bytes(ca.leaf.tbs().serial.begin(), ca.leaf.tbs().serial.end()));
    }
  }
  // The responderID byKey hash is OpenSSL's X509_pubkey_digest with SHA-1.
  Ca ca(KeyType::ec_p256);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  REQUIRE(X509_pubkey_digest(ca.x509.get(), EVP_sha1(), md, &len) == 1);
  CHECK(ocsp::responder_key_hash(ca.cert.public_key()) == Bytes(md, md + len));
  // A serial with its high bit set gets the 0x00 an INTEGER needs.
  CHECK(ocsp::make_cert_id(HashAlg::sha1, ca.cert, kSerialUnknown).serial == kSerialUnknown);
  CHECK(ocsp::make_cert_id(HashAlg::sha1, ca.cert, Bytes{0x00, 0x00, 0x05}).serial == Bytes{0x05});
}

TEST_CASE("ocsp: requests made by OpenSSL parse to the right CertIDs and nonce") {
  Ca ca(KeyType::ec_p256);
  for (const EVP_MD* md : {EVP_sha1(), EVP_sha256()}) {
    const HashAlg h = md == EVP_sha1() ? HashAlg::sha1 : HashAlg::sha256;
    CAPTURE(EVP_MD_get0_name(md));

    SUBCASE("one CertID from OCSP_cert_to_id, with a nonce") {
      OcspReqPtr req(OCSP_REQUEST_new());
      REQUIRE(req);
      REQUIRE(OCSP_request_add0_id(req.get(), OCSP_cert_to_id(md, ca.leaf_x509.get(), ca.x509.get())) != nullptr);
      const Bytes nonce = crypto::random_bytes(16);
      REQUIRE(OCSP_request_add1_nonce(req.get(), const_cast<unsigned char*>(nonce.data()),
                                      static_cast<int>(nonce.size())) == 1);
      const Bytes der = to_der_req(req.get());
      auto parsed = ocsp::parse_request(der);
      REQUIRE_MESSAGE(parsed.has_value(), (parsed ? "" : parsed.error().detail));
      REQUIRE(parsed->ids.size() == 1);
      CHECK(parsed->ids[0] == expected_id(h, ca, kSerialGood));
      REQUIRE(parsed->nonce.has_value());
      CHECK(*parsed->nonce == nonce);
      // Our encoder writes the same bytes as OpenSSL's for the same request.
      CHECK(ocsp::encode_request(*parsed) == der);
    }
    SUBCASE("a random nonce of OpenSSL's choosing, and three CertIDs") {
      OcspReqPtr req(OCSP_REQUEST_new());
      REQUIRE(req);
      for (const Bytes* s : {&kSerialGood, &kSerialRevoked, &kSerialUnknown})
        REQUIRE(OCSP_request_add0_id(req.get(), openssl_id(md, ca.x509.get(), *s).release()) != nullptr);
      REQUIRE(OCSP_request_add1_nonce(req.get(), nullptr, 32) == 1);
      const Bytes der = to_der_req(req.get());
      auto parsed = ocsp::parse_request(der);
      REQUIRE(parsed.has_value());
      REQUIRE(parsed->ids.size() == 3);
      CHECK(parsed->ids[0] == expected_id(h, ca, kSerialGood));
      CHECK(parsed->ids[1] == expected_id(h, ca, kSerialRevoked));
      CHECK(parsed->ids[2] == expected_id(h, ca, kSerialUnknown));
      REQUIRE(parsed->nonce.has_value());
      CHECK(parsed->nonce->size() == 32);
      CHECK(ocsp::encode_request(*parsed) == der);
    }
    SUBCASE("no nonce") {
      OcspReqPtr req(OCSP_REQUEST_new());
      REQUIRE(req);
      REQUIRE(OCSP_request_add0_id(req.get(), openssl_id(md, ca.x509.get(), kSerialRevoked).release()) != nullptr);
      auto parsed = ocsp::parse_request(to_der_req(req.get()));
      REQUIRE(parsed.has_value());
      CHECK(parsed->ids == std::vector<ocsp::CertId>{expected_id(h, ca, kSerialRevoked)});
      CHECK_FALSE(parsed->nonce.has_value());
    }
    SUBCASE("signed, with a requestorName: accepted, the signature ignored") {
      OcspReqPtr req(OCSP_REQUEST_new());
      REQUIRE(req);
      REQUIRE(OCSP_request_add0_id(req.get(), openssl_id(md, ca.x509.get(), kSerialGood).release()) != nullptr);
      auto key = private_pkey(ca.key);
      REQUIRE(OCSP_request_sign(req.get(), ca.x509.get(), key.get(), EVP_sha256(), nullptr, 0) == 1);
      REQUIRE(OCSP_request_is_signed(req.get()) == 1);
      auto parsed = ocsp::parse_request(to_der_req(req.get()));
      REQUIRE_MESSAGE(parsed.has_value(), (parsed ? "" : parsed.error().detail));
      CHECK(parsed->ids == std::vector<ocsp::CertId>{expected_id(h, ca, kSerialGood)});
    }
  }
}

TEST_CASE("ocsp: our requests parse with OpenSSL") {
  Ca ca(KeyType::ec_p256);
  ocsp::Request q;
  q.ids = {expected_id(HashAlg::sha1, ca, kSerialGood), expected_id(HashAlg::sha256, ca, kSerialUnknown)};
  q.nonce = crypto::random_bytes(32);
  const Bytes der = ocsp::encode_request(q);
  auto req = req_from_der(der);
  REQUIRE(OCSP_request_onereq_count(req.get()) == 2);
  auto want0 = openssl_id(EVP_sha1(), ca.x509.get(), kSerialGood);
  auto want1 = openssl_id(EVP_sha256(), ca.x509.get(), kSerialUnknown);
  CHECK(OCSP_id_cmp(OCSP_onereq_get0_id(OCSP_request_onereq_get0(req.get(), 0)), want0.get()) == 0);
  CHECK(OCSP_id_cmp(OCSP_onereq_get0_id(OCSP_request_onereq_get0(req.get(), 1)), want1.get()) == 0);
  auto back = ocsp::parse_request(der);
  REQUIRE(back.has_value());
  CHECK(back->ids == q.ids);
  CHECK(back->nonce == q.nonce);
}

TEST_CASE("ocsp: requests from the openssl command line") {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
    MESSAGE("openssl binary not found; skipped");
    return;
  }
  Ca ca(KeyType::rsa_2048);
  const auto dir = std::filesystem::temp_directory_path() / ("sigil-ocsp-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "ca.pem") << ca.cert.pem();
    std::ofstream(dir / "leaf.pem") << ca.leaf.pem();
  }
  for (const char* digest : {"sha1", "sha256"}) {
    CAPTURE(digest);
    const std::string cmd = "openssl ocsp -" + std::string(digest) + " -issuer " + (dir / "ca.pem").string() +
                            " -cert " + (dir / "leaf.pem").string() + " -serial 0x7f01020304050607 -reqout " +
                            (dir / "req.der").string() + " >/dev/null 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::ifstream in(dir / "req.der", std::ios::binary);
    const Bytes der((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto parsed = ocsp::parse_request(der);
    REQUIRE_MESSAGE(parsed.has_value(), (parsed ? "" : parsed.error().detail));
    const HashAlg h = std::string(digest) == "sha1" ? HashAlg::sha1 : HashAlg::sha256;
    CHECK(parsed->ids ==
          std::vector<ocsp::CertId>{expected_id(h, ca, kSerialGood), expected_id(h, ca, kSerialRevoked)});
    REQUIRE(parsed->nonce.has_value());  // the command adds one by default
    CHECK(parsed->nonce->size() == 16);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("ocsp: responses verify with OpenSSL and give the right statuses") {
  for (KeyType type : kSignerTypes) {
    for (bool delegated : {false, true}) {
      CAPTURE(crypto::to_string(type));
      CAPTURE(delegated);
      Ca ca(type);
      const crypto::KeySigner& responder_key = cached_key(type, 30);
      const crypto::Signer& signer = delegated ? static_cast<const crypto::Signer&>(responder_key) : ca.key;

      // The client's request, made by OpenSSL, with a nonce.
      OcspReqPtr req(OCSP_REQUEST_new());
      REQUIRE(req);
      REQUIRE(OCSP_request_add0_id(req.get(), OCSP_cert_to_id(EVP_sha1(), ca.leaf_x509.get(), ca.x509.get())) !=
              nullptr);
      REQUIRE(OCSP_request_add1_nonce(req.get(), nullptr, 16) == 1);
      auto parsed_req = ocsp::parse_request(to_der_req(req.get()));
      REQUIRE(parsed_req.has_value());

      ocsp::ResponseSpec spec = three_statuses(ca, HashAlg::sha1, parsed_req->nonce);
      CHECK(spec.responses[0].id == parsed_req->ids[0]);
      if (delegated) spec.certs = {ca.responder_cert(responder_key)};
      auto der = ocsp::make_response(signer, spec);
      REQUIRE_MESSAGE(der.has_value(), (der ? "" : der.error().detail));

      auto resp = resp_from_der(*der);
      REQUIRE(OCSP_response_status(resp.get()) == OCSP_RESPONSE_STATUS_SUCCESSFUL);
      OcspBasicPtr bs(OCSP_response_get1_basic(resp.get()));
      REQUIRE(bs);

      auto store = store_at_t0(ca.x509.get());
      {
        // Directly signed: the CA certificate is the signer, found among `certs`. Delegated: the
        // responder certificate travels in the response.
        auto certs = stack_of({ca.x509.get()});
        const int ok = OCSP_basic_verify(bs.get(), delegated ? nullptr : certs.get(), store.get(), 0);
        CHECK_MESSAGE(ok == 1, "OCSP_basic_verify: " << openssl_errors());
      }
      {
        // Another CA as trust anchor: refused.
        Ca other(type, 1);
        auto other_store = store_at_t0(other.x509.get());
        auto certs = stack_of({ca.x509.get()});
        CHECK(OCSP_basic_verify(bs.get(), delegated ? nullptr : certs.get(), other_store.get(), 0) <= 0);
        ERR_clear_error();
      }
      CHECK(OCSP_check_nonce(req.get(), bs.get()) == 1);

      int status = -1, reason = -1;
      ASN1_GENERALIZEDTIME *rev = nullptr, *this_upd = nullptr, *next_upd = nullptr;
      auto good = openssl_id(EVP_sha1(), ca.x509.get(), kSerialGood);
      REQUIRE(OCSP_resp_find_status(bs.get(), good.get(), &status, &reason, &rev, &this_upd, &next_upd) == 1);
      CHECK(status == V_OCSP_CERTSTATUS_GOOD);
      CHECK(unix_of(this_upd) == to_unix(t0()));
      CHECK(unix_of(next_upd) == to_unix(t0() + Seconds(4 * 86400)));

      auto revoked = openssl_id(EVP_sha1(), ca.x509.get(), kSerialRevoked);
      REQUIRE(OCSP_resp_find_status(bs.get(), revoked.get(), &status, &reason, &rev, &this_upd, &next_upd) == 1);
      CHECK(status == V_OCSP_CERTSTATUS_REVOKED);
      CHECK(reason == OCSP_REVOKED_STATUS_KEYCOMPROMISE);
      CHECK(unix_of(rev) == to_unix(t0() - Seconds(7200)));
      CHECK(unix_of(this_upd) == to_unix(t0() + Seconds(1)));

      auto unknown = openssl_id(EVP_sha1(), ca.x509.get(), kSerialUnknown);
      REQUIRE(OCSP_resp_find_status(bs.get(), unknown.get(), &status, &reason, &rev, &this_upd, &next_upd) == 1);
      CHECK(status == V_OCSP_CERTSTATUS_UNKNOWN);

      // A serial not in the response is not found.
      auto absent = openssl_id(EVP_sha1(), ca.x509.get(), Bytes{0x42});
      CHECK(OCSP_resp_find_status(bs.get(), absent.get(), &status, &reason, &rev, &this_upd, &next_upd) == 0);

      // OCSP_basic_verify and our parser agree on the responder: byKey, SHA-1 of the signer's key.
      const ASN1_OCTET_STRING* rid_key = nullptr;
      const X509_NAME* rid_name = nullptr;
      REQUIRE(OCSP_resp_get0_id(bs.get(), &rid_key, &rid_name) == 1);
      REQUIRE(rid_key != nullptr);
      CHECK(rid_name == nullptr);
      CHECK(octets(rid_key) == ocsp::responder_key_hash(signer.public_key()));

      // Our parser round-trips it, and our verifier agrees.
      auto back = ocsp::parse_response(*der);
      REQUIRE_MESSAGE(back.has_value(), (back ? "" : back.error().detail));
      CHECK(back->status == ocsp::ResponseStatus::successful);
      CHECK(back->produced_at == spec.produced_at);
      REQUIRE(back->responses.size() == 3);
      for (std::size_t i = 0; i < 3; ++i) CHECK(back->responses[i] == spec.responses[i]);
      CHECK(back->nonce == spec.nonce);
      CHECK(back->certs == spec.certs);
      CHECK(back->sig_alg == signer.signature_algorithm());
      CHECK(back->responder_key_hash == ocsp::responder_key_hash(signer.public_key()));
      CHECK(back->responder_name.empty());
      CHECK(ocsp::verify_response(*back, signer.public_key()).has_value());
      auto wrong = ocsp::verify_response(*back, cached_key(type, 31).public_key());
      REQUIRE_FALSE(wrong.has_value());
      CHECK(wrong.error().code == Errc::unauthorized);

      // A flipped signature byte: OpenSSL and we both refuse.
      ocsp::ParsedResponse tampered = *back;
      tampered.signature[tampered.signature.size() / 2] ^= 0x01;
      auto bad_der =
          ocsp::assemble_response(tampered.tbs_response_data, tampered.sig_alg, tampered.signature, tampered.certs);
      auto bad_resp = resp_from_der(bad_der);
      OcspBasicPtr bad_bs(OCSP_response_get1_basic(bad_resp.get()));
      REQUIRE(bad_bs);
      auto certs = stack_of({ca.x509.get()});
      CHECK(OCSP_basic_verify(bad_bs.get(), delegated ? nullptr : certs.get(), store.get(), 0) <= 0);
      ERR_clear_error();
      CHECK_FALSE(ocsp::verify_response(tampered, signer.public_key()).has_value());
    }
  }
}

TEST_CASE("ocsp: a response without a nonce, in SHA-256 CertIDs, and the split signing path") {
  Ca ca(KeyType::ec_p256);
  ocsp::ResponseSpec spec = three_statuses(ca, HashAlg::sha256, std::nullopt);
  spec.responses.resize(1);
  auto der = ocsp::make_response(ca.key, spec);
  REQUIRE(der.has_value());
  auto resp = resp_from_der(*der);
  OcspBasicPtr bs(OCSP_response_get1_basic(resp.get()));
  REQUIRE(bs);
  CHECK(OCSP_BASICRESP_get_ext_count(bs.get()) == 0);
  OcspReqPtr req(OCSP_REQUEST_new());
  REQUIRE(OCSP_request_add0_id(req.get(), openssl_id(EVP_sha256(), ca.x509.get(), kSerialGood).release()));
  CHECK(OCSP_check_nonce(req.get(), bs.get()) == 2);  // neither has a nonce
  auto store = store_at_t0(ca.x509.get());
  auto certs = stack_of({ca.x509.get()});
  CHECK(OCSP_basic_verify(bs.get(), certs.get(), store.get(), 0) == 1);
  auto id = openssl_id(EVP_sha256(), ca.x509.get(), kSerialGood);
  int status = -1;
  CHECK(OCSP_resp_find_status(bs.get(), id.get(), &status, nullptr, nullptr, nullptr, nullptr) == 1);
  CHECK(status == V_OCSP_CERTSTATUS_GOOD);

  // encode_response_data + sign + assemble_response is make_response (Ed25519 is deterministic).
  const auto& ed = cached_key(KeyType::ed25519, 40);
  auto tbs = ocsp::encode_response_data(ocsp::responder_key_hash(ed.public_key()), spec);
  REQUIRE(tbs.has_value());
  auto sig = ed.sign(*tbs);
  REQUIRE(sig.has_value());
  auto whole = ocsp::make_response(ed, spec);
  REQUIRE(whole.has_value());
  CHECK(ocsp::assemble_response(*tbs, ed.signature_algorithm(), *sig, {}) == *whole);

  // The times are GeneralizedTime even before 2050, unlike certificate validity.
  const std::string stamp = "20300101000005Z";  // producedAt
  Bytes needle{tag::kGeneralizedTime, 15};
  needle.insert(needle.end(), stamp.begin(), stamp.end());
  CHECK(std::search(tbs->begin(), tbs->end(), needle.begin(), needle.end()) != tbs->end());
  const Bytes utc = {tag::kUtcTime, 13, '3', '0'};  // what a UTCTime in 2030 would start with
  CHECK(std::search(tbs->begin(), tbs->end(), utc.begin(), utc.end()) == tbs->end());
}

TEST_CASE("ocsp: reason codes; unspecified is left out") {
  Ca ca(KeyType::ec_p256);
  for (int code : {0, 1, 2, 3, 4, 5, 6, 8, 9, 10}) {
    CAPTURE(code);
    ocsp::ResponseSpec spec = three_statuses(ca, HashAlg::sha1, std::nullopt);
    spec.responses = {spec.responses[1]};
    spec.responses[0].reason = code;
    auto der = ocsp::make_response(ca.key, spec);
    REQUIRE(der.has_value());
    auto resp = resp_from_der(*der);
    OcspBasicPtr bs(OCSP_response_get1_basic(resp.get()));
    REQUIRE(bs);
    auto id = openssl_id(EVP_sha1(), ca.x509.get(), kSerialRevoked);
    int status = -1, reason = -2;
    REQUIRE(OCSP_resp_find_status(bs.get(), id.get(), &status, &reason, nullptr, nullptr, nullptr) == 1);
    CHECK(status == V_OCSP_CERTSTATUS_REVOKED);
    CHECK(reason == (code == 0 ? OCSP_REVOKED_STATUS_NOSTATUS : code));
    auto back = ocsp::parse_response(*der);
    REQUIRE(back.has_value());
    CHECK(back->responses[0].reason == (code == 0 ? std::nullopt : std::optional<int>(code)));
  }
  // No reason at all.
  ocsp::ResponseSpec spec = three_statuses(ca, HashAlg::sha1, std::nullopt);
  spec.responses = {spec.responses[1]};
  spec.responses[0].reason.reset();
  auto back = ocsp::parse_response(*ocsp::make_response(ca.key, spec));
  REQUIRE(back.has_value());
  CHECK_FALSE(back->responses[0].reason.has_value());
}

TEST_CASE("ocsp: error responses") {
  using RS = ocsp::ResponseStatus;
  for (RS s : {RS::malformed_request, RS::internal_error, RS::try_later, RS::sig_required, RS::unauthorized}) {
    CAPTURE(static_cast<int>(s));
    const Bytes der = ocsp::error_response(s);
    auto resp = resp_from_der(der);
    CHECK(OCSP_response_status(resp.get()) == static_cast<int>(s));
    OcspBasicPtr bs(OCSP_response_get1_basic(resp.get()));
    CHECK_FALSE(bs);
    ERR_clear_error();
    // Byte for byte what OpenSSL makes.
    OcspRespPtr theirs(OCSP_response_create(static_cast<int>(s), nullptr));
    REQUIRE(theirs);
    CHECK(to_der_resp(theirs.get()) == der);
    auto back = ocsp::parse_response(der);
    REQUIRE(back.has_value());
    CHECK(back->status == s);
    CHECK(back->responses.empty());
  }
}

TEST_CASE("ocsp: parse_response reads responses OpenSSL signs") {
  for (KeyType type : kSignerTypes) {
    for (unsigned long flags :
         {0UL, static_cast<unsigned long>(OCSP_RESPID_KEY), static_cast<unsigned long>(OCSP_NOCERTS)}) {
      CAPTURE(crypto::to_string(type));
      CAPTURE(flags);
      Ca ca(type);
      OcspReqPtr req(OCSP_REQUEST_new());
      REQUIRE(OCSP_request_add0_id(req.get(), openssl_id(EVP_sha256(), ca.x509.get(), kSerialGood).release()));
      REQUIRE(OCSP_request_add1_nonce(req.get(), nullptr, 20) == 1);
      auto parsed_req = ocsp::parse_request(to_der_req(req.get()));
      REQUIRE(parsed_req.has_value());

      OcspBasicPtr bs(OCSP_BASICRESP_new());
      REQUIRE(bs);
      Ptr<ASN1_TIME, ASN1_TIME_free> this_upd(ASN1_TIME_set(nullptr, static_cast<time_t>(to_unix(t0()))));
      Ptr<ASN1_TIME, ASN1_TIME_free> next_upd(ASN1_TIME_set(nullptr, static_cast<time_t>(to_unix(t0()) + 86400)));
      Ptr<ASN1_TIME, ASN1_TIME_free> rev(ASN1_TIME_set(nullptr, static_cast<time_t>(to_unix(t0()) - 60)));
      auto good = openssl_id(EVP_sha256(), ca.x509.get(), kSerialGood);
      auto revoked = openssl_id(EVP_sha256(), ca.x509.get(), kSerialRevoked);
      REQUIRE(OCSP_basic_add1_status(bs.get(), good.get(), V_OCSP_CERTSTATUS_GOOD, 0, nullptr, this_upd.get(),
                                     next_upd.get()));
      REQUIRE(OCSP_basic_add1_status(bs.get(), revoked.get(), V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_SUPERSEDED,
                                     rev.get(), this_upd.get(), nullptr));
      REQUIRE(OCSP_copy_nonce(bs.get(), req.get()) == 1);
      auto key = private_pkey(ca.key);
      const EVP_MD* md = type == KeyType::ed25519 ? nullptr : EVP_sha256();
      REQUIRE_MESSAGE(OCSP_basic_sign(bs.get(), ca.x509.get(), key.get(), md, nullptr, flags) == 1, openssl_errors());
      OcspRespPtr resp(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs.get()));
      REQUIRE(resp);

      auto back = ocsp::parse_response(to_der_resp(resp.get()));
      REQUIRE_MESSAGE(back.has_value(), (back ? "" : back.error().detail));
      REQUIRE(back->responses.size() == 2);
      CHECK(back->responses[0].id == parsed_req->ids[0]);
      CHECK(back->responses[0].status == ocsp::CertStatus::good);
      CHECK(back->responses[0].this_update == t0());
      CHECK(back->responses[0].next_update == t0() + Seconds(86400));
      CHECK(back->responses[1].id == expected_id(HashAlg::sha256, ca, kSerialRevoked));
      CHECK(back->responses[1].status == ocsp::CertStatus::revoked);
      CHECK(back->responses[1].reason == std::optional<int>(OCSP_REVOKED_STATUS_SUPERSEDED));
      CHECK(back->responses[1].revoked_at == t0() - Seconds(60));
      CHECK(back->responses[1].next_update == TimePoint{});  // absent
      CHECK(back->nonce == parsed_req->nonce);
      if (flags & OCSP_RESPID_KEY) {
        CHECK(back->responder_key_hash == ocsp::responder_key_hash(ca.key.public_key()));
        CHECK(back->responder_name.empty());
      } else {
        CHECK(back->responder_key_hash.empty());
        CHECK(back->responder_name == Bytes(ca.cert.tbs().subject.begin(), ca.cert.tbs().subject.end()));
      }
      CHECK(back->certs.size() == ((flags & OCSP_NOCERTS) ? 0u : 1u));
      if (!back->certs.empty()) CHECK(back->certs[0] == ca.cert.der());
      CHECK(ocsp::verify_response(*back, ca.key.public_key()).has_value());
    }
  }
}

TEST_CASE("ocsp: request refusals") {
  Ca ca(KeyType::ec_p256);
  const ocsp::CertId id = expected_id(HashAlg::sha1, ca, kSerialGood);
  const Bytes nonce16 = crypto::random_bytes(16);
  const RawExt nonce_ext{oid_bytes(crypto::oid::ocsp_nonce), false, nonce_value(nonce16)};
  const Bytes unknown_oid = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x15, 0x7f};  // 1.3.6.1.4.1.311.21.127

  // The well-formed baseline parses.
  ocsp::Request q{{id, expected_id(HashAlg::sha256, ca, kSerialRevoked)}, nonce16};
  const Bytes good = ocsp::encode_request(q);
  REQUIRE(ocsp::parse_request(good).has_value());

  SUBCASE("truncated at every length, and trailing bytes") {
    for (std::size_t n = 0; n < good.size(); ++n) {
      CAPTURE(n);
      require_malformed(ocsp::parse_request(ByteView(good.data(), n)), "truncated");
    }
    Bytes trailing = good;
    trailing.push_back(0x00);
    require_malformed(ocsp::parse_request(trailing), "trailing byte");
    trailing.back() = 0x05;
    trailing.push_back(0x00);  // a whole trailing NULL
    require_malformed(ocsp::parse_request(trailing), "trailing NULL");
  }
  SUBCASE("number of CertIDs: 1..16") {
    ocsp::Request many;
    for (int i = 0; i < 16; ++i)
      many.ids.push_back(expected_id(HashAlg::sha1, ca, Bytes{0x01, static_cast<std::uint8_t>(i)}));
    auto sixteen = ocsp::parse_request(ocsp::encode_request(many));
    REQUIRE(sixteen.has_value());
    CHECK(sixteen->ids.size() == 16);
    many.ids.push_back(id);
    require_malformed(ocsp::parse_request(ocsp::encode_request(many)), "17 CertIDs");
    require_malformed(ocsp::parse_request(ocsp::encode_request(ocsp::Request{})), "no CertID");
  }
  SUBCASE("nonce sizes (RFC 8954: 1..32)") {
    for (std::size_t n : {std::size_t{1}, std::size_t{16}, std::size_t{32}}) {
      auto r = ocsp::parse_request(ocsp::encode_request({{id}, Bytes(n, 0xab)}));
      REQUIRE(r.has_value());
      CHECK(r->nonce == Bytes(n, 0xab));
    }
    require_malformed(ocsp::parse_request(ocsp::encode_request({{id}, Bytes{}})), "empty nonce");
    require_malformed(ocsp::parse_request(ocsp::encode_request({{id}, Bytes(33, 0xab)})), "33-octet nonce");
    require_malformed(ocsp::parse_request(ocsp::encode_request({{id}, Bytes(1000, 0xab)})), "long nonce");
    // OpenSSL would send 33 octets if told to.
    OcspReqPtr req(OCSP_REQUEST_new());
    REQUIRE(OCSP_request_add0_id(req.get(), openssl_id(EVP_sha1(), ca.x509.get(), kSerialGood).release()));
    REQUIRE(OCSP_request_add1_nonce(req.get(), nullptr, 33) == 1);
    require_malformed(ocsp::parse_request(to_der_req(req.get())), "OpenSSL 33-octet nonce");
    // A nonce not wrapped in its OCTET STRING (some old clients) is not a nonce.
    require_malformed(
        ocsp::parse_request(raw_request({{raw_cert_id(id)}, {{oid_bytes(crypto::oid::ocsp_nonce), false, nonce16}}})),
        "unwrapped nonce");
    // A critical nonce is still a nonce: Sigil knows it.
    auto crit = ocsp::parse_request(
        raw_request({{raw_cert_id(id)}, {{oid_bytes(crypto::oid::ocsp_nonce), true, nonce_value(nonce16)}}}));
    REQUIRE(crit.has_value());
    CHECK(crit->nonce == nonce16);
    // Twice is once too many.
    require_malformed(ocsp::parse_request(raw_request({{raw_cert_id(id)}, {nonce_ext, nonce_ext}})), "two nonces");
  }
  SUBCASE("extensions: unknown ignored, unknown critical refused") {
    auto ok = ocsp::parse_request(raw_request({{raw_cert_id(id)}, {{unknown_oid, false, {0x05, 0x00}}, nonce_ext}}));
    REQUIRE(ok.has_value());
    CHECK(ok->nonce == nonce16);
    require_malformed(ocsp::parse_request(raw_request({{raw_cert_id(id)}, {{unknown_oid, true, {0x05, 0x00}}}})),
                      "critical unknown request extension");
    RawRequest single{{raw_cert_id(id)}};
    single.single_exts = {{unknown_oid, false, {0x05, 0x00}}};
    CHECK(ocsp::parse_request(raw_request(single)).has_value());
    single.single_exts[0].critical = true;
    require_malformed(ocsp::parse_request(raw_request(single)), "critical unknown singleRequestExtension");
    RawRequest empty{{raw_cert_id(id)}};
    empty.empty_exts = true;
    require_malformed(ocsp::parse_request(raw_request(empty)), "empty Extensions");
    // DER: an explicit critical FALSE is not the default's encoding.
    require_malformed(ocsp::parse_request(raw_request({{raw_cert_id(id)}, {{unknown_oid, false, {0x05, 0x00}, true}}})),
                      "explicit critical FALSE");
  }
  SUBCASE("hash algorithms") {
    // Absent parameters are accepted too.
    auto absent = ocsp::parse_request(raw_request({{raw_cert_id(id, 0)}}));
    REQUIRE(absent.has_value());
    CHECK(absent->ids[0] == id);
    require_malformed(ocsp::parse_request(raw_request({{raw_cert_id(id, 2)}})), "INTEGER parameters");
    const Bytes sha224 = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04};
    const Bytes md5 = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05};
    require_malformed(
        ocsp::parse_request(raw_request({{raw_cert_id(sha224, 1, Bytes(28, 1), Bytes(28, 2), id.serial)}})), "SHA-224");
    require_malformed(ocsp::parse_request(raw_request({{raw_cert_id(md5, 1, Bytes(16, 1), Bytes(16, 2), id.serial)}})),
                      "MD5");
    // OpenSSL's CertID with SHA-224 is refused the same way.
    OcspReqPtr req(OCSP_REQUEST_new());
    REQUIRE(OCSP_request_add0_id(req.get(), openssl_id(EVP_sha224(), ca.x509.get(), kSerialGood).release()));
    require_malformed(ocsp::parse_request(to_der_req(req.get())), "OpenSSL SHA-224 CertID");
    // Hashes of the wrong length for the algorithm.
    require_malformed(ocsp::parse_request(raw_request(
                          {{raw_cert_id(crypto::oid::sha1, 1, Bytes(32, 1), id.issuer_key_hash, id.serial)}})),
                      "SHA-256-sized name hash under SHA-1");
    require_malformed(ocsp::parse_request(
                          raw_request({{raw_cert_id(crypto::oid::sha256, 1, Bytes(32, 1), Bytes(20, 2), id.serial)}})),
                      "short key hash");
  }
  SUBCASE("serial numbers") {
    require_malformed(ocsp::parse_request(raw_request({{raw_cert_id(crypto::oid::sha1, 1, id.issuer_name_hash,
                                                                    id.issuer_key_hash, Bytes{0x00, 0x01})}})),
                      "non-minimal serial");
    require_malformed(ocsp::parse_request(raw_request(
                          {{raw_cert_id(crypto::oid::sha1, 1, id.issuer_name_hash, id.issuer_key_hash, Bytes{})}})),
                      "empty serial");
    // Negative (DER-valid) serials parse: the lookup will answer unknown.
    auto neg = ocsp::parse_request(
        raw_request({{raw_cert_id(crypto::oid::sha1, 1, id.issuer_name_hash, id.issuer_key_hash, Bytes{0xff, 0x01})}}));
    REQUIRE(neg.has_value());
    CHECK(neg->ids[0].serial == Bytes{0xff, 0x01});
  }
  SUBCASE("version, requestorName, signature") {
    RawRequest v{{raw_cert_id(id)}};
    v.version = 0;
    CHECK(ocsp::parse_request(raw_request(v)).has_value());
    v.version = 1;
    require_malformed(ocsp::parse_request(raw_request(v)), "version 2");
    RawRequest named{{raw_cert_id(id)}};
    named.requestor = true;
    named.signature = true;
    named.exts = {nonce_ext};
    auto r = ocsp::parse_request(raw_request(named));
    REQUIRE(r.has_value());
    CHECK(r->nonce == nonce16);
  }
  SUBCASE("BER and other shapes") {
    Bytes indefinite = good;
    indefinite[1] = 0x80;  // indefinite length
    require_malformed(ocsp::parse_request(indefinite), "indefinite length");
    require_malformed(ocsp::parse_request(ocsp::error_response(ocsp::ResponseStatus::try_later)),
                      "a response is not a request");
  }
  SUBCASE("single-byte mutations: refused or parsed, never a crash") {
    int parsed = 0, refused = 0;
    for (std::size_t i = 0; i < good.size(); ++i) {
      for (std::uint8_t x : {std::uint8_t{0x01}, std::uint8_t{0x80}, std::uint8_t{0xff}}) {
        Bytes m = good;
        m[i] ^= x;
        auto r = ocsp::parse_request(m);
        if (r) {
          ++parsed;
          CHECK(!r->ids.empty());
          CHECK(r->ids.size() <= ocsp::kMaxRequestIds);
        } else {
          ++refused;
          CHECK(r.error().code == Errc::malformed);
        }
      }
    }
    CHECK(refused > 0);
    CHECK(parsed > 0);  // flips inside hashes and the nonce still parse
  }
}

TEST_CASE("ocsp: response refusals") {
  Ca ca(KeyType::ec_p256);
  auto der = ocsp::make_response(ca.key, three_statuses(ca, HashAlg::sha1, crypto::random_bytes(8)));
  REQUIRE(der.has_value());
  for (std::size_t n = 0; n < der->size(); ++n) {
    auto r = ocsp::parse_response(ByteView(der->data(), n));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::malformed);
  }
  Bytes trailing = *der;
  trailing.push_back(0);
  CHECK(ocsp::parse_response(trailing).error().code == Errc::malformed);
  // Unknown status 4 (unused), and a successful status without bytes.
  for (std::uint8_t code : {std::uint8_t{0}, std::uint8_t{4}, std::uint8_t{7}}) {
    const Bytes bare = {0x30, 0x03, 0x0a, 0x01, code};
    CHECK(ocsp::parse_response(bare).error().code == Errc::malformed);
  }
  // A request is not a response.
  CHECK(ocsp::parse_response(ocsp::encode_request({{expected_id(HashAlg::sha1, ca, kSerialGood)}, std::nullopt}))
            .error()
            .code == Errc::malformed);
  // RFC 5280's "no expiry" 99991231235959Z is past what TimePoint holds (2262): refused, not UB.
  for (const char* when : {"99991231235959Z", "22620411234717Z", "19491231235959Z"}) {
    CAPTURE(when);
    const std::string produced = "20300101000005Z";
    Bytes patched = *der;
    auto at = std::search(patched.begin(), patched.end(), produced.begin(), produced.end());
    REQUIRE(at != patched.end());
    std::copy(when, when + 15, at);
    auto r = ocsp::parse_response(patched);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::malformed);
  }
  // Mutations never crash.
  for (std::size_t i = 0; i < der->size(); ++i) {
    Bytes m = *der;
    m[i] ^= 0x80;
    auto r = ocsp::parse_response(m);
    if (!r) CHECK(r.error().code == Errc::malformed);
  }
}

TEST_CASE("ocsp: make_response refuses specs it cannot encode") {
  Ca ca(KeyType::ec_p256);
  auto expect_invalid = [&](const ocsp::ResponseSpec& spec, const char* what) {
    INFO(what);
    auto r = ocsp::make_response(ca.key, spec);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::invalid_argument);
  };
  const ocsp::ResponseSpec base = three_statuses(ca, HashAlg::sha1, std::nullopt);
  REQUIRE(ocsp::make_response(ca.key, base).has_value());
  ocsp::ResponseSpec s = base;
  s.responses.clear();
  expect_invalid(s, "no responses");
  s = base;
  s.responses[1].reason = 7;
  expect_invalid(s, "reason 7");
  s = base;
  s.responses[1].reason = 11;
  expect_invalid(s, "reason 11");
  s = base;
  s.responses[0].id.issuer_key_hash.pop_back();
  expect_invalid(s, "short key hash");
  s = base;
  s.responses[0].id.serial = {0x00, 0x05};
  expect_invalid(s, "non-minimal serial");
  s = base;
  s.responses[0].id.serial.clear();
  expect_invalid(s, "empty serial");
  s = base;
  s.responses[0].next_update = s.responses[0].this_update - Seconds(1);
  expect_invalid(s, "nextUpdate before thisUpdate");
  s = base;
  s.nonce = Bytes(33, 1);
  expect_invalid(s, "33-octet nonce");
  s = base;
  s.nonce = Bytes{};
  expect_invalid(s, "empty nonce");
  s = base;
  s.certs = {Bytes{0x01, 0x02}};
  expect_invalid(s, "a certificate that is not DER");
}

}  // namespace sigil::test
