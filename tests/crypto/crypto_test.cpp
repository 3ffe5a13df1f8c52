// Keys, SubjectPublicKeyInfo, certificates, CRLs and names: Sigil encodes, OpenSSL judges.
#include <doctest/doctest.h>
#include <openssl/core_names.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ca/base/encoding.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/crypto/x509.hpp"
#include "tests/crypto/fixtures.hpp"
#include "tests/crypto/openssl_util.hpp"

namespace {

using namespace sigil;
using namespace sigil::crypto;
using test::cached_key;
using test::kAllKeyTypes;
namespace tag = der::tag;
using GN = GeneralName::Type;

std::string key_name(KeyType t) { return std::string(to_string(t)); }

// ---- keys and SPKI ----------------------------------------------------------------------------

TEST_CASE("parse_key_type and to_string are inverse") {
  for (KeyType t : {KeyType::ec_p256, KeyType::ec_p384, KeyType::ed25519, KeyType::rsa_2048, KeyType::rsa_3072,
                    KeyType::rsa_4096}) {
    CHECK(parse_key_type(to_string(t)).value() == t);
    CHECK(std::string(kKeyTypeNames).find(std::string(to_string(t))) != std::string::npos);
  }
  CHECK(parse_key_type("rsa-1024").error().code == Errc::invalid_argument);
  CHECK(parse_key_type("EC-P256").error().code == Errc::invalid_argument);
}

TEST_CASE("parse_spki reads every generated key type the way OpenSSL does") {
  struct Want {
    KeyType type;
    KeyAlgorithm alg;
    int bits;
    std::size_t key_len;
    SignatureAlgorithm sig;
  };
  const Want wants[] = {
      {KeyType::ec_p256, KeyAlgorithm::ec_p256, 256, 65, SignatureAlgorithm::ecdsa_sha256},
      {KeyType::ec_p384, KeyAlgorithm::ec_p384, 384, 97, SignatureAlgorithm::ecdsa_sha384},
      {KeyType::ed25519, KeyAlgorithm::ed25519, 256, 32, SignatureAlgorithm::ed25519},
      {KeyType::rsa_2048, KeyAlgorithm::rsa, 2048, 270, SignatureAlgorithm::rsa_sha256},
  };
  for (const Want& w : wants) {
    const std::string name = key_name(w.type);
    CAPTURE(name);
    const KeySigner& k = cached_key(w.type);
    CHECK(k.signature_algorithm() == w.sig);
    auto pk = parse_spki(k.public_key().spki);
    REQUIRE(pk.has_value());
    CHECK(pk->algorithm == w.alg);
    CHECK(pk->bits == w.bits);
    CHECK(pk->key.size() == w.key_len);
    CHECK(pk->spki == k.public_key().spki);
    auto ossl = test::pkey_from_spki(pk->spki);
    CHECK(EVP_PKEY_get_bits(ossl.get()) == w.bits);
    if (w.alg == KeyAlgorithm::rsa) {
      CHECK(pk->rsa_exponent == Bytes{0x01, 0x00, 0x01});
      CHECK(pk->rsa_modulus.size() == 256);
      CHECK((pk->rsa_modulus[0] & 0x80) != 0);
    }
    // One trailing byte is refused.
    Bytes trailing = pk->spki;
    trailing.push_back(0);
    CHECK_FALSE(parse_spki(trailing).has_value());
  }
}

TEST_CASE("parse_spki refuses keys outside policy: P-521, secp256k1, X25519, compressed points") {
  for (const char* curve : {"P-521", "secp256k1"}) {
    const std::string c = curve;
    CAPTURE(c);
    auto k = test::keygen("EC", curve);
    auto r = parse_spki(test::spki_of(k.get()));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::bad_public_key);
  }
  {
    auto k = test::keygen("X25519");
    auto r = parse_spki(test::spki_of(k.get()));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::bad_public_key);
  }
  {
    // OpenSSL writes the compressed form when asked to.
    auto k = test::keygen("EC", "P-256");
    REQUIRE(EVP_PKEY_set_utf8_string_param(k.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed") == 1);
    const Bytes spki = test::spki_of(k.get());
    auto r = parse_spki(spki);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::bad_public_key);
  }
}

TEST_CASE("parse_spki reports an RSA-1024 key as 1024 bits (the policy refuses it, not the parser)") {
  auto k = test::keygen("RSA", nullptr, 1024);
  auto r = parse_spki(test::spki_of(k.get()));
  REQUIRE(r.has_value());
  CHECK(r->algorithm == KeyAlgorithm::rsa);
  CHECK(r->bits == 1024);
  CHECK(r->rsa_modulus.size() == 128);
}

Bytes spki_with(const std::function<void(der::Writer&)>& alg, const Bytes& key) {
  der::Writer w;
  const auto m = w.begin(tag::kSequence);
  const auto a = w.begin(tag::kSequence);
  alg(w);
  w.end(a);
  w.bit_string(key);
  w.end(m);
  return w.take();
}

