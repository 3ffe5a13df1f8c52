#include "ca/issuer/ceremony.hpp"

#include <algorithm>

#include "ca/crypto/oids.hpp"
#include "ca/issuer/issuer.hpp"
#include "ca/policy/policy.hpp"

namespace sigil::issuer {

Result<crypto::Certificate> make_root(const crypto::Signer& root_key, const RootParams& params, const Clock& clock) {
  if (params.name.empty()) return make_error(Errc::invalid_argument, "the CA name must not be empty");
  const TimePoint now = clock.now();
  crypto::CertificateSpec spec;
  spec.serial = new_serial();
  spec.signature = root_key.signature_algorithm();
  spec.subject = crypto::encode_name(params.name + " Root", params.name);
  spec.issuer = spec.subject;
  spec.not_before = now - Seconds(3600);
  spec.not_after = now + params.ttl;
  spec.spki = root_key.public_key().spki;
  spec.is_ca = true;
  spec.key_usage = crypto::ku::key_cert_sign | crypto::ku::crl_sign;
  spec.subject_key_id = crypto::key_identifier(root_key.public_key());
  SIGIL_TRY(Bytes tbs, crypto::encode_tbs(spec));
  SIGIL_TRY(Bytes sig, root_key.sign(tbs));
  return crypto::Certificate::from_der(crypto::assemble_signed(tbs, spec.signature, sig));
}

IntermediateParams intermediate_params(const std::string& public_url, Seconds ttl) {
  std::string base = public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  IntermediateParams p;
  p.ttl = ttl;
  if (!base.empty()) {
    p.crl_url = base + "/crl/root.crl";
    p.ca_issuers_url = base + "/ca/root.crt";
  }
  return p;
}

Bytes intermediate_subject(const std::string& ca_name) {
  return crypto::encode_name(ca_name + " Intermediate", ca_name);
}

Result<crypto::Certificate> sign_intermediate(const crypto::Signer& root_key, const crypto::Certificate& root,
                                              const crypto::Csr& csr, const IntermediateParams& params,
                                              const Clock& clock) {
  if (root_key.public_key().spki != root.public_key().spki)
    return make_error(Errc::invalid_argument, "the root key does not match root.crt");
  if (auto v = crypto::verify_signature(csr.public_key(), csr.signature_algorithm(), csr.info_der(), csr.signature());
      !v)
    return make_error(Errc::bad_csr, "the CSR's signature does not verify");
  SIGIL_TRY_STATUS(policy::check_key(csr.public_key()));
  if (crypto::name_is_empty(csr.subject())) return make_error(Errc::bad_csr, "an intermediate needs a subject");
  const TimePoint now = clock.now();
  if (now >= root.tbs().not_after) return make_error(Errc::policy_violation, "the root has expired");
  crypto::CertificateSpec spec;
  spec.serial = new_serial();
  spec.signature = root_key.signature_algorithm();
  spec.issuer.assign(root.tbs().subject.begin(), root.tbs().subject.end());
  spec.subject.assign(csr.subject().begin(), csr.subject().end());
  spec.not_before = std::max(now - params.backdate, root.tbs().not_before);
  spec.not_after = std::min(now + params.ttl, root.tbs().not_after);
  spec.spki = csr.public_key().spki;
  spec.is_ca = true;
  spec.path_len = 0;
  spec.key_usage = crypto::ku::digital_signature | crypto::ku::key_cert_sign | crypto::ku::crl_sign;
  // What the leaves below it are for (verifiers that nest EKUs stop a forged leaf for any other
  // purpose). No OCSPSigning: a CA certificate carrying it is an authorized OCSP responder for
  // its issuer, the root (the CA/B Forum's 2020 delegated-responder incident). The intermediate
  // needs none to sign OCSP itself (RFC 6960 §4.2.2.2), and OpenSSL checks OCSPSigning on the
  // delegated responder's own certificate only.
  spec.ext_key_usage = {crypto::Eku::server_auth, crypto::Eku::client_auth};
  spec.name_constraints = params.name_constraints;
  spec.subject_key_id = crypto::key_identifier(csr.public_key());
  auto root_ski = root.subject_key_id();
  if (!root_ski) return make_error(Errc::invalid_argument, "root.crt has no subjectKeyIdentifier");
  spec.authority_key_id = *root_ski;
  if (!params.crl_url.empty()) spec.crl_urls = {params.crl_url};
  if (!params.ca_issuers_url.empty()) spec.ca_issuer_urls = {params.ca_issuers_url};
  SIGIL_TRY(Bytes tbs, crypto::encode_tbs(spec));
  SIGIL_TRY(Bytes sig, root_key.sign(tbs));
  return crypto::Certificate::from_der(crypto::assemble_signed(tbs, spec.signature, sig));
}

Result<Bytes> make_crl(const crypto::Signer& ca_key, const crypto::Certificate& ca, const CrlParams& params,
                       const Clock& clock) {
  if (ca_key.public_key().spki != ca.public_key().spki)
    return make_error(Errc::invalid_argument, "the CRL signing key does not match the CA certificate");
  auto ski = ca.subject_key_id();
  if (!ski) return make_error(Errc::invalid_argument, "the CA certificate has no subjectKeyIdentifier");
  const TimePoint now = clock.now();
  crypto::CrlSpec spec;
  spec.signature = ca_key.signature_algorithm();
  spec.issuer.assign(ca.tbs().subject.begin(), ca.tbs().subject.end());
  spec.this_update = now;
  spec.next_update = now + params.validity;
  spec.authority_key_id = *ski;
  spec.crl_number = params.number;
  crypto::CrlWriter w(spec, params.revoked.size());
  for (const auto& e : params.revoked) w.add(e.serial, e.revoked_at, e.reason.value_or(0));
  SIGIL_TRY(Bytes sig, ca_key.sign(w.tbs()));
  return w.finish(sig);
}

Status check_intermediate(const crypto::Certificate& cert, const crypto::Certificate& root, const Clock& clock) {
  if (auto v = crypto::verify_issued_by(cert, root); !v)
    return make_error(Errc::invalid_argument, "the certificate does not chain to the root: " + v.error().detail);
  const auto* bc_ext = cert.tbs().find(crypto::oid::basic_constraints);
  auto bc = bc_ext ? crypto::decode_basic_constraints(bc_ext->value)
                   : Result<crypto::BasicConstraints>(make_error(Errc::malformed, "missing"));
  if (!bc || !bc->ca || !bc_ext->critical) return make_error(Errc::invalid_argument, "the certificate is not a CA");
  const TimePoint now = clock.now();
  if (now < cert.tbs().not_before || now >= cert.tbs().not_after)
    return make_error(Errc::invalid_argument, "the certificate is not valid now");
  if (!cert.subject_key_id()) return make_error(Errc::invalid_argument, "the certificate has no subjectKeyIdentifier");
  return {};
}

}  // namespace sigil::issuer
