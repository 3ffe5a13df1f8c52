#pragma once
// The home's admin client certificate (HOME/admin/admin.crt): identity kAdminIdentity, profile
// `client`, the profile's maximum TTL. Issued by `init` and `admin renew` only, through an
// identifier policy that allows exactly this name: the ordinary policy never does, so no issuer
// role can mint an admin credential.
#include <functional>
#include <string>

#include "ca/policy/policy.hpp"
#include "ca/service/home.hpp"

namespace sigil::service {

Result<issuer::Issued> issue_admin_certificate(const crypto::Signer& ca_key, crypto::Certificate ca_cert,
                                               const Config& config, const crypto::Signer& admin_key,
                                               const Clock& clock, store::CertificateLedger& ledger,
                                               const std::string& requester);

// The current admin certificate and when it is due: its renewal window (policy::renewal_window).
struct AdminCertificate {
  crypto::Certificate cert;
  policy::RenewalWindow window;
};
Result<AdminCertificate> current_admin_certificate(const Home& home);

// A new admin certificate, handed to `install` (which puts it in place of the current pair) and
// then recorded in the audit log. The key is the current one, or a new one of the CA's key_type
// (`rotate_key`; then key_pem is set). Nothing is issued when HOME/admin is not writable.
struct AdminMaterial {
  issuer::Issued issued;
  std::string key_pem;  // empty: the key is kept
};
struct AdminRenewal {
  bool rotate_key = false;
  std::string reason;  // for the audit log: why it was due
  std::string actor;
};
using AdminInstaller = std::function<Status(const AdminMaterial&)>;
Result<issuer::Issued> renew_admin_certificate(StoreContext& ctx, const AdminCertificate& current,
                                               const AdminRenewal& how, const AdminInstaller& install);

}  // namespace sigil::service
