#include "ca/service/init.hpp"

#include "ca/base/encoding.hpp"
#include "ca/issuer/ceremony.hpp"
#include "ca/service/admin.hpp"
#include "ca/service/home.hpp"
#include "ca/service/nonce_key.hpp"
#include "ca/service/staged_dir.hpp"

namespace sigil::service {

Result<Initialized> init_ca(const InitRequest& req, const PassphraseSource& passphrase_source) {
  const Config& config = req.config;
  SIGIL_TRY(crypto::KeyType key_type, crypto::parse_key_type(config.key_type));
  Home home{req.home};
  const fs::path root_abs = fs::absolute(req.root_dir).lexically_normal();
  const fs::path home_abs = fs::absolute(req.home).lexically_normal();
  if (root_abs == home_abs || home_abs.string().rfind(root_abs.string() + "/", 0) == 0 ||
      root_abs.string().rfind(home_abs.string() + "/", 0) == 0)
    return make_error(Errc::invalid_argument, "the root directory and the home must be separate directories");
  if (fs::exists(home.config()) || fs::exists(home.ca_dir()))
    return make_error(Errc::already_exists,
                      "a CA already exists at " + req.home.string() + "; refusing to overwrite it");

  // Refuse early, before any key is made.
  std::optional<crypto::pkcs11::Uri> root_uri, ca_uri;
  if (!req.root_key_uri.empty()) {
    SIGIL_TRY(root_uri, crypto::pkcs11::parse_uri(req.root_key_uri));
  }
  if (!req.intermediate_key_uri.empty()) {
    SIGIL_TRY(ca_uri, crypto::pkcs11::parse_uri(req.intermediate_key_uri));
  }
  // The offline root's key must never be the online intermediate's.
  if (root_uri && ca_uri && root_uri->to_string() == ca_uri->to_string())
    return make_error(Errc::invalid_argument, "--root-key and --intermediate-key name the same key");
  // Both tokens reachable and their PINs right before either makes a key.
  for (const auto* uri : {&root_uri, &ca_uri})
    if (*uri) SIGIL_TRY_STATUS(crypto::pkcs11::check_token(**uri));
  // A PostgreSQL database that already holds a CA is refused now, not after keys were made in a
  // token (a token's objects outlive a refused command). A new SQLite file is always empty.
  if (is_postgres_url(config.database)) {
    SIGIL_TRY(auto db, open_database(Home{req.home}, config));
    SIGIL_TRY(const std::int64_t rows, db->count());
    if (rows > 0)
      return make_error(Errc::already_exists,
                        "the database already holds certificates; refusing to initialise a CA in it");
  }
  SIGIL_TRY(StagedDir root_dir, StagedDir::open(req.root_dir));
  SIGIL_TRY(StagedDir home_dir, StagedDir::open(req.home));
  std::string passphrase;
  if (!root_uri) {
    SIGIL_TRY(passphrase, passphrase_source());
  }

  SystemClock clock;
  auto make_key = [key_type](const std::optional<crypto::pkcs11::Uri>& uri) -> Result<std::unique_ptr<crypto::Signer>> {
    if (uri) {
      SIGIL_TRY(auto key, crypto::pkcs11::open_key(*uri, {key_type}));
      return std::unique_ptr<crypto::Signer>(std::move(key));
    }
    SIGIL_TRY(auto key, crypto::KeySigner::generate(key_type));
    return std::unique_ptr<crypto::Signer>(std::move(key));
  };
  // The offline root.
  SIGIL_TRY(auto root_key, make_key(root_uri));
  SIGIL_TRY(crypto::Certificate root, issuer::make_root(*root_key, {config.name}, clock));
  // The online intermediate, through the same CSR ceremony an operator can run by hand.
  SIGIL_TRY(auto ca_key, make_key(ca_uri));
  if (ca_key->public_key().spki == root_key->public_key().spki)
    return make_error(Errc::invalid_argument, "the intermediate's key is the root's: give it a key of its own");
  SIGIL_TRY(Bytes csr_der, crypto::make_csr(*ca_key, issuer::intermediate_subject(config.name), {}));
  SIGIL_TRY(crypto::Csr csr, crypto::Csr::from_der(std::move(csr_der)));
  issuer::IntermediateParams ip = issuer::intermediate_params(config.public_url);
  if (req.name_constraints) ip.name_constraints = intermediate_name_constraints(config);
  SIGIL_TRY(crypto::Certificate intermediate, issuer::sign_intermediate(*root_key, root, csr, ip, clock));

  RootState state;
  state.public_url = config.public_url;
  state.name_constraints = ip.name_constraints;  // what the next sign-intermediate uses again
  SIGIL_TRY(std::string inter_subject, crypto::name_to_string(intermediate.tbs().subject));
  state.issued.push_back({intermediate.serial_hex(), inter_subject, to_unix(intermediate.tbs().not_after)});
  if (root_uri) {
    SIGIL_TRY_STATUS(root_dir.write("root.p11", token_key_text(*root_uri), kPrivateMode));
  } else {
    SIGIL_TRY(std::string root_key_pem, static_cast<const crypto::KeySigner&>(*root_key).to_pem(passphrase));
    SIGIL_TRY_STATUS(root_dir.write("root.key", root_key_pem, kPrivateMode));
  }
  SIGIL_TRY_STATUS(root_dir.write("root.crt", root.pem(), kPublicMode));
  SIGIL_TRY_STATUS(root_dir.write("root.json", to_json(state), kPrivateMode));

  SIGIL_TRY_STATUS(home_dir.make_dir("ca", 0700));
  SIGIL_TRY_STATUS(home_dir.make_dir("admin", 0700));
  if (ca_uri) {
    SIGIL_TRY_STATUS(home_dir.write("ca/intermediate.p11", token_key_text(*ca_uri), kPrivateMode));
  } else {
    SIGIL_TRY(std::string ca_key_pem, static_cast<const crypto::KeySigner&>(*ca_key).to_pem());
    SIGIL_TRY_STATUS(home_dir.write("ca/intermediate.key", ca_key_pem, kPrivateMode));
  }
  SIGIL_TRY_STATUS(home_dir.write("ca/intermediate.crt", intermediate.pem(), kPublicMode));
  SIGIL_TRY_STATUS(home_dir.write("ca/root.crt", root.pem(), kPublicMode));
  // The ACME nonce key (relative to the home: the staged directory becomes it).
  SIGIL_TRY_STATUS(home_dir.write(nonce_key_path(Home{}), new_nonce_key_file(), kPrivateMode));
  SIGIL_TRY_STATUS(home_dir.write("sigil.json", to_json(config), 0640));

  // The database, and the admin certificate issued into it like any other certificate (the same
  // function re-issues it: `sigil admin renew`).
  std::string admin_serial;
  {
    if (!is_postgres_url(config.database)) home_dir.adopt(config.database);
    SIGIL_TRY(auto db, open_database(Home{home_dir.path("")}, config));
    // A PostgreSQL database may outlive a home: one that already holds a CA is not taken over.
    SIGIL_TRY(const std::int64_t rows, db->count());
    if (rows > 0)
      return make_error(Errc::already_exists,
                        "the database already holds certificates; refusing to initialise a CA in it");
    SIGIL_TRY(auto admin_key, crypto::KeySigner::generate(key_type));
    const std::string ca_id = issuer::issuer_id(intermediate);
    SIGIL_TRY(issuer::Issued issued,
              issue_admin_certificate(*ca_key, std::move(intermediate), config, *admin_key, clock, *db, req.actor));
    SIGIL_TRY_STATUS(db->append({to_unix(clock.now()), req.actor, "init", ca_id, "ok",
                                 "CA '" + config.name + "' created, key type " + config.key_type}));
    admin_serial = issued.serial;
    SIGIL_TRY(std::string admin_key_pem, admin_key->to_pem());
    SIGIL_TRY_STATUS(home_dir.write("admin/admin.key", admin_key_pem, kPrivateMode));
    SIGIL_TRY_STATUS(home_dir.write("admin/admin.crt", issued.chain_pem, kPublicMode));
  }

  SIGIL_TRY_STATUS(root_dir.commit());
  if (auto s = home_dir.commit(); !s) {
    root_dir.rollback();
    return s.error();
  }

  return Initialized{root_abs, home_abs, admin_serial};
}

}  // namespace sigil::service
