// Microbenchmark: in-process issuances per second on one core, without the store.
// One issuance = CSR parse + signature check + policy + build + lint + sign + DER, exactly the
// Issuer's prepare()+issue() path with a ledger that records nothing. For comparison, the
// "obvious" OpenSSL 3 path (d2i_X509_REQ, X509_REQ_verify, X509_set_pubkey, X509V3 extension
// API, X509_sign, i2d_X509) runs on the same CSRs in the same process.
//
// Usage: issue_bench [seconds-per-run=2] [runs=5]; prints one line per measurement.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ca/base/encoding.hpp"
#include "ca/issuer/ceremony.hpp"
#include "ca/issuer/issuer.hpp"
#include "tests/bench/issuer_bench.hpp"

using namespace sigil;
using benchmark::must;
using benchmark::NullLedger;
using benchmark::rate;

namespace {

// The obvious OpenSSL 3 path, for comparison only (no policy, no lint).
Bytes openssl_issue(const Bytes& csr_der, EVP_PKEY* ca_key, X509* ca_cert, long serial) {
  const unsigned char* p = csr_der.data();
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(csr_der.size()));
  if (!req || X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) != 1) std::abort();
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_set_issuer_name(x, X509_get_subject_name(ca_cert));
  X509_set_subject_name(x, X509_REQ_get_subject_name(req));
  X509_gmtime_adj(X509_getm_notBefore(x), -300);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, X509_REQ_get0_pubkey(req));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca_cert, x, req, nullptr, 0);
  const char* exts[][2] = {{"basicConstraints", "critical,CA:FALSE"}, {"keyUsage", "critical,digitalSignature"},
                           {"extendedKeyUsage", "serverAuth"},        {"subjectKeyIdentifier", "hash"},
                           {"authorityKeyIdentifier", "keyid"},       {"subjectAltName", "DNS:host.bench.internal"}};
  for (auto& e : exts) {
    X509_EXTENSION* ext = X509V3_EXT_conf(nullptr, &ctx, e[0], e[1]);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  const EVP_MD* md = EVP_PKEY_get_id(ca_key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  if (X509_sign(x, ca_key, md) <= 0) std::abort();
  unsigned char* out = nullptr;
  const int n = i2d_X509(x, &out);
  Bytes der(out, out + n);
  OPENSSL_free(out);
  X509_free(x);
  X509_REQ_free(req);
  return der;
}

void bench(crypto::KeyType type, double seconds, int runs) {
  const std::string name(crypto::to_string(type));
  SystemClock clock;
  auto root_key = must(crypto::KeySigner::generate(type), "root key");
  auto root = must(issuer::make_root(*root_key, {"Bench CA"}, clock), "root");
  auto ca_key = must(crypto::KeySigner::generate(type), "ca key");
  auto ca_csr = must(
      crypto::Csr::from_der(must(crypto::make_csr(*ca_key, issuer::intermediate_subject("Bench CA"), {}), "ca csr")),
      "ca csr parse");
  auto ca_cert = must(issuer::sign_intermediate(*root_key, root, ca_csr, {}, clock), "intermediate");
  const Bytes ca_der = ca_cert.der();

  // 64 distinct CSRs with keys of the intermediate's type.
  std::vector<Bytes> csrs;
  std::vector<std::string> csr_text;
  for (int i = 0; i < 64; ++i) {
    auto k = must(crypto::KeySigner::generate(type), "leaf key");
    csrs.push_back(
        must(crypto::make_csr(*k, crypto::encode_name(""),
                              {{crypto::GeneralName::Type::dns, "host" + std::to_string(i) + ".bench.internal"}}),
             "csr"));
    csr_text.emplace_back(as_chars(csrs.back()));
  }

  NullLedger ledger;
  policy::IdentifierPolicy pol;
  pol.dns_suffixes = {"bench.internal"};
  auto is = must(issuer::Issuer::create(*ca_key, std::move(ca_cert), pol, policy::Profiles::defaults(),
                                        {"http://localhost:8080", Seconds(300)}, clock, ledger),
                 "issuer");

  const double sigil_rate = rate(
      [&](long i) {
        auto p = is->prepare({csr_text[static_cast<std::size_t>(i % 64)], "server", std::nullopt, "bench"});
        if (!p) std::abort();
        auto out = is->issue(std::move(*p));
        if (!out || out->der.empty()) std::abort();
      },
      seconds, runs);

  // Parts of the path, to show where the time goes.
  const double prepare_rate = rate(
      [&](long i) {
        auto p = is->prepare({csr_text[static_cast<std::size_t>(i % 64)], "server", std::nullopt, "bench"});
        if (!p) std::abort();
      },
      seconds, runs);
  const Bytes tbs(100, 0x5a);
  const double sign_rate = rate([&](long) { must(ca_key->sign(tbs), "sign"); }, seconds, runs);

  // The obvious OpenSSL path with the same keys.
  const std::string key_pem = must(ca_key->to_pem(), "pem");
  BIO* bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  const unsigned char* cp = ca_der.data();
  X509* ossl_ca = d2i_X509(nullptr, &cp, static_cast<long>(ca_der.size()));
  const double ossl_rate =
      rate([&](long i) { openssl_issue(csrs[static_cast<std::size_t>(i % 64)], pkey, ossl_ca, i + 1); }, seconds, runs);
  X509_free(ossl_ca);
  EVP_PKEY_free(pkey);

  std::printf(
      "key=%s sigil_issuances_per_s=%.0f prepare_only_per_s=%.0f sign_only_per_s=%.0f "
      "openssl_obvious_issuances_per_s=%.0f speedup=%.2f\n",
      name.c_str(), sigil_rate, prepare_rate, sign_rate, ossl_rate, sigil_rate / ossl_rate);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  bench(crypto::KeyType::ec_p256, seconds, runs);
  bench(crypto::KeyType::rsa_2048, seconds, runs);
  return 0;
}
