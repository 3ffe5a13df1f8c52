#pragma once
// Test-side OpenSSL helpers: an independent implementation to cross-check Sigil's own DER
// encoders and parsers against. Owning pointers only (no hand-written frees in the tests).
#include <doctest/doctest.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/base/file.hpp"

namespace sigil::test {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
template <class T, void (*Free)(T*)>
using Ptr = std::unique_ptr<T, Deleter<T, Free>>;

using PkeyPtr = Ptr<EVP_PKEY, EVP_PKEY_free>;
using X509Ptr = Ptr<X509, X509_free>;
using ReqPtr = Ptr<X509_REQ, X509_REQ_free>;
using CrlPtr = Ptr<X509_CRL, X509_CRL_free>;
using ExtPtr = Ptr<X509_EXTENSION, X509_EXTENSION_free>;
using StorePtr = Ptr<X509_STORE, X509_STORE_free>;
using StoreCtxPtr = Ptr<X509_STORE_CTX, X509_STORE_CTX_free>;
using BnPtr = Ptr<BIGNUM, BN_free>;
using GenNamesPtr = Ptr<GENERAL_NAMES, GENERAL_NAMES_free>;
using AsnIntPtr = Ptr<ASN1_INTEGER, ASN1_INTEGER_free>;
using AsnEnumPtr = Ptr<ASN1_ENUMERATED, ASN1_ENUMERATED_free>;
using AkidPtr = Ptr<AUTHORITY_KEYID, AUTHORITY_KEYID_free>;
using BcPtr = Ptr<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;
using EkuPtr = Ptr<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>;
using CdpPtr = Ptr<CRL_DIST_POINTS, CRL_DIST_POINTS_free>;
using AiaPtr = Ptr<AUTHORITY_INFO_ACCESS, AUTHORITY_INFO_ACCESS_free>;
using OctPtr = Ptr<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
inline void bio_free_all(BIO* b) { BIO_free_all(b); }
using BioPtr = Ptr<BIO, bio_free_all>;
inline void ext_stack_free(STACK_OF(X509_EXTENSION) * s) { sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free); }
using ExtStackPtr = Ptr<STACK_OF(X509_EXTENSION), ext_stack_free>;
// Frees the stack only: the certificates in it are owned elsewhere.
inline void x509_stack_free(STACK_OF(X509) * s) { sk_X509_free(s); }
using X509StackPtr = Ptr<STACK_OF(X509), x509_stack_free>;

inline PkeyPtr keygen(const char* type, const char* curve_or_null = nullptr, std::size_t rsa_bits = 0) {
  EVP_PKEY* k = nullptr;
  if (rsa_bits)
    k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", rsa_bits);
  else if (curve_or_null)
    k = EVP_PKEY_Q_keygen(nullptr, nullptr, type, curve_or_null);
  else
    k = EVP_PKEY_Q_keygen(nullptr, nullptr, type);
  REQUIRE(k != nullptr);
  return PkeyPtr(k);
}

inline Bytes spki_of(EVP_PKEY* k) {
  unsigned char* der = nullptr;
  const int n = i2d_PUBKEY(k, &der);
  REQUIRE(n > 0);
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return out;
}

inline PkeyPtr pkey_from_spki(const Bytes& spki) {
  const unsigned char* p = spki.data();
  EVP_PKEY* k = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));
  REQUIRE(k != nullptr);
  REQUIRE(p == spki.data() + spki.size());
  return PkeyPtr(k);
}

// Parses with OpenSSL and requires every byte to be consumed.
inline X509Ptr x509_from_der(const Bytes& der) {
  const unsigned char* p = der.data();
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  REQUIRE_MESSAGE(x != nullptr, "OpenSSL refuses the certificate");
  REQUIRE(p == der.data() + der.size());
  return X509Ptr(x);
}

inline CrlPtr crl_from_der(const Bytes& der) {
  const unsigned char* p = der.data();
  X509_CRL* c = d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()));
  REQUIRE_MESSAGE(c != nullptr, "OpenSSL refuses the CRL");
  REQUIRE(p == der.data() + der.size());
  return CrlPtr(c);
}

inline Bytes req_to_der(X509_REQ* req) {
  unsigned char* der = nullptr;
  const int n = i2d_X509_REQ(req, &der);
  REQUIRE(n > 0);
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return out;
}

inline const EVP_MD* default_md(EVP_PKEY* key) {
  if (EVP_PKEY_get_id(key) == EVP_PKEY_ED25519) return nullptr;
  if (EVP_PKEY_get_bits(key) == 384) return EVP_sha384();
  return EVP_sha256();
}