TEST_CASE("parse_spki refuses malformed structures") {
  const Bytes point(65, 0x04);
  // EC with NULL parameters, EC with extra parameters, Ed25519 with parameters, RSA without NULL.
  CHECK_FALSE(parse_spki(spki_with(
                             [](der::Writer& w) {
                               w.oid(oid::ec_public_key);
                               w.null();
                             },
                             point))
                  .has_value());
  CHECK_FALSE(parse_spki(spki_with(
                             [](der::Writer& w) {
                               w.oid(oid::ec_public_key);
                               w.oid(oid::prime256v1);
                               w.null();
                             },
                             point))
                  .has_value());
  CHECK_FALSE(parse_spki(spki_with(
                             [](der::Writer& w) {
                               w.oid(oid::ed25519);
                               w.null();
                             },
                             Bytes(32, 1)))
                  .has_value());
  // Wrong point length for the curve and a hybrid/odd prefix.
  auto short_point = parse_spki(spki_with(
      [](der::Writer& w) {
        w.oid(oid::ec_public_key);
        w.oid(oid::prime256v1);
      },
      Bytes(64, 0x04)));
  CHECK(short_point.error().code == Errc::bad_public_key);
  Bytes hybrid(65, 0x11);
  hybrid[0] = 0x06;
  CHECK(parse_spki(spki_with(
                       [](der::Writer& w) {
                         w.oid(oid::ec_public_key);
                         w.oid(oid::prime256v1);
                       },
                       hybrid))
            .error()
            .code == Errc::bad_public_key);
  // Ed25519 of the wrong length.
  CHECK(parse_spki(spki_with([](der::Writer& w) { w.oid(oid::ed25519); }, Bytes(31, 1))).error().code ==
        Errc::bad_public_key);
  // RSA: negative modulus, zero modulus, missing exponent.
  auto rsa = [](const Bytes& mod, const Bytes& exp, bool with_exp) {
    der::Writer k;
    const auto s = k.begin(tag::kSequence);
    k.tlv(tag::kInteger, mod);
    if (with_exp) k.tlv(tag::kInteger, exp);
    k.end(s);
    return spki_with(
        [](der::Writer& w) {
          w.oid(oid::rsa_encryption);
          w.null();
        },
        k.take());
  };
  Bytes neg(256, 0xff);
  CHECK(parse_spki(rsa(neg, {0x01, 0x00, 0x01}, true)).error().code == Errc::bad_public_key);
  CHECK(parse_spki(rsa({0x00}, {0x01, 0x00, 0x01}, true)).error().code == Errc::bad_public_key);
  Bytes mod(256, 0xc3);
  CHECK_FALSE(parse_spki(rsa(mod, {}, false)).has_value());
  Bytes padded = mod;
  padded.insert(padded.begin(), {0x00, 0x00});  // non-minimal INTEGER
  CHECK_FALSE(parse_spki(rsa(padded, {0x01, 0x00, 0x01}, true)).has_value());
  // A hand-made RSA key with odd size: reported bits are exact.
  Bytes odd(256, 0x55);
  odd[0] = 0x01;  // 2041 bits
  auto o = parse_spki(rsa(odd, {0x03}, true));
  REQUIRE(o.has_value());
  CHECK(o->bits == 2041);
  CHECK(o->rsa_exponent == Bytes{0x03});
}

TEST_CASE("key_identifier is the leftmost 160 bits of SHA-256 over the key bits (RFC 7093)") {
  for (KeyType t : kAllKeyTypes) {
    const KeySigner& k = cached_key(t);
    const Bytes id = key_identifier(k.public_key());
    REQUIRE(id.size() == 20);
    unsigned char md[32];
    unsigned int len = 0;
    REQUIRE(EVP_Digest(k.public_key().key.data(), k.public_key().key.size(), md, &len, EVP_sha256(), nullptr) == 1);
    CHECK(id == Bytes(md, md + 20));
    CHECK(sha256(k.public_key().key) == Bytes(md, md + 32));
  }
}

TEST_CASE("signatures made by KeySigner verify with OpenSSL and with verify_signature") {
  const Bytes msg = as_bytes("to be signed");
  for (KeyType t : kAllKeyTypes) {
    const std::string name = key_name(t);
    CAPTURE(name);
    const KeySigner& k = cached_key(t);
    auto sig = k.sign(msg);
    REQUIRE(sig.has_value());
    CHECK(verify_signature(k.public_key(), k.signature_algorithm(), msg, *sig).has_value());

    auto pkey = test::pkey_from_spki(k.public_key().spki);
    test::Ptr<EVP_MD_CTX, EVP_MD_CTX_free> ctx(EVP_MD_CTX_new());
    const EVP_MD* md = t == KeyType::ed25519 ? nullptr : t == KeyType::ec_p384 ? EVP_sha384() : EVP_sha256();
    REQUIRE(EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey.get()) == 1);
    CHECK(EVP_DigestVerify(ctx.get(), sig->data(), sig->size(), msg.data(), msg.size()) == 1);

    // Another message, another key, a flipped bit: Errc::unauthorized.
    CHECK(verify_signature(k.public_key(), k.signature_algorithm(), as_bytes("other"), *sig).error().code ==
          Errc::unauthorized);
    CHECK(verify_signature(cached_key(t, 1).public_key(), k.signature_algorithm(), msg, *sig).error().code ==
          Errc::unauthorized);
    Bytes flipped = *sig;
    flipped[flipped.size() / 2] ^= 0x01;
    CHECK(verify_signature(k.public_key(), k.signature_algorithm(), msg, flipped).error().code == Errc::unauthorized);
    CHECK_FALSE(verify_signature(k.public_key(), k.signature_algorithm(), msg, Bytes{}).has_value());
  }
  // An algorithm that does not fit the key is refused before any verification.
  const KeySigner& ec = cached_key(KeyType::ec_p256);
  auto sig = ec.sign(msg);
  REQUIRE(sig.has_value());
  CHECK(verify_signature(ec.public_key(), SignatureAlgorithm::rsa_sha256, msg, *sig).error().code ==
        Errc::unauthorized);
  CHECK(verify_signature(ec.public_key(), SignatureAlgorithm::ed25519, msg, *sig).error().code == Errc::unauthorized);
}

TEST_CASE("verify_signature refuses an EC point that is not on the curve") {
  const KeySigner& k = cached_key(KeyType::ec_p256);
  PublicKey bogus = k.public_key();
  bogus.key[64] ^= 0x01;  // y off by one: no longer on P-256
  auto sig = k.sign(as_bytes("m"));
  REQUIRE(sig.has_value());
  auto r = verify_signature(bogus, SignatureAlgorithm::ecdsa_sha256, as_bytes("m"), *sig);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::bad_public_key);
}

