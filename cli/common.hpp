#pragma once
// What every command shares: global flags, passphrase prompts, the local actor's name, and each
// command group's registration. CLI11 is included only by the files that register flags; the
// CA's behaviour lives in ca/service (commands parse flags, call it, print).
#include <memory>
#include <optional>
#include <string>

#include "ca/base/error.hpp"
#include "ca/service/home.hpp"

namespace CLI {
class App;
}  // namespace CLI

namespace sigil::cli {

namespace fs = std::filesystem;
using service::Config;
using service::Home;
using service::IssuerContext;
using service::load_certificate;
using service::load_key;
using service::open_issuer;
using service::open_store;
using service::StoreContext;

struct Globals {
  std::string home;
  bool json = false;
  Status status;                 // the command's outcome
  std::optional<int> exit_code;  // a command with its own exit codes (renew) sets this
};

// "cli:user@host", recorded with certificates and in the audit log.
std::string cli_actor();

// The root passphrase: --root-passphrase-file, else $SIGIL_ROOT_PASSPHRASE, else a prompt on
// the terminal without echo (twice when `confirm`). With `confirm` (a passphrase being set) it
// needs kMinRootPassphrase characters.
inline constexpr std::size_t kMinRootPassphrase = 12;
Result<std::string> root_passphrase(const std::string& file, bool confirm);
// A new root passphrase (change-passphrase): the file, else $SIGIL_ROOT_NEW_PASSPHRASE, else a
// prompt twice; at least kMinRootPassphrase characters.
Result<std::string> new_root_passphrase(const std::string& file);

// Registration of each command group.
void add_init(CLI::App& app, Globals& g);
void add_issue(CLI::App& app, Globals& g);
void add_certificates(CLI::App& app, Globals& g);  // list, show, revoke, backup
void add_ca(CLI::App& app, Globals& g);            // root ..., intermediate ...
void add_serve(CLI::App& app, Globals& g);
void add_revocation(CLI::App& app, Globals& g);    // crl show, ocsp status
void add_acme(CLI::App& app, Globals& g);          // acme eab create|list|revoke
void add_renew(CLI::App& app, Globals& g);         // the rotation agent
void add_trust(CLI::App& app, Globals& g);         // trust export
void add_status(CLI::App& app, Globals& g);        // status (exit 1: needs action)
void add_flag_renewal(CLI::App& app, Globals& g);  // flag-renewal --serial | --issued-before
void add_admin(CLI::App& app, Globals& g);         // admin renew (the home's admin certificate)
void add_migrate(CLI::App& app, Globals& g);       // migrate --to postgresql://...
void add_audit(CLI::App& app, Globals& g);         // audit list [--since] [--actor] [--action] [--json]
void add_policy(CLI::App& app, Globals& g);        // policy explain, profile list

}  // namespace sigil::cli
