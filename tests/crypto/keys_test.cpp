// Keys, SubjectPublicKeyInfo, signatures, key PEM and randomness: Sigil encodes, OpenSSL judges.
#include <doctest/doctest.h>
#include <openssl/core_names.h>

#include <functional>
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

// verify_signature keeps the EVP_PKEYs it builds per thread (64 at most): a kept key must never
// answer for another, across many keys (the cache emptied and refilled) and every key type.
TEST_CASE("verify_signature's per-thread key cache never verifies with another key") {
  const Bytes msg = as_bytes("cached");
  for (KeyType t : kAllKeyTypes) {
    CAPTURE(key_name(t));
    const KeySigner& a = cached_key(t, 0);
    const KeySigner& b = cached_key(t, 1);
    auto sa = a.sign(msg);
    auto sb = b.sign(msg);
    REQUIRE(sa.has_value());
    REQUIRE(sb.has_value());
    for (int round = 0; round < 3; ++round) {
      CHECK(verify_signature(a.public_key(), a.signature_algorithm(), msg, *sa).has_value());
      CHECK_FALSE(verify_signature(b.public_key(), b.signature_algorithm(), msg, *sa).has_value());
      CHECK(verify_signature(b.public_key(), b.signature_algorithm(), msg, *sb).has_value());
      CHECK_FALSE(verify_signature(a.public_key(), a.signature_algorithm(), msg, *sb).has_value());
    }
  }
  // More keys than the cache holds, each verified twice, interleaved with the first key.
  const KeySigner& first = cached_key(KeyType::ec_p256, 0);
  auto s0 = first.sign(msg);
  REQUIRE(s0.has_value());
  for (int i = 0; i < 70; ++i) {
    auto k = KeySigner::generate(KeyType::ec_p256);
    REQUIRE(k.has_value());
    auto s = (*k)->sign(msg);
    REQUIRE(s.has_value());
    CHECK(verify_signature((*k)->public_key(), SignatureAlgorithm::ecdsa_sha256, msg, *s).has_value());
    CHECK_FALSE(verify_signature((*k)->public_key(), SignatureAlgorithm::ecdsa_sha256, msg, *s0).has_value());
    CHECK(verify_signature(first.public_key(), SignatureAlgorithm::ecdsa_sha256, msg, *s0).has_value());
    CHECK_FALSE(verify_signature(first.public_key(), SignatureAlgorithm::ecdsa_sha256, msg, *s).has_value());
  }
  // The same SubjectPublicKeyInfo with another point (as a forged PublicKey would carry) is
  // another entry: it is built, and refused, not served from the first key's.
  PublicKey mixed = first.public_key();
  mixed.key = cached_key(KeyType::ec_p256, 1).public_key().key;
  CHECK_FALSE(verify_signature(mixed, SignatureAlgorithm::ecdsa_sha256, msg, *s0).has_value());
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

TEST_CASE("random_bytes and sha256") {
  const Bytes a = random_bytes(32), b = random_bytes(32);
  CHECK(a.size() == 32);
  CHECK(a != b);
  CHECK(random_bytes(0).empty());
  CHECK(to_hex(sha256(as_bytes("abc"))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(to_hex(sha256(Bytes{})) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