TEST_CASE("signature algorithm identifiers round-trip; RSA NULL parameters may be absent") {
  struct Known {
    SignatureAlgorithm alg;
    int nid;
  };
  const Known known[] = {{SignatureAlgorithm::ecdsa_sha256, NID_ecdsa_with_SHA256},
                         {SignatureAlgorithm::ecdsa_sha384, NID_ecdsa_with_SHA384},
                         {SignatureAlgorithm::ecdsa_sha512, NID_ecdsa_with_SHA512},
                         {SignatureAlgorithm::ed25519, NID_ED25519},
                         {SignatureAlgorithm::rsa_sha256, NID_sha256WithRSAEncryption},
                         {SignatureAlgorithm::rsa_sha384, NID_sha384WithRSAEncryption},
                         {SignatureAlgorithm::rsa_sha512, NID_sha512WithRSAEncryption}};
  for (const Known& k : known) {
    const std::string name(to_string(k.alg));
    CAPTURE(name);
    CHECK(parse_algorithm_identifier(algorithm_identifier(k.alg)).value() == k.alg);
    // OpenSSL reads the same algorithm, with NULL parameters exactly for RSA.
    const Bytes d = algorithm_identifier(k.alg);
    const unsigned char* p = d.data();
    test::Ptr<X509_ALGOR, X509_ALGOR_free> alg(d2i_X509_ALGOR(nullptr, &p, static_cast<long>(d.size())));
    REQUIRE(alg);
    const ASN1_OBJECT* obj = nullptr;
    int ptype = 0;
    const void* pval = nullptr;
    X509_ALGOR_get0(&obj, &ptype, &pval, alg.get());
    CHECK(OBJ_obj2nid(obj) == k.nid);
    const bool rsa = k.nid == NID_sha256WithRSAEncryption || k.nid == NID_sha384WithRSAEncryption ||
                     k.nid == NID_sha512WithRSAEncryption;
    CHECK(ptype == (rsa ? V_ASN1_NULL : V_ASN1_UNDEF));
  }
  der::Writer rsa_no_null;
  const auto m = rsa_no_null.begin(tag::kSequence);
  rsa_no_null.oid(oid::sha256_with_rsa);
  rsa_no_null.end(m);
  CHECK(parse_algorithm_identifier(rsa_no_null.bytes()).value() == SignatureAlgorithm::rsa_sha256);
  der::Writer ec_null;
  const auto e = ec_null.begin(tag::kSequence);
  ec_null.oid(oid::ecdsa_with_sha256);
  ec_null.null();
  ec_null.end(e);
  CHECK(parse_algorithm_identifier(ec_null.bytes()).error().code == Errc::malformed);
  der::Writer md5;
  const auto x = md5.begin(tag::kSequence);
  const Bytes md5_rsa{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04};
  md5.oid(md5_rsa);
  md5.null();
  md5.end(x);
  CHECK(parse_algorithm_identifier(md5.bytes()).error().code == Errc::bad_csr);
}

// ---- KeySigner PEM -----------------------------------------------------------------------------

TEST_CASE("KeySigner PEM round trip without a passphrase") {
  for (KeyType t : kAllKeyTypes) {
    const std::string name = key_name(t);
    CAPTURE(name);
    const KeySigner& k = cached_key(t);
    auto pem = k.to_pem();
    REQUIRE(pem.has_value());
    CHECK(pem->rfind(std::string("-----BEGIN ") + "PRIVATE KEY-----", 0) == 0);
    auto back = KeySigner::from_pem(*pem);
    REQUIRE(back.has_value());
    CHECK((*back)->public_key().spki == k.public_key().spki);
    auto sig = (*back)->sign(as_bytes("x"));
    REQUIRE(sig.has_value());
    CHECK(verify_signature(k.public_key(), k.signature_algorithm(), as_bytes("x"), *sig).has_value());
    // A passphrase given for a plain key is harmless.
    CHECK(KeySigner::from_pem(*pem, "unused").has_value());
  }
}

TEST_CASE("KeySigner PEM with a passphrase: PBES2, right, wrong and missing passphrases") {
  for (KeyType t : kAllKeyTypes) {
    const std::string name = key_name(t);
    CAPTURE(name);
    const KeySigner& k = cached_key(t);
    auto pem = k.to_pem("correct horse");
    REQUIRE(pem.has_value());
    CHECK(pem->rfind(std::string("-----BEGIN ") + "ENCRYPTED PRIVATE KEY-----", 0) == 0);
    auto back = KeySigner::from_pem(*pem, "correct horse");
    REQUIRE(back.has_value());
    CHECK((*back)->public_key().spki == k.public_key().spki);
    auto wrong = KeySigner::from_pem(*pem, "battery staple");
    REQUIRE_FALSE(wrong.has_value());
    CHECK(wrong.error().code == Errc::unauthorized);
    auto missing = KeySigner::from_pem(*pem);
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == Errc::unauthorized);
    CHECK(KeySigner::from_pem(*pem, "").error().code == Errc::unauthorized);
  }
  CHECK(cached_key(KeyType::ec_p256).to_pem("").error().code == Errc::invalid_argument);

  // The header promises PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC: OpenSSL reads the parameters.
  auto pem = cached_key(KeyType::ec_p256).to_pem("pw");
  REQUIRE(pem.has_value());
  test::BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  test::Ptr<X509_SIG, X509_SIG_free> p8(PEM_read_bio_PKCS8(bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(p8);
  const X509_ALGOR* alg = nullptr;
  X509_SIG_get0(p8.get(), &alg, nullptr);
  const ASN1_OBJECT* obj = nullptr;
  const void* param = nullptr;
  int ptype = 0;
  X509_ALGOR_get0(&obj, &ptype, &param, alg);
  REQUIRE(OBJ_obj2nid(obj) == NID_pbes2);
  REQUIRE(ptype == V_ASN1_SEQUENCE);
  test::Ptr<PBE2PARAM, PBE2PARAM_free> pbe2(
      static_cast<PBE2PARAM*>(ASN1_item_unpack(static_cast<const ASN1_STRING*>(param), ASN1_ITEM_rptr(PBE2PARAM))));
  REQUIRE(pbe2);
  CHECK(OBJ_obj2nid(pbe2->keyfunc->algorithm) == NID_id_pbkdf2);
  CHECK(OBJ_obj2nid(pbe2->encryption->algorithm) == NID_aes_256_cbc);
  test::Ptr<PBKDF2PARAM, PBKDF2PARAM_free> kdf(
      static_cast<PBKDF2PARAM*>(ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter)));
  REQUIRE(kdf);
  REQUIRE(kdf->prf != nullptr);  // absent means HMAC-SHA1
  CHECK(OBJ_obj2nid(kdf->prf->algorithm) == NID_hmacWithSHA256);
}

