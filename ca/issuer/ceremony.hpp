#pragma once
// CA certificates and CA-signed CRLs: the root's self-signature, the root signing an
// intermediate from its CSR, and CRLs. Offline operations; leaves go through Issuer only.
#include <optional>
#include <string>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/crypto/crypto.hpp"

namespace sigil::issuer {

struct RootParams {
  std::string name;  // organisation; the CN is "<name> Root"
  Seconds ttl{20LL * 365 * 86400};
};
Result<crypto::Certificate> make_root(const crypto::Signer& root_key, const RootParams& params, const Clock& clock);

struct IntermediateParams {
  Seconds ttl{5LL * 365 * 86400};
  Seconds backdate{5 * 60};
  std::string crl_url;         // the root's CRL (CDP of the intermediate); "" for none
  std::string ca_issuers_url;  // where the root certificate is published; "" for none
  // Written critical when present: what the intermediate may certify (see
  // policy::name_constraints_for). Absent: unconstrained (`--no-name-constraints`).
  std::optional<crypto::NameConstraints> name_constraints;
};
// The root's CRL and certificate URLs under a public base URL (what the public listener serves
// at /crl/root.crl and /ca/root.crt), for an intermediate's CDP and AIA.
IntermediateParams intermediate_params(const std::string& public_url, Seconds ttl = Seconds(5LL * 365 * 86400));
// Verifies the CSR, checks the key policy, and signs a CA certificate with pathLenConstraint=0
// whose subject is the CSR's, EKU serverAuth + clientAuth, and the params' name constraints.
// Validity is clamped inside the root's.
Result<crypto::Certificate> sign_intermediate(const crypto::Signer& root_key, const crypto::Certificate& root,
                                              const crypto::Csr& csr, const IntermediateParams& params,
                                              const Clock& clock);
// Subject for an intermediate CSR.
Bytes intermediate_subject(const std::string& ca_name);

struct CrlParams {
  std::int64_t number = 0;
  Seconds validity{30LL * 86400};
  std::vector<crypto::RevokedEntry> revoked;
};
// A v2 CRL (DER) signed by `ca_key` for `ca`.
Result<Bytes> make_crl(const crypto::Signer& ca_key, const crypto::Certificate& ca, const CrlParams& params,
                       const Clock& clock);

// Checks that `cert` is a CA certificate issued by `root`, valid now.
Status check_intermediate(const crypto::Certificate& cert, const crypto::Certificate& root, const Clock& clock);

}  // namespace sigil::issuer