// A certification request made by OpenSSL's own X509_REQ API. `san` uses OpenSSL's config
// syntax ("DNS:a.example,IP:10.0.0.1"); `challenge` adds a challengePassword attribute.
inline Bytes openssl_csr(EVP_PKEY* key, const std::string& cn, const std::string& san = "",
                         const std::string& challenge = "", const EVP_MD* md = nullptr, bool use_default_md = true) {
  ReqPtr req(X509_REQ_new());
  REQUIRE(req);
  REQUIRE(X509_REQ_set_version(req.get(), 0) == 1);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  if (!cn.empty())
    REQUIRE(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()),
                                       -1, -1, 0) == 1);
  REQUIRE(X509_REQ_set_pubkey(req.get(), key) == 1);
  if (!challenge.empty())
    REQUIRE(X509_REQ_add1_attr_by_NID(req.get(), NID_pkcs9_challengePassword, MBSTRING_ASC,
                                      reinterpret_cast<const unsigned char*>(challenge.c_str()), -1) == 1);
  if (!san.empty()) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, nullptr, nullptr, req.get(), nullptr, 0);
    ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str()));
    REQUIRE(ext);
    ExtStackPtr exts(sk_X509_EXTENSION_new_null());
    REQUIRE(sk_X509_EXTENSION_push(exts.get(), ext.get()) > 0);
    ext.release();  // owned by the stack now
    REQUIRE(X509_REQ_add_extensions(req.get(), exts.get()) == 1);
  }
  REQUIRE(X509_REQ_sign(req.get(), key, use_default_md ? default_md(key) : md) > 0);
  return req_to_der(req.get());
}

inline bool openssl_req_verifies(const Bytes& der) {
  const unsigned char* p = der.data();
  ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE(req);
  EVP_PKEY* k = X509_REQ_get0_pubkey(req.get());
  REQUIRE(k != nullptr);
  const bool ok = X509_REQ_verify(req.get(), k) == 1;
  ERR_clear_error();
  return ok;
}

inline std::string bn_hex(const ASN1_INTEGER* i) {
  BnPtr bn(ASN1_INTEGER_to_BN(i, nullptr));
  REQUIRE(bn);
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex);
  OPENSSL_free(hex);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The extnValue contents of an OpenSSL-made extension, e.g. nameConstraints from config text.
inline Bytes openssl_extension_value(int nid, const std::string& conf) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, nullptr, nullptr, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, conf.c_str()));
  REQUIRE(ext);
  const ASN1_OCTET_STRING* v = X509_EXTENSION_get_data(ext.get());
  return Bytes(ASN1_STRING_get0_data(v), ASN1_STRING_get0_data(v) + ASN1_STRING_length(v));
}

inline int ext_critical(X509* x, int nid) {
  const int idx = X509_get_ext_by_NID(x, nid, -1);
  if (idx < 0) return -1;
  return X509_EXTENSION_get_critical(X509_get_ext(x, idx));
}

inline std::string openssl_errors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    out += buf;
    out += "; ";
  }
  return out;
}

// Verifies leaf <- intermediate <- root with OpenSSL's path validation (X509_V_FLAG_X509_STRICT
// adds RFC 5280 profile checks). Returns X509_V_OK or the OpenSSL verification error.
inline int openssl_verify_chain(const Bytes& leaf, const Bytes& inter, const Bytes& root_der, TimePoint at, int purpose,
                                const Bytes* crl_der = nullptr) {
  auto leaf_x = x509_from_der(leaf);
  auto inter_x = x509_from_der(inter);
  auto root_x = x509_from_der(root_der);
  StorePtr store(X509_STORE_new());
  REQUIRE(store);
  REQUIRE(X509_STORE_add_cert(store.get(), root_x.get()) == 1);
  CrlPtr crl;
  unsigned long flags = X509_V_FLAG_X509_STRICT;
  if (crl_der) {
    crl = crl_from_der(*crl_der);
    REQUIRE(X509_STORE_add_crl(store.get(), crl.get()) == 1);
    flags |= X509_V_FLAG_CRL_CHECK;
  }
  X509StackPtr untrusted(sk_X509_new_null());
  REQUIRE(sk_X509_push(untrusted.get(), inter_x.get()) > 0);
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), leaf_x.get(), untrusted.get()) == 1);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(to_unix(at)));
  X509_VERIFY_PARAM_set_flags(param, flags);
  if (purpose) REQUIRE(X509_VERIFY_PARAM_set_purpose(param, purpose) == 1);
  const int rc = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  return rc == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

}  // namespace sigil::test