TEST_CASE("KeySigner PEM: a passphrase too long to read back is refused when writing") {
  // OpenSSL's PEM callback reads at most 1024 bytes: longer is refused up front, so every
  // passphrase that encrypts also decrypts.
  auto too_long = cached_key(KeyType::ec_p256).to_pem(std::string(1025, 'p'));
  REQUIRE_FALSE(too_long.has_value());
  CHECK(too_long.error().code == Errc::invalid_argument);
  const std::string pass(1024, 'p');
  auto pem = cached_key(KeyType::ec_p256).to_pem(pass);
  REQUIRE(pem.has_value());
  auto back = KeySigner::from_pem(*pem, pass);
  CHECK(back.has_value());
}

// The PBES2 parameters of an "ENCRYPTED PRIVATE KEY" PEM, read by OpenSSL (not by Sigil).
struct Pbes2Params {
  int kdf = 0, prf = 0, cipher = 0;
  long iterations = 0;
  int salt_len = 0;
};
Pbes2Params pbes2_params_of(const std::string& pem) {
  Pbes2Params out;
  test::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  test::Ptr<X509_SIG, X509_SIG_free> p8(PEM_read_bio_PKCS8(bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(p8);
  const X509_ALGOR* alg = nullptr;
  X509_SIG_get0(p8.get(), &alg, nullptr);
  const ASN1_OBJECT* obj = nullptr;
  const void* param = nullptr;
  int ptype = 0;
  X509_ALGOR_get0(&obj, &ptype, &param, alg);
  REQUIRE(OBJ_obj2nid(obj) == NID_pbes2);
  test::Ptr<PBE2PARAM, PBE2PARAM_free> pbe2(
      static_cast<PBE2PARAM*>(ASN1_item_unpack(static_cast<const ASN1_STRING*>(param), ASN1_ITEM_rptr(PBE2PARAM))));
  REQUIRE(pbe2);
  out.kdf = OBJ_obj2nid(pbe2->keyfunc->algorithm);
  out.cipher = OBJ_obj2nid(pbe2->encryption->algorithm);
  if (out.kdf != NID_id_pbkdf2) return out;
  test::Ptr<PBKDF2PARAM, PBKDF2PARAM_free> kdf(
      static_cast<PBKDF2PARAM*>(ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter)));
  REQUIRE(kdf);
  out.prf = kdf->prf ? OBJ_obj2nid(kdf->prf->algorithm) : NID_hmacWithSHA1;  // absent means HMAC-SHA1
  out.iterations = ASN1_INTEGER_get(kdf->iter);
  if (kdf->salt->type == V_ASN1_OCTET_STRING) out.salt_len = kdf->salt->value.octet_string->length;
  return out;
}

TEST_CASE("KeySigner PEM with a passphrase: PBKDF2-HMAC-SHA256 with at least 600,000 iterations") {
  // Issue 11 item 14: OpenSSL's default (2,048 iterations) costs an attacker ~300x less per guess.
  auto pem = cached_key(KeyType::ec_p256).to_pem("twelve-chars");
  REQUIRE(pem.has_value());
  const Pbes2Params p = pbes2_params_of(*pem);
  CHECK(p.kdf == NID_id_pbkdf2);
  CHECK(p.prf == NID_hmacWithSHA256);
  CHECK(p.cipher == NID_aes_256_cbc);
  CHECK(p.iterations >= 600000);
  CHECK(p.iterations == kKeyEncryptionIterations);
  CHECK(p.salt_len >= 16);
  // A fresh salt each time: the same key and passphrase never give the same file.
  auto again = cached_key(KeyType::ec_p256).to_pem("twelve-chars");
  REQUIRE(again.has_value());
  CHECK(*again != *pem);
}

TEST_CASE("KeySigner::from_pem still opens keys encrypted with OpenSSL's old default (PBKDF2, 2,048 iterations)") {
  // Root keys written before the stronger KDF must load, so `sigil root change-passphrase` can upgrade them.
  auto k = test::keygen("EC", "P-256");
  test::BioPtr bio(BIO_new(BIO_s_mem()));
  const std::string pass = "old-pass";
  REQUIRE(PEM_write_bio_PKCS8PrivateKey(bio.get(), k.get(), EVP_aes_256_cbc(), pass.data(),
                                        static_cast<int>(pass.size()), nullptr, nullptr) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  const std::string legacy(data, static_cast<std::size_t>(n));
  CHECK(pbes2_params_of(legacy).iterations == 2048);
  auto s = KeySigner::from_pem(legacy, pass);
  REQUIRE(s.has_value());
  CHECK((*s)->public_key().spki == test::spki_of(k.get()));
  // ... and re-encrypting it (what change-passphrase does) gives the strong parameters, same key.
  auto upgraded = (*s)->to_pem("a-new-passphrase");
  REQUIRE(upgraded.has_value());
  CHECK(pbes2_params_of(*upgraded).iterations == kKeyEncryptionIterations);
  auto back = KeySigner::from_pem(*upgraded, "a-new-passphrase");
  REQUIRE(back.has_value());
  CHECK((*back)->public_key().spki == test::spki_of(k.get()));
  CHECK(KeySigner::from_pem(*upgraded, pass).error().code == Errc::unauthorized);
}

TEST_CASE("KeySigner::from_pem reads keys OpenSSL wrote in other PEM forms and refuses junk") {
  auto k = test::keygen("EC", "P-256");
  test::BioPtr bio(BIO_new(BIO_s_mem()));
  REQUIRE(PEM_write_bio_PrivateKey_traditional(bio.get(), k.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  const std::string trad(data, static_cast<std::size_t>(n));
  CHECK(trad.find(std::string("BEGIN ") + "EC PRIVATE KEY") != std::string::npos);
  auto s = KeySigner::from_pem(trad);
  REQUIRE(s.has_value());
  CHECK((*s)->public_key().spki == test::spki_of(k.get()));

  CHECK(KeySigner::from_pem("not a key").error().code == Errc::malformed);
  CHECK(KeySigner::from_pem("").error().code == Errc::malformed);
  // A P-521 private key loads in OpenSSL but is not a Sigil key.
  auto p521 = test::keygen("EC", "P-521");
  test::BioPtr b2(BIO_new(BIO_s_mem()));
  REQUIRE(PEM_write_bio_PKCS8PrivateKey(b2.get(), p521.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
  const long n2 = BIO_get_mem_data(b2.get(), &data);
  CHECK(KeySigner::from_pem(std::string(data, static_cast<std::size_t>(n2))).error().code == Errc::bad_public_key);
}

// ---- certificates -----------------------------------------------------------------------------

TEST_CASE("encode_tbs -> sign: OpenSSL parses the certificate and X509_verify accepts it") {
  for (KeyType ca_type : kAllKeyTypes) {
    for (KeyType leaf_type : kAllKeyTypes) {
      const std::string names = key_name(ca_type) + " issues " + key_name(leaf_type);
      CAPTURE(names);
      const KeySigner& ca_key = cached_key(ca_type);
      const Bytes root_der = test::sign_spec(test::ca_spec(ca_key, "Root " + key_name(ca_type)), ca_key);
      auto root_x = test::x509_from_der(root_der);
      CHECK(X509_verify(root_x.get(), X509_get0_pubkey(root_x.get())) == 1);
      const Certificate root = test::parse_cert(root_der);

      const KeySigner& leaf_key = cached_key(leaf_type, 1);
      const Bytes leaf_der = test::sign_spec(test::leaf_spec(ca_key, root, leaf_key.public_key()), ca_key);
      auto leaf_x = test::x509_from_der(leaf_der);
      CHECK(X509_verify(leaf_x.get(), X509_get0_pubkey(root_x.get())) == 1);
      CHECK(X509_check_issued(root_x.get(), leaf_x.get()) == X509_V_OK);
      CHECK(X509_verify(leaf_x.get(), X509_get0_pubkey(leaf_x.get())) != 1);
      ERR_clear_error();

      const Certificate leaf = test::parse_cert(leaf_der);
      CHECK(verify_issued_by(leaf, root).has_value());
      CHECK(verify_issued_by(root, root).has_value());
      CHECK(verify_issued_by(leaf, leaf).error().code == Errc::unauthorized);
    }
  }
}

TEST_CASE("certificate extensions as OpenSSL sees them") {
  const KeySigner& ca_key = cached_key(KeyType::ec_p256);
  const Certificate root = test::parse_cert(test::sign_spec(test::ca_spec(ca_key, "Root"), ca_key));
  const KeySigner& leaf_key = cached_key(KeyType::rsa_2048, 1);
  auto spec = test::leaf_spec(ca_key, root, leaf_key.public_key());
  spec.key_usage = ku::digital_signature | ku::key_encipherment;
  spec.ext_key_usage = {Eku::server_auth, Eku::client_auth};
  auto x = test::x509_from_der(test::sign_spec(spec, ca_key));

  CHECK(X509_get_version(x.get()) == 2);
  CHECK(test::bn_hex(X509_get0_serialNumber(x.get())) == to_hex(spec.serial));
  CHECK(X509_NAME_cmp(X509_get_issuer_name(x.get()), X509_get_subject_name(test::x509_from_der(root.der()).get())) ==
        0);
  CHECK(X509_cmp_time(X509_get0_notBefore(x.get()), nullptr) != 0);
  int day = 0, sec = 0;
  test::Ptr<ASN1_TIME, ASN1_TIME_free> nb(ASN1_TIME_set(nullptr, static_cast<time_t>(to_unix(spec.not_before))));
  REQUIRE(ASN1_TIME_diff(&day, &sec, nb.get(), X509_get0_notBefore(x.get())) == 1);
  CHECK((day == 0 && sec == 0));

  // basicConstraints: critical, cA FALSE. keyUsage: critical. EKU, SKI, AKI: not critical.
  CHECK(test::ext_critical(x.get(), NID_basic_constraints) == 1);
  CHECK(X509_check_ca(x.get()) == 0);
  CHECK(test::ext_critical(x.get(), NID_key_usage) == 1);
  CHECK(X509_get_key_usage(x.get()) == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  CHECK(test::ext_critical(x.get(), NID_ext_key_usage) == 0);
  CHECK(X509_get_extended_key_usage(x.get()) == (XKU_SSL_SERVER | XKU_SSL_CLIENT));
  CHECK(test::ext_critical(x.get(), NID_subject_key_identifier) == 0);
  const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(x.get());
  REQUIRE(skid != nullptr);
  CHECK(Bytes(ASN1_STRING_get0_data(skid), ASN1_STRING_get0_data(skid) + ASN1_STRING_length(skid)) ==
        spec.subject_key_id);
  const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(x.get());
  REQUIRE(akid != nullptr);
  CHECK(Bytes(ASN1_STRING_get0_data(akid), ASN1_STRING_get0_data(akid) + ASN1_STRING_length(akid)) ==
        *root.subject_key_id());

  // SAN: not critical (the subject is not empty), names in order.
  CHECK(test::ext_critical(x.get(), NID_subject_alt_name) == 0);
  test::GenNamesPtr sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x.get(), NID_subject_alt_name, nullptr, nullptr)));
  REQUIRE(sans);
  REQUIRE(sk_GENERAL_NAME_num(sans.get()) == 3);
  CHECK(sk_GENERAL_NAME_value(sans.get(), 0)->type == GEN_DNS);
  CHECK(sk_GENERAL_NAME_value(sans.get(), 1)->type == GEN_IPADD);
  CHECK(X509_check_host(x.get(), "www.example.internal", 0, 0, nullptr) == 1);
  CHECK(X509_check_ip_asc(x.get(), "10.1.2.3", 0) == 1);
  CHECK(X509_check_ip_asc(x.get(), "2001:db8::1", 0) == 1);
  CHECK(X509_check_host(x.get(), "other.example.internal", 0, 0, nullptr) == 0);

  // CDP and AIA.
  test::CdpPtr cdp(
      static_cast<CRL_DIST_POINTS*>(X509_get_ext_d2i(x.get(), NID_crl_distribution_points, nullptr, nullptr)));
  REQUIRE(cdp);
  REQUIRE(sk_DIST_POINT_num(cdp.get()) == 1);
  DIST_POINT* dp = sk_DIST_POINT_value(cdp.get(), 0);
  REQUIRE(dp->distpoint != nullptr);
  REQUIRE(dp->distpoint->type == 0);
  GENERAL_NAME* uri = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0);
  REQUIRE(uri->type == GEN_URI);
  CHECK(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri->d.uniformResourceIdentifier))) ==
        spec.crl_urls[0]);
  test::AiaPtr aia(static_cast<AUTHORITY_INFO_ACCESS*>(X509_get_ext_d2i(x.get(), NID_info_access, nullptr, nullptr)));
  REQUIRE(aia);
  REQUIRE(sk_ACCESS_DESCRIPTION_num(aia.get()) == 2);
  CHECK(OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia.get(), 0)->method) == NID_ad_OCSP);
  CHECK(OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia.get(), 1)->method) == NID_ad_ca_issuers);
}

