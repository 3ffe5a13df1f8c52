// sigil root ... (offline: the only commands that read the root directory) and
// sigil intermediate ... (online host: a new intermediate key, its CSR, installing the result).
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/issuer/ceremony.hpp"
#include "ca/service/intermediate.hpp"
#include "ca/service/root.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {
using service::OpenRoot;

struct RootOptions {
  std::string root_dir;
  std::string passphrase_file;
  std::string csr;
  std::string cert;
  std::string out;
  std::string ttl = "5y";
  std::string next_update = "30d";
  std::string reason = "superseded";
  std::string config;  // sign-intermediate: the CA home's sigil.json, for the name constraints
  bool no_name_constraints = false;
  std::string new_passphrase_file;
  std::string root_key;  // a PKCS#11 URI overriding root.p11
};

Result<OpenRoot> open_root(const RootOptions& o) {
  return service::open_root(
      o.root_dir, [&o] { return root_passphrase(o.passphrase_file, false); }, o.root_key);
}

Status run_sign_intermediate(const Globals& g, const RootOptions& o) {
  SIGIL_TRY(Seconds ttl, parse_duration(o.ttl));
  SIGIL_TRY(std::string csr_text, read_file(o.csr, 1 << 20));
  SIGIL_TRY(crypto::Csr csr, crypto::Csr::from_pem_or_der(csr_text));
  if (fs::exists(o.out)) return make_error(Errc::already_exists, o.out + " already exists");
  SIGIL_TRY(OpenRoot root, open_root(o));
  SIGIL_TRY(auto signed_,
            service::sign_intermediate(root, csr, ttl, {o.no_name_constraints, o.config}, o.out, SystemClock{}));
  const crypto::Certificate& cert = signed_.cert;
  const std::string& subject = signed_.subject;
  if (g.json)
    std::cout << nlohmann::json{{"serial", cert.serial_hex()},
                                {"subject", subject},
                                {"out", o.out},
                                {"not_after", format_rfc3339(cert.tbs().not_after)},
                                {"name_constraints", signed_.name_constrained}}
                     .dump(2)
              << "\n";
  else
    std::cout << "signed intermediate " << subject << " serial " << cert.serial_hex() << ", valid until "
              << format_rfc3339(cert.tbs().not_after)
              << (signed_.name_constrained ? " (name-constrained)" : " (no name constraints)") << "\nwritten to "
              << o.out << "\n";
  return {};
}

Status run_root_change_passphrase(const Globals& g, const RootOptions& o) {
  SIGIL_TRY(OpenRoot root, open_root(o));
  if (root.in_token)
    return make_error(
        Errc::invalid_argument,
        "the root key is in a PKCS#11 token: it has no passphrase (change the token's PIN with its tools)");
  SIGIL_TRY(std::string pass, new_root_passphrase(o.new_passphrase_file));
  SIGIL_TRY_STATUS(service::change_root_passphrase(root, pass));
  if (g.json)
    std::cout << nlohmann::json{{"root_key", root.paths.key().string()},
                                {"kdf", "pbkdf2-hmac-sha256"},
                                {"iterations", crypto::kKeyEncryptionIterations},
                                {"cipher", "aes-256-cbc"}}
                     .dump(2)
              << "\n";
  else
    std::cout << "root key re-encrypted under the new passphrase (PBKDF2-HMAC-SHA256, "
              << crypto::kKeyEncryptionIterations << " iterations): " << root.paths.key().string() << "\n";
  return {};
}

Status run_root_crl(const Globals& g, const RootOptions& o) {
  SIGIL_TRY(Seconds validity, parse_duration(o.next_update));
  SIGIL_TRY(OpenRoot root, open_root(o));
  SystemClock clock;
  SIGIL_TRY(service::RootCrl crl, service::make_root_crl(root, validity, clock));
  if (!o.out.empty()) SIGIL_TRY_STATUS(write_file_atomic(o.out, crl.pem, kPublicMode));
  const std::string where = o.out.empty() ? root.paths.crl().string() : o.out;
  if (g.json)
    std::cout << nlohmann::json{{"crl_number", crl.number},
                                {"entries", crl.entries},
                                {"out", where},
                                {"next_update", format_rfc3339(clock.now() + validity)}}
                     .dump(2)
              << "\n";
  else
    std::cout << "root CRL #" << crl.number << " with " << crl.entries << " entries written to " << where << "\n";
  return {};
}

Status run_root_revoke(const Globals& g, const RootOptions& o) {
  SIGIL_TRY(crypto::Certificate cert, load_certificate(o.cert));
  int reason = -1;
  const std::pair<const char*, int> reasons[] = {{"unspecified", 0},  {"keyCompromise", 1},
                                                 {"cACompromise", 2}, {"affiliationChanged", 3},
                                                 {"superseded", 4},   {"cessationOfOperation", 5}};
  for (const auto& [n, c] : reasons)
    if (o.reason == n) reason = c;
  if (reason < 0) return make_error(Errc::invalid_argument, "unknown reason '" + o.reason + "'");
  SIGIL_TRY(OpenRoot root, open_root(o));
  SIGIL_TRY_STATUS(service::revoke_intermediate(root, cert, reason, SystemClock{}.now()));
  const std::string serial = cert.serial_hex();
  if (g.json)
    std::cout << nlohmann::json{{"serial", serial}, {"status", "revoked"}, {"reason", o.reason}}.dump(2) << "\n";
  else
    std::cout << "revoked intermediate " << serial << " (" << o.reason << "); run 'sigil root crl' and publish it\n";
  return {};
}

