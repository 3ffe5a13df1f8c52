#pragma once
// Lint before sign: a to-be-signed leaf is parsed back from its bytes and checked against its
// profile and RFC 5280. Any finding stops issuance (ca/issuer never signs an unlinted TBS).
#include <string>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/crypto/x509.hpp"
#include "ca/policy/policy.hpp"

namespace sigil::issuer {

struct LintExpectations {
  const crypto::Certificate& issuer;
  const policy::Profile& profile;
  std::vector<crypto::GeneralName> sans;  // exactly these, in this order
  Seconds max_validity;                   // profile max + backdate
  bool expect_crl_url = false;
  bool expect_aia = false;
};

std::vector<std::string> lint_leaf(crypto::ByteView tbs_der, const LintExpectations& want);
// The delegated OCSP responder certificate: OCSPSigning only, nocheck, digitalSignature only.
std::vector<std::string> lint_ocsp_responder(crypto::ByteView tbs_der, const crypto::Certificate& issuer,
                                             Seconds max_validity);

}  // namespace sigil::issuer