TEST_CASE("SAN is critical exactly when the subject is empty; CA certificates carry pathLen") {
  const KeySigner& ca_key = cached_key(KeyType::ec_p384);
  auto root_spec = test::ca_spec(ca_key, "Root");
  root_spec.path_len = 0;
  const Bytes root_der = test::sign_spec(root_spec, ca_key);
  auto rx = test::x509_from_der(root_der);
  CHECK(X509_check_ca(rx.get()) >= 1);
  test::BcPtr bc(static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(rx.get(), NID_basic_constraints, nullptr, nullptr)));
  REQUIRE(bc);
  CHECK(bc->ca != 0);
  REQUIRE(bc->pathlen != nullptr);
  CHECK(ASN1_INTEGER_get(bc->pathlen) == 0);
  CHECK(X509_get_key_usage(rx.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(X509_get_ext_by_NID(rx.get(), NID_authority_key_identifier, -1) < 0);  // self-signed: no AKI

  const Certificate root = test::parse_cert(root_der);
  auto spec = test::leaf_spec(ca_key, root, cached_key(KeyType::ed25519, 1).public_key());
  spec.subject = encode_name("");
  spec.sans = {{GN::uri, "spiffe://example.internal/ns/default/sa/web"}};
  auto x = test::x509_from_der(test::sign_spec(spec, ca_key));
  CHECK(X509_NAME_entry_count(X509_get_subject_name(x.get())) == 0);
  CHECK(test::ext_critical(x.get(), NID_subject_alt_name) == 1);
  CHECK(X509_verify(x.get(), X509_get0_pubkey(rx.get())) == 1);
}

TEST_CASE("Certificate::from_der round trip and accessors") {
  const KeySigner& ca_key = cached_key(KeyType::ec_p256);
  const Bytes root_der = test::sign_spec(test::ca_spec(ca_key, "Root"), ca_key);
  const Certificate root = test::parse_cert(root_der);
  const KeySigner& leaf_key = cached_key(KeyType::ec_p384, 1);
  const auto spec = test::leaf_spec(ca_key, root, leaf_key.public_key());
  const Bytes der = test::sign_spec(spec, ca_key);
  Certificate c = test::parse_cert(der);

  CHECK(c.der() == der);
  CHECK(c.tbs().version == 2);
  CHECK(c.serial_hex() == to_hex(spec.serial));
  CHECK(Bytes(c.tbs().issuer.begin(), c.tbs().issuer.end()) == spec.issuer);
  CHECK(Bytes(c.tbs().subject.begin(), c.tbs().subject.end()) == spec.subject);
  CHECK(c.tbs().not_before == spec.not_before);
  CHECK(c.tbs().not_after == spec.not_after);
  CHECK(Bytes(c.tbs().spki.begin(), c.tbs().spki.end()) == spec.spki);
  CHECK(c.public_key().algorithm == KeyAlgorithm::ec_p384);
  CHECK(c.signature_algorithm() == SignatureAlgorithm::ecdsa_sha256);
  CHECK(c.subject_key_id().value() == spec.subject_key_id);
  CHECK_FALSE(c.is_ca());
  CHECK(root.is_ca());

  // Extension decoders on what encode_tbs wrote.
  auto bc = decode_basic_constraints(c.tbs().find(oid::basic_constraints)->value);
  REQUIRE(bc.has_value());
  CHECK_FALSE(bc->ca);
  CHECK_FALSE(bc->path_len.has_value());
  CHECK(decode_key_usage(c.tbs().find(oid::key_usage)->value).value() == ku::digital_signature);
  auto eku = decode_ext_key_usage(c.tbs().find(oid::ext_key_usage)->value);
  REQUIRE(eku.has_value());
  REQUIRE(eku->size() == 1);
  CHECK(oid::equal((*eku)[0], oid::kp_server_auth));
  CHECK(decode_general_names(c.tbs().find(oid::subject_alt_name)->value).value() == spec.sans);
  CHECK(decode_authority_key_id(c.tbs().find(oid::authority_key_identifier)->value).value() == spec.authority_key_id);
  CHECK(c.tbs().find(oid::name_constraints) == nullptr);

  // Moving keeps the views valid (they point into the moved bytes).
  Certificate moved = std::move(c);
  CHECK(moved.serial_hex() == to_hex(spec.serial));
  CHECK(decode_general_names(moved.tbs().find(oid::subject_alt_name)->value).value() == spec.sans);

  // PEM and chains.
  auto again = Certificate::from_pem(moved.pem());
  REQUIRE(again.has_value());
  CHECK(again->der() == der);
  auto chain = certificates_from_pem(moved.pem() + root.pem());
  REQUIRE(chain.has_value());
  REQUIRE(chain->size() == 2);
  CHECK((*chain)[1].der() == root_der);
  CHECK_FALSE(certificates_from_pem("").has_value());
  CHECK_FALSE(certificates_from_pem(moved.pem() + pem_encode("PRIVATE KEY", Bytes{1, 2})).has_value());
  CHECK_FALSE(Certificate::from_pem(moved.pem() + root.pem()).has_value());
}

TEST_CASE("Certificate::from_der refuses trailing bytes, truncation and mismatched algorithms") {
  const KeySigner& ca_key = cached_key(KeyType::ec_p256);
  auto spec = test::ca_spec(ca_key, "Root");
  const Bytes der = test::sign_spec(spec, ca_key);
  Bytes trailing = der;
  trailing.push_back(0x00);
  CHECK(Certificate::from_der(trailing).error().code == Errc::malformed);
  for (std::size_t cut : {std::size_t{1}, std::size_t{10}, der.size() / 2, der.size() - 1})
    CHECK_FALSE(Certificate::from_der(Bytes(der.begin(), der.begin() + static_cast<std::ptrdiff_t>(cut))).has_value());
  // The outer algorithm says ecdsa-with-SHA384 while the TBS says SHA256.
  auto tbs = encode_tbs(spec);
  REQUIRE(tbs.has_value());
  auto sig = ca_key.sign(*tbs);
  REQUIRE(sig.has_value());
  CHECK(Certificate::from_der(assemble_signed(*tbs, SignatureAlgorithm::ecdsa_sha384, *sig)).error().code ==
        Errc::malformed);
}

TEST_CASE("encode_tbs refuses bad serials and bad IP addresses") {
  const KeySigner& ca_key = cached_key(KeyType::ec_p256);
  auto spec = test::ca_spec(ca_key, "Root");
  spec.serial = {};
  CHECK_FALSE(encode_tbs(spec).has_value());
  spec.serial = {0x80, 0x01};
  CHECK_FALSE(encode_tbs(spec).has_value());
  spec.serial = Bytes(21, 0x01);
  CHECK_FALSE(encode_tbs(spec).has_value());
  spec.serial = Bytes(20, 0x7f);
  CHECK(encode_tbs(spec).has_value());
  spec.sans = {{GN::ip, "10.0.0.300"}};
  CHECK(encode_tbs(spec).error().code == Errc::invalid_argument);
}

TEST_CASE("decode_name_constraints reads DNS, IP, email and URI subtrees") {
  const Bytes v = test::openssl_extension_value(
      NID_name_constraints,
      "permitted;DNS:example.internal,permitted;IP:10.0.0.0/255.0.0.0,permitted;IP:fd00::/ffff::,"
      "permitted;email:example.internal,excluded;DNS:bad.example.internal,excluded;URI:.evil.example");
  auto nc = decode_name_constraints(v);
  REQUIRE(nc.has_value());
  const std::vector<GeneralName> permitted = {
      {GN::dns, "example.internal"}, {GN::ip, "10.0.0.0/8"}, {GN::ip, "fd00::/16"}, {GN::email, "example.internal"}};
  const std::vector<GeneralName> excluded = {{GN::dns, "bad.example.internal"}, {GN::uri, ".evil.example"}};
  CHECK(nc->permitted == permitted);
  CHECK(nc->excluded == excluded);
  // An iPAddress constraint must be an address and a mask of the same size.
  der::Writer w;
  const auto m = w.begin(tag::kSequence);
  const auto p = w.begin(tag::context_constructed(0));
  const auto st = w.begin(tag::kSequence);
  w.tlv(tag::context(7), Bytes{10, 0, 0, 0, 255});
  w.end(st);
  w.end(p);
  w.end(m);
  CHECK_FALSE(decode_name_constraints(w.bytes()).has_value());
}

TEST_CASE("encode_name_constraints: byte for byte what OpenSSL encodes, and it reads back") {
  NameConstraints nc;
  // A range written with host bits is masked: 10.1.2.3/8 is 10.0.0.0/255.0.0.0 on the wire.
  nc.permitted = {{GN::dns, "corp.test"},
                  {GN::ip, "10.1.2.3/8"},
                  {GN::ip, "fd00::1"},
                  {GN::uri, "td.test"},
                  {GN::email, ".corp.test"}};
  nc.excluded = {{GN::ip, "0.0.0.0/0"}, {GN::ip, "::/0"}};
  auto v = encode_name_constraints(nc);
  REQUIRE_MESSAGE(v.has_value(), (v ? "" : v.error().detail));
  const Bytes want = test::openssl_extension_value(
      NID_name_constraints,
      "permitted;DNS:corp.test,permitted;IP:10.0.0.0/255.0.0.0,"
      "permitted;IP:fd00::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,permitted;URI:td.test,permitted;email:.corp.test,"
      "excluded;IP:0.0.0.0/0.0.0.0,excluded;IP:::/::");
  CHECK(to_hex(*v) == to_hex(want));
  auto back = decode_name_constraints(*v);
  REQUIRE(back.has_value());
  const std::vector<GeneralName> permitted = {{GN::dns, "corp.test"},
                                              {GN::ip, "10.0.0.0/8"},
                                              {GN::ip, "fd00::1/128"},
                                              {GN::uri, "td.test"},
                                              {GN::email, ".corp.test"}};
  CHECK(back->permitted == permitted);
  CHECK(back->excluded == std::vector<GeneralName>{{GN::ip, "0.0.0.0/0"}, {GN::ip, "::/0"}});

  // RFC 5280: at least one of the two lists; IA5String names; a real range.
  CHECK(encode_name_constraints({}).error().code == Errc::invalid_argument);
  CHECK(encode_name_constraints({{{GN::dns, "bücher.test"}}, {}}).error().code == Errc::invalid_argument);
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "::/129", "10.0.0.0/8x"}) {
    CAPTURE(bad);
    CHECK(encode_name_constraints({{{GN::ip, bad}}, {}}).error().code == Errc::invalid_argument);
  }
}

