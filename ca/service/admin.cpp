#include "ca/service/admin.hpp"

#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/service/own_names.hpp"

namespace sigil::service {

Result<issuer::Issued> issue_admin_certificate(const crypto::Signer& ca_key, crypto::Certificate ca_cert,
                                               const Config& config, const crypto::Signer& admin_key,
                                               const Clock& clock, store::CertificateLedger& ledger,
                                               const std::string& requester) {
  SIGIL_TRY(Bytes csr,
            crypto::make_csr(admin_key, crypto::encode_name(""), {{crypto::GeneralName::Type::dns, kAdminIdentity}}));
  SIGIL_TRY(policy::Profiles profiles, config.effective_profiles());
  const policy::Profile* client = profiles.find("client");
  if (!client)
    return make_error(Errc::invalid_argument, "sigil.json has no `client` profile for the admin certificate");
  policy::IdentifierPolicy admin_only;
  admin_only.dns_names = {kAdminIdentity};
  return issue_own_certificate(ca_key, std::move(ca_cert), config, std::move(admin_only),
                               {std::string(as_chars(csr)), "client", client->max_ttl, requester}, clock, ledger);
}

Result<AdminCertificate> current_admin_certificate(const Home& home) {
  auto cert = load_certificate(home.admin_cert());
  if (!cert) return cert.error().context("the admin certificate (made by sigil init)");
  const auto window = policy::renewal_window(cert->tbs().not_before, cert->tbs().not_after);
  return AdminCertificate{std::move(*cert), window};
}

namespace {
// The key: the current one (whatever the certificate's state), or a new one of the CA's type.
Result<std::unique_ptr<crypto::KeySigner>> admin_key_for(const StoreContext& ctx, const crypto::Certificate& current,
                                                         bool rotate, std::string& new_key_pem) {
  if (rotate) {
    SIGIL_TRY(crypto::KeyType type, crypto::parse_key_type(ctx.config.key_type));
    SIGIL_TRY(auto key, crypto::KeySigner::generate(type));
    SIGIL_TRY(new_key_pem, key->to_pem());
    return key;
  }
  SIGIL_TRY(auto key, load_key(ctx.home.admin_key()));
  if (key->public_key().spki != current.public_key().spki)
    return make_error(Errc::invalid_argument, ctx.home.admin_key().string() + " is not the key of " +
                                                  ctx.home.admin_cert().string() + "; use --rotate-key");
  return key;
}

// A directory that cannot be written fails here, before a certificate is issued for nothing.
Status probe_writable(const Home& home) {
  const fs::path probe = home.admin_cert().parent_path() / ".sigil-admin-renew.probe";
  if (auto s = write_file_atomic(probe, "", kPrivateMode); !s)
    return s.error().context("HOME/admin is not writable; nothing was issued");
  std::error_code ec;
  fs::remove(probe, ec);
  return {};
}
}  // namespace

Result<issuer::Issued> renew_admin_certificate(StoreContext& ctx, const AdminCertificate& current,
                                               const AdminRenewal& how, const AdminInstaller& install) {
  AdminMaterial m;
  SIGIL_TRY(auto admin_key, admin_key_for(ctx, current.cert, how.rotate_key, m.key_pem));
  SIGIL_TRY_STATUS(probe_writable(ctx.home));
  SIGIL_TRY(auto ca_key, load_key(ctx.home.ca_key()));
  SIGIL_TRY(crypto::Certificate ca_cert, load_certificate(ctx.home.ca_cert()));
  SIGIL_TRY(m.issued, issue_admin_certificate(*ca_key, std::move(ca_cert), ctx.config, *admin_key, ctx.clock,
                                              *ctx.store, how.actor));
  // The old certificate is not revoked: it keeps working until it expires. A certificate that
  // could not be installed is recorded (persist before release) but never reached a file.
  if (auto s = install(m); !s)
    return s.error().context("the new admin certificate " + m.issued.serial +
                             " was not installed; the previous pair is unchanged");
  SIGIL_TRY_STATUS(ctx.store->append({to_unix(ctx.clock.now()), how.actor, "admin.renew", m.issued.serial, "ok",
                                      "replaces " + current.cert.serial_hex() + " (" + how.reason + ")" +
                                          (how.rotate_key ? ", new key" : ", same key")}));
  return std::move(m.issued);
}

}  // namespace sigil::service
