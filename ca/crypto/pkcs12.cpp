// A PKCS#12 trust store: certificates only, each marked as a trusted anchor for Java
// (Oracle's trustedKeyUsage attribute, which keytool and the JDK's PKCS12 keystore read), with a
// SHA-256 integrity MAC. OS stores, .NET and OpenSSL import the same file.
#include <openssl/objects.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "ca/crypto/crypto.hpp"
#include "ca/crypto/handles.hpp"

namespace sigil::crypto {

Result<Bytes> trust_store_pkcs12(const std::vector<const Certificate*>& anchors, const std::string& password) {
  if (anchors.empty()) return make_error(Errc::invalid_argument, "no certificates to export");
  STACK_OF(PKCS12_SAFEBAG)* bags = sk_PKCS12_SAFEBAG_new_null();
  STACK_OF(PKCS7)* safes = nullptr;
  PKCS12* p12 = nullptr;
  auto cleanup = [&] {
    sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
    if (safes) sk_PKCS7_pop_free(safes, PKCS7_free);
    PKCS12_free(p12);
  };
  auto fail = [&](const std::string& what) -> Error {
    cleanup();
    return make_error(Errc::crypto, what + ": " + drain_openssl_errors());
  };
  if (!bags) return fail("allocation");
  int n = 0;
  for (const Certificate* c : anchors) {
    const unsigned char* p = c->der().data();
    X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(c->der().size())));
    if (!x) return fail("certificate");
    PKCS12_SAFEBAG* bag = PKCS12_SAFEBAG_create_cert(x.get());
    if (!bag) return fail("certificate bag");
    sk_PKCS12_SAFEBAG_push(bags, bag);
    const std::string alias = "sigil-" + std::to_string(++n) + "-" + c->serial_hex().substr(0, 16);
    OpenSslPtr<ASN1_OBJECT, ASN1_OBJECT_free> any_eku(OBJ_txt2obj("2.5.29.37.0", 1));
    if (!any_eku || PKCS12_add_friendlyname_asc(bag, alias.c_str(), -1) != 1 ||
        PKCS12_add1_attr_by_txt(bag, "2.16.840.1.113894.746875.1.1", V_ASN1_OBJECT,
                                reinterpret_cast<const unsigned char*>(any_eku.get()), -1) != 1)
      return fail("trust attribute");
  }
  // Certificates are public: an unencrypted safe, protected by the integrity MAC.
  if (!PKCS12_add_safe(&safes, bags, -1, 0, nullptr)) return fail("safe");
  p12 = PKCS12_add_safes(safes, 0);
  if (!p12) return fail("PKCS#12");
  if (PKCS12_set_mac(p12, password.c_str(), -1, nullptr, 0, 10000, EVP_sha256()) != 1) return fail("MAC");
  unsigned char* out = nullptr;
  const int len = i2d_PKCS12(p12, &out);
  if (len <= 0) return fail("encoding");
  Bytes der(out, out + len);
  OPENSSL_free(out);
  cleanup();
  return der;
}

}  // namespace sigil::crypto