TEST_CASE("encode_tbs writes nameConstraints critical, and OpenSSL reads the certificate") {
  const KeySigner& key = cached_key(KeyType::ec_p256);
  CertificateSpec spec = test::ca_spec(key, "Constrained");
  spec.name_constraints = NameConstraints{{{GN::dns, "corp.test"}}, {{GN::ip, "0.0.0.0/0"}}};
  crypto::Certificate c = test::parse_cert(test::sign_spec(spec, key));
  const Extension* e = c.tbs().find(oid::name_constraints);
  REQUIRE(e != nullptr);
  CHECK(e->critical);
  auto x = test::x509_from_der(c.der());
  CHECK(test::ext_critical(x.get(), NID_name_constraints) == 1);
  test::Ptr<NAME_CONSTRAINTS, NAME_CONSTRAINTS_free> nc(
      static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(x.get(), NID_name_constraints, nullptr, nullptr)));
  REQUIRE(nc);
  REQUIRE(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees) == 1);
  CHECK(sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, 0)->base->type == GEN_DNS);
  REQUIRE(sk_GENERAL_SUBTREE_num(nc->excludedSubtrees) == 1);
  CHECK(sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, 0)->base->type == GEN_IPADD);
}

TEST_CASE("decode_general_names refuses forms Sigil cannot check") {
  // registeredID and otherName from OpenSSL's encoder.
  for (const char* conf : {"RID:1.2.3.4", "otherName:1.2.3.4;UTF8:x"}) {
    const std::string c = conf;
    CAPTURE(c);
    auto r = decode_general_names(test::openssl_extension_value(NID_subject_alt_name, conf));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::bad_csr);
  }
  // Non-printable DNS names and IPs of the wrong length.
  auto one = [](std::uint8_t t, const Bytes& v) {
    der::Writer w;
    const auto m = w.begin(tag::kSequence);
    w.tlv(t, v);
    w.end(m);
    return w.take();
  };
  CHECK_FALSE(decode_general_names(one(tag::context(2), as_bytes("a b.example"))).has_value());
  CHECK_FALSE(decode_general_names(one(tag::context(2), Bytes{'a', 0x00, 'b'})).has_value());
  CHECK_FALSE(decode_general_names(one(tag::context(7), Bytes{1, 2, 3})).has_value());
  der::Writer empty;
  const auto e = empty.begin(tag::kSequence);
  empty.end(e);
  CHECK_FALSE(decode_general_names(empty.bytes()).has_value());
  // What OpenSSL encodes from text decodes to the same names.
  auto ok = decode_general_names(test::openssl_extension_value(
      NID_subject_alt_name, "DNS:a.example,IP:192.0.2.1,IP:2001:db8::5,URI:spiffe://td/x,email:me@a.example"));
  REQUIRE(ok.has_value());
  const std::vector<GeneralName> want = {{GN::dns, "a.example"},
                                         {GN::ip, "192.0.2.1"},
                                         {GN::ip, "2001:db8::5"},
                                         {GN::uri, "spiffe://td/x"},
                                         {GN::email, "me@a.example"}};
  CHECK(*ok == want);
}