Status run_intermediate_csr(const Globals& g, const std::string& out_arg, const std::string& key_uri) {
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY(auto pending, service::make_intermediate_csr(*ctx, out_arg, key_uri));
  if (g.json)
    std::cout << nlohmann::json{{"csr", pending.csr.string()}, {"key", pending.key.string()}}.dump(2) << "\n";
  else
    std::cout << "CSR written to " << pending.csr.string()
              << "\nsign it offline: sigil root sign-intermediate --root-dir RDIR --csr " << pending.csr.string()
              << " --out intermediate.crt\n";
  return {};
}

Status run_intermediate_install(const Globals& g, const std::string& cert_file) {
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY(std::string pem, read_file(cert_file));
  SIGIL_TRY(crypto::Certificate cert, service::install_intermediate(*ctx, pem, cli_actor()));
  if (g.json)
    std::cout
        << nlohmann::json{{"serial", cert.serial_hex()}, {"not_after", format_rfc3339(cert.tbs().not_after)}}.dump(2)
        << "\n";
  else
    std::cout << "installed intermediate " << cert.serial_hex() << ", valid until "
              << format_rfc3339(cert.tbs().not_after) << "\n";
  return {};
}

}  // namespace

void add_ca(CLI::App& app, Globals& g) {
  auto o = std::make_shared<RootOptions>();
  CLI::App* root =
      app.add_subcommand("root", "Offline root operations (the only commands that read the root directory)");
  root->require_subcommand(1);
  auto add_root_flags = [&](CLI::App* c) {
    c->add_option("--root-dir", o->root_dir, "The offline root's directory")->required();
    c->add_option("--root-passphrase-file", o->passphrase_file,
                  "File holding the root key passphrase (else $SIGIL_ROOT_PASSPHRASE, else a prompt)");
    c->add_option("--root-key", o->root_key,
                  "The root key's PKCS#11 URI, overriding the root directory's root.p11 (e.g. this host's "
                  "module-path or pin-source)");
  };
  CLI::App* sign = root->add_subcommand("sign-intermediate", "Sign an intermediate CA's CSR with the root");
  add_root_flags(sign);
  sign->add_option("--csr", o->csr, "The intermediate's CSR")->required();
  sign->add_option("--out", o->out, "Where to write the certificate (and the root after it)")->required();
  sign->add_option("--ttl", o->ttl, "Validity")->capture_default_str();
  sign->add_option("--config", o->config,
                   "The CA home's sigil.json: name constraints from its identifier policy (recorded in root.json; "
                   "default: those recorded)");
  sign->add_flag("--no-name-constraints", o->no_name_constraints,
                 "No nameConstraints: the intermediate can certify any name (a new allowed domain then needs no "
                 "new intermediate)");
  sign->callback([&g, o] { g.status = run_sign_intermediate(g, *o); });

  CLI::App* chpass =
      root->add_subcommand("change-passphrase", "Re-encrypt root.key under a new passphrase (and today's KDF)");
  add_root_flags(chpass);
  chpass->add_option("--new-passphrase-file", o->new_passphrase_file,
                     "File holding the new passphrase (else $SIGIL_ROOT_NEW_PASSPHRASE, else a prompt)");
  chpass->callback([&g, o] { g.status = run_root_change_passphrase(g, *o); });

  CLI::App* crl = root->add_subcommand("crl", "Produce the root's CRL (root.crl in the root directory)");
  add_root_flags(crl);
  crl->add_option("--out", o->out, "Also write it here (e.g. into the home's ca/ to serve it)");
  crl->add_option("--next-update", o->next_update, "Validity of the CRL")->capture_default_str();
  crl->callback([&g, o] { g.status = run_root_crl(g, *o); });

  CLI::App* rev =
      root->add_subcommand("revoke-intermediate", "Record the revocation of an intermediate (then run 'root crl')");
  add_root_flags(rev);
  rev->add_option("--cert", o->cert, "The intermediate's certificate")->required();
  rev->add_option("--reason", o->reason,
                  "unspecified|keyCompromise|cACompromise|affiliationChanged|superseded|cessationOfOperation")
      ->capture_default_str();
  rev->callback([&g, o] { g.status = run_root_revoke(g, *o); });

  auto out = std::make_shared<std::string>();
  auto key_uri = std::make_shared<std::string>();
  auto cert = std::make_shared<std::string>();
  CLI::App* inter = app.add_subcommand("intermediate", "Online intermediate: new key and CSR, install its certificate");
  inter->require_subcommand(1);
  CLI::App* csr = inter->add_subcommand("csr", "Make a new intermediate key (pending) and its CSR");
  csr->add_option("--out", *out, "Where to write the CSR (default: HOME/ca/pending/intermediate.csr)");
  csr->add_option("--key", *key_uri,
                  "The new key in a PKCS#11 token, an RFC 7512 URI (generated there unless it exists): "
                  "HOME/ca/pending/intermediate.p11 records it instead of a key file");
  csr->callback([&g, out, key_uri] { g.status = run_intermediate_csr(g, *out, *key_uri); });
  CLI::App* install = inter->add_subcommand("install", "Install an intermediate certificate signed by the root");
  install->add_option("--cert", *cert, "The signed intermediate certificate")->required();
  install->callback([&g, cert] { g.status = run_intermediate_install(g, *cert); });
}

}  // namespace sigil::cli
