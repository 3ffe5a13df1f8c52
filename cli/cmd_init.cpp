// sigil init: the offline root in --root-dir, the online intermediate, config, database and an
// admin client certificate in the home. Both directories appear complete or not at all.
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/service/init.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {

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
  std::string database;
  std::string database_password_file;
  std::string root_key, intermediate_key;  // PKCS#11 URIs
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
  if (!o.database.empty()) c.database = o.database;
  c.database_password_file = o.database_password_file;
  // Round-trip through the parser: init writes only what `load_config` accepts.
  SIGIL_TRY(Config parsed, service::parse_config(service::to_json(c)));
  return parsed;
}

Status run_init(const Globals& g, const InitOptions& o) {
  if (o.root_dir.empty()) return make_error(Errc::invalid_argument, "--root-dir is required");
  if (o.name.empty()) return make_error(Errc::invalid_argument, "--name must not be empty");
  if (auto type = crypto::parse_key_type(o.key_type); !type) return type.error();  // before any other refusal
  SIGIL_TRY(Config config, config_from(o));
  service::InitRequest req{o.root_dir,  g.home,     std::move(config), !o.no_name_constraints,
                           cli_actor(), o.root_key, o.intermediate_key};
  SIGIL_TRY(auto made, service::init_ca(req, [&o] { return root_passphrase(o.passphrase_file, true); }));
  const fs::path& root_abs = made.root_dir;
  const fs::path& home_abs = made.home;
  const std::string& admin_serial = made.admin_serial;
  if (g.json) {
    nlohmann::json j = {
        {"home", home_abs.string()},
        {"root_dir", root_abs.string()},
        {"root_certificate", (root_abs / "root.crt").string()},
        {"intermediate_certificate", (home_abs / "ca/intermediate.crt").string()},
        {"admin_certificate", (home_abs / "admin/admin.crt").string()},
        {"admin_serial", admin_serial},
        {"key_type", o.key_type},
        {"root_key", o.root_key.empty() ? (root_abs / "root.key").string() : "pkcs11"},
        {"intermediate_key", o.intermediate_key.empty() ? (home_abs / "ca/intermediate.key").string() : "pkcs11"}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "Created CA '" << o.name << "' (" << o.key_type << ")\n"
              << "  offline root:  "
              << (o.root_key.empty() ? (root_abs / "root.key").string() + " (encrypted)"
                                     : "key in a PKCS#11 token (" + (root_abs / "root.p11").string() + ")")
              << ", root.crt\n"
              << "  intermediate:  " << (home_abs / "ca/intermediate.crt").string()
              << (o.intermediate_key.empty() ? "" : ", key in a PKCS#11 token (ca/intermediate.p11)") << "\n"
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
  c->add_option(
      "--root-key", o->root_key,
      "The root key in a PKCS#11 token, an RFC 7512 URI (pkcs11:token=T;object=L?module-path=M&pin-source=F): "
      "generated there unless it exists; root.p11 records the URI and no root.key is written");
  c->add_option("--intermediate-key", o->intermediate_key,
                "The intermediate key in a PKCS#11 token (a URI as for --root-key): ca/intermediate.p11 instead of "
                "ca/intermediate.key");
  c->add_option("--dns", o->dns, "DNS names of the server's own TLS certificate (default: localhost)");
  c->add_option("--allow-domain", o->allow_domains, "Allowed DNS suffix for issued certificates (repeatable)");
  c->add_option("--spiffe-trust-domain", o->spiffe_td, "SPIFFE trust domain allowed in URI SANs");
  c->add_option("--database", o->database,
                "SQLite file relative to the home (default sigil.db), or a postgresql:// URL whose empty "
                "database receives the schema (no SQLite file is written)");
  c->add_option("--database-password-file", o->database_password_file,
                "PostgreSQL: file holding the password (absolute, or relative to the home); never in the URL");
  c->add_option("--public-url", o->public_url, "Base URL of CRL and AIA links in certificates")->capture_default_str();
  c->add_flag("--no-name-constraints", o->no_name_constraints,
              "No nameConstraints in the intermediate (it can certify any name; by default it is limited to the "
              "identifier policy and the CA's own names, and a new allowed domain needs a new intermediate)");
  c->callback([&g, o] { g.status = run_init(g, *o); });
}

}  // namespace sigil::cli