TEST_CASE("general names: text form and IP conversions") {
  for (const char* text : {"dns:a.example", "ip:10.0.0.1", "ip:2001:db8::1", "uri:spiffe://td/a", "email:a@b.c"}) {
    const std::string t = text;
    auto g = parse_general_name_text(t);
    REQUIRE(g.has_value());
    CHECK(to_string(*g) == t);
  }
  CHECK_FALSE(parse_general_name_text("a.example").has_value());
  CHECK_FALSE(parse_general_name_text("ftp:x").has_value());
  CHECK(ip_to_bytes("10.0.0.1").value() == Bytes{10, 0, 0, 1});
  CHECK(ip_to_bytes("::1").value().size() == 16);
  CHECK(ip_from_bytes(Bytes{192, 0, 2, 1}).value() == "192.0.2.1");
  CHECK(ip_from_bytes(*ip_to_bytes("2001:0db8:0:0::1")).value() == "2001:db8::1");
  CHECK_FALSE(ip_to_bytes("10.0.0").has_value());
  CHECK_FALSE(ip_to_bytes("a.example").has_value());
  CHECK_FALSE(ip_from_bytes(Bytes{1, 2, 3}).has_value());
}

// ---- names -------------------------------------------------------------------------------------

Bytes name_der(X509_NAME* n) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_NAME(n, &der);
  REQUIRE(len > 0);
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

