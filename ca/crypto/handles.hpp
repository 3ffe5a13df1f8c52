#pragma once
// One owning smart pointer per OpenSSL type (BoringSSL's bssl::UniquePtr idea). Included only
// by ca/crypto and ca/http sources, never by a public header of another module.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace sigil::crypto {

template <class T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* p) const { Free(p); }
};
template <class T, void (*Free)(T*)>
using OpenSslPtr = std::unique_ptr<T, OpenSslDeleter<T, Free>>;

using EvpPkeyPtr = OpenSslPtr<EVP_PKEY, EVP_PKEY_free>;
using EvpPkeyCtxPtr = OpenSslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using EvpMdCtxPtr = OpenSslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using X509Ptr = OpenSslPtr<X509, X509_free>;
using X509AlgorPtr = OpenSslPtr<X509_ALGOR, X509_ALGOR_free>;
using X509SigPtr = OpenSslPtr<X509_SIG, X509_SIG_free>;
using Pkcs8InfoPtr = OpenSslPtr<PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free>;  // cleansed when freed
inline void bio_free_all(BIO* b) { BIO_free_all(b); }
using BioPtr = OpenSslPtr<BIO, bio_free_all>;

// Every OpenSSL failure drains the whole error queue into the error detail.
std::string drain_openssl_errors();

}  // namespace sigil::crypto
