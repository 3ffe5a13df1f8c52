// sigil init: the offline root in --root-dir, the online intermediate, config, database and an
// admin client certificate in the home. Both directories appear complete or not at all.
#include <iostream>
#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>
#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/issuer/ceremony.hpp"

#include "ca/service/admin.hpp"
#include "ca/service/root.hpp"
#include "ca/service/staged_dir.hpp"
#include "cli/common.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace sigil::cli {
namespace {
using service::StagedDir;

struct InitOptions {
  std::string root_dir;
  std::string name = "Example Internal CA";
  std::string key_type = "ec-p256";
  std::string passphrase_file;
  std::vector<std::string> dns;
  std::vector<std::string> allow_domains;
  std::string spiffe_td;
  std::string public_url = "http://localhost:8080";
  bool no_name_constraints = false;
};

Result<Config> config_from(const InitOptions& o) {
  Config c;
  c.name = o.name;
  c.public_url = o.public_url;
  c.key_type = o.key_type;
  c.server_dns = o.dns.empty() ? std::vector<std::string>{"localhost"} : o.dns;
  c.policy.dns_names = c.server_dns;
  c.policy.dns_suffixes = o.allow_domains;
  c.policy.spiffe_trust_domain = o.spiffe_td;
  c.authorization.push_back({service::kAdminIdentity, "admin", {}, {}, ""});
  // Round-trip through the parser: init writes only what `load_config` accepts.
  SIGIL_TRY(Config parsed, service::parse_config(service::to_json(c)));
  return parsed;
}

Status run_init(const Globals& g, const InitOptions& o) {
  if (o.root_dir.empty()) return make_error(Errc::invalid_argument, "--root-dir is required");
  if (o.name.empty()) return make_error(Errc::invalid_argument, "--name must not be empty");
  SIGIL_TRY(crypto::KeyType key_type, crypto::parse_key_type(o.key_type));
  SIGIL_TRY(Config config, config_from(o));
  Home home{g.home};
  const fs::path root_abs = fs::absolute(o.root_dir).lexically_normal();
  const fs::path home_abs = fs::absolute(g.home).lexically_normal();
  if (root_abs == home_abs || home_abs.string().rfind(root_abs.string() + "/", 0) == 0 ||
      root_abs.string().rfind(home_abs.string() + "/", 0) == 0)
    return make_error(Errc::invalid_argument, "the root directory and the home must be separate directories");
  if (fs::exists(home.config()) || fs::exists(home.ca_dir()))
    return make_error(Errc::already_exists, "a CA already exists at " + g.home + "; refusing to overwrite it");

  // Refuse early, before any key is made.
  SIGIL_TRY(StagedDir root_dir, StagedDir::open(o.root_dir));
  SIGIL_TRY(StagedDir home_dir, StagedDir::open(g.home));
  SIGIL_TRY(std::string passphrase, root_passphrase(o.passphrase_file, true));

  SystemClock clock;
  // The offline root.
  SIGIL_TRY(auto root_key, crypto::KeySigner::generate(key_type));
  SIGIL_TRY(crypto::Certificate root, issuer::make_root(*root_key, {o.name}, clock));
  // The online intermediate, through the same CSR ceremony an operator can run by hand.
  SIGIL_TRY(auto ca_key, crypto::KeySigner::generate(key_type));
  SIGIL_TRY(Bytes csr_der, crypto::make_csr(*ca_key, issuer::intermediate_subject(o.name), {}));
  SIGIL_TRY(crypto::Csr csr, crypto::Csr::from_der(std::move(csr_der)));
  issuer::IntermediateParams ip = issuer::intermediate_params(config.public_url);
  if (!o.no_name_constraints) ip.name_constraints = service::intermediate_name_constraints(config);
  SIGIL_TRY(crypto::Certificate intermediate, issuer::sign_intermediate(*root_key, root, csr, ip, clock));

  service::RootState state;
  state.public_url = config.public_url;
  state.name_constraints = ip.name_constraints;  // what the next sign-intermediate uses again
  SIGIL_TRY(std::string inter_subject, crypto::name_to_string(intermediate.tbs().subject));
  state.issued.push_back({intermediate.serial_hex(), inter_subject, to_unix(intermediate.tbs().not_after)});
  SIGIL_TRY(std::string root_key_pem, root_key->to_pem(passphrase));
  SIGIL_TRY_STATUS(root_dir.write("root.key", root_key_pem, kPrivateMode));
  SIGIL_TRY_STATUS(root_dir.write("root.crt", root.pem(), kPublicMode));
  SIGIL_TRY_STATUS(root_dir.write("root.json", service::to_json(state), kPrivateMode));

  SIGIL_TRY_STATUS(home_dir.make_dir("ca", 0700));
  SIGIL_TRY_STATUS(home_dir.make_dir("admin", 0700));
  SIGIL_TRY(std::string ca_key_pem, ca_key->to_pem());
  SIGIL_TRY_STATUS(home_dir.write("ca/intermediate.key", ca_key_pem, kPrivateMode));
  SIGIL_TRY_STATUS(home_dir.write("ca/intermediate.crt", intermediate.pem(), kPublicMode));
  SIGIL_TRY_STATUS(home_dir.write("ca/root.crt", root.pem(), kPublicMode));
  SIGIL_TRY_STATUS(home_dir.write("sigil.json", service::to_json(config), 0640));

  // The database, and the admin certificate issued into it like any other certificate (the same
  // function re-issues it: `sigil admin renew`).
  std::string admin_serial;
  {
    home_dir.adopt(config.database);
    SIGIL_TRY(auto db, store::sqlite::open(home_dir.path(config.database).string()));
    SIGIL_TRY(auto admin_key, crypto::KeySigner::generate(key_type));
    const std::string ca_id = issuer::issuer_id(intermediate);
    SIGIL_TRY(issuer::Issued issued, service::issue_admin_certificate(*ca_key, std::move(intermediate), config,
                                                                      *admin_key, clock, *db, cli_actor()));
    SIGIL_TRY_STATUS(db->append({to_unix(clock.now()), cli_actor(), "init", ca_id, "ok",
                                 "CA '" + o.name + "' created, key type " + o.key_type}));
    admin_serial = issued.serial;
    SIGIL_TRY(std::string admin_key_pem, admin_key->to_pem());
    SIGIL_TRY_STATUS(home_dir.write("admin/admin.key", admin_key_pem, kPrivateMode));
    SIGIL_TRY_STATUS(home_dir.write("admin/admin.crt", issued.chain_pem, kPublicMode));
  }

  SIGIL_TRY_STATUS(root_dir.commit());
  if (auto s = home_dir.commit(); !s) {
    root_dir.rollback();
    return s;
  }

  if (g.json) {
    nlohmann::json j = {{"home", home_abs.string()},
                        {"root_dir", root_abs.string()},
                        {"root_certificate", (root_abs / "root.crt").string()},
                        {"intermediate_certificate", (home_abs / "ca/intermediate.crt").string()},
                        {"admin_certificate", (home_abs / "admin/admin.crt").string()},
                        {"admin_serial", admin_serial},
                        {"key_type", o.key_type}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "Created CA '" << o.name << "' (" << o.key_type << ")\n"
              << "  offline root:  " << (root_abs / "root.key").string() << " (encrypted), root.crt\n"
              << "  intermediate:  " << (home_abs / "ca/intermediate.crt").string() << "\n"
              << "  admin client:  " << (home_abs / "admin/admin.crt").string() << " (serial " << admin_serial << ")\n"
              << "Move " << root_abs.string() << " off this host; only 'sigil root ...' commands need it.\n";
  }
  return {};
}

}  // namespace

void add_init(CLI::App& app, Globals& g) {
  auto o = std::make_shared<InitOptions>();
  CLI::App* c = app.add_subcommand("init", "Create the offline root, the online intermediate and the CA home");
  c->add_option("--root-dir", o->root_dir, "Directory for the offline root (root.key, root.crt)")->required();
  c->add_option("--name", o->name, "CA name (organisation of the root and intermediate)")->capture_default_str();
  c->add_option("--key-type", o->key_type, std::string(crypto::kKeyTypeNames))->capture_default_str();
  c->add_option("--root-passphrase-file", o->passphrase_file,
                "File holding the root key passphrase (else $SIGIL_ROOT_PASSPHRASE, else a prompt)");
  c->add_option("--dns", o->dns, "DNS names of the server's own TLS certificate (default: localhost)");
  c->add_option("--allow-domain", o->allow_domains, "Allowed DNS suffix for issued certificates (repeatable)");
  c->add_option("--spiffe-trust-domain", o->spiffe_td, "SPIFFE trust domain allowed in URI SANs");
  c->add_option("--public-url", o->public_url, "Base URL of CRL and AIA links in certificates")->capture_default_str();
  c->add_flag("--no-name-constraints", o->no_name_constraints,
              "No nameConstraints in the intermediate (it can certify any name; by default it is limited to the "
              "identifier policy and the CA's own names, and a new allowed domain needs a new intermediate)");
  c->callback([&g, o] { g.status = run_init(g, *o); });
}

}  // namespace sigil::cli