TEST_CASE("name_to_string and name_common_name") {
  CHECK(name_to_string(encode_name("host.example", "Org")).value() == "CN=host.example,O=Org");
  CHECK(name_to_string(encode_name("", "")).value() == "");
  CHECK(name_is_empty(encode_name("")));
  CHECK_FALSE(name_is_empty(encode_name("x")));
  CHECK(name_common_name(encode_name("host.example", "Org")).value() == std::optional<std::string>("host.example"));
  CHECK_FALSE(name_common_name(encode_name("", "Org")).value().has_value());

  // A name made by OpenSSL with every attribute Sigil knows, plus escaping and a non-string value.
  test::Ptr<X509_NAME, X509_NAME_free> n(X509_NAME_new());
  auto add = [&](const char* field, const char* value) {
    REQUIRE(X509_NAME_add_entry_by_txt(n.get(), field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value), -1,
                                       -1, 0) == 1);
  };
  add("C", "DE");
  add("ST", "Berlin");
  add("L", "Berlin");
  add("O", "Acme, Inc.");
  add("OU", "Ops+Sec");
  add("CN", "a=b");
  add("serialNumber", "42");
  add("emailAddress", "ops@example.com");
  const Bytes d = name_der(n.get());
  CHECK(name_to_string(d).value() ==
        "emailAddress=ops@example.com,serialNumber=42,CN=a\\=b,OU=Ops\\+Sec,O=Acme\\, Inc.,L=Berlin,ST=Berlin,C=DE");
  CHECK(name_common_name(d).value() == std::optional<std::string>("a=b"));

  // Two CNs are ambiguous.
  add("CN", "second");
  CHECK(name_common_name(name_der(n.get())).error().code == Errc::bad_csr);

  // Unknown attribute types print dotted; non-string values print as #hex of the DER.
  der::Writer w;
  const auto m = w.begin(tag::kSequence);
  const auto s = w.begin(tag::kSet);
  const auto a = w.begin(tag::kSequence);
  const Bytes uid{0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01};  // 0.9.2342.19200300.100.1.1
  w.oid(uid);
  w.small_integer(5);
  w.end(a);
  w.end(s);
  w.end(m);
  CHECK(name_to_string(w.bytes()).value() == "0.9.2342.19200300.100.1.1=#020105");
  CHECK(name_common_name(w.bytes()).value() == std::nullopt);

  // A CN that is not a string is refused.
  der::Writer bad;
  const auto bm = bad.begin(tag::kSequence);
  const auto bs = bad.begin(tag::kSet);
  const auto ba = bad.begin(tag::kSequence);
  bad.oid(oid::common_name);
  bad.small_integer(5);
  bad.end(ba);
  bad.end(bs);
  bad.end(bm);
  CHECK(name_common_name(bad.bytes()).error().code == Errc::bad_csr);
  // An empty RDN is malformed.
  const Bytes empty_rdn{0x30, 0x02, 0x31, 0x00};
  CHECK(name_to_string(empty_rdn).error().code == Errc::malformed);
}

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

TEST_CASE("random_bytes and sha256") {
  const Bytes a = random_bytes(32), b = random_bytes(32);
  CHECK(a.size() == 32);
  CHECK(a != b);
  CHECK(random_bytes(0).empty());
  CHECK(to_hex(sha256(as_bytes("abc"))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(to_hex(sha256(Bytes{})) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
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
