#pragma once
// What every command shares: global flags, the home's layout, opening the store or the
// issuer, output in human or JSON form. Commands live one per file (cmd_*.cpp).
#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "ca/base/clock.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/issuer/issuer.hpp"
#include "cli/config.hpp"
#include "store/store.hpp"

namespace sigil::cli {

namespace fs = std::filesystem;

struct Globals {
  std::string home;
  bool json = false;
  Status status;                 // the command's outcome
  std::optional<int> exit_code;  // a command with its own exit codes (renew) sets this
};

// The home's layout. Nothing here ever points at the root directory.
struct Home {
  fs::path dir;
  fs::path config() const { return dir / "sigil.json"; }
  fs::path ca_dir() const { return dir / "ca"; }
  fs::path ca_key() const { return dir / "ca" / "intermediate.key"; }
  fs::path ca_cert() const { return dir / "ca" / "intermediate.crt"; }
  fs::path root_cert() const { return dir / "ca" / "root.crt"; }
  fs::path extra_roots() const { return dir / "ca" / "extra-roots.pem"; }  // staged for a rollover
  fs::path archive() const { return dir / "ca" / "archive"; }              // replaced intermediates, <serial>.{crt,key}
  fs::path pending_key() const { return dir / "ca" / "pending" / "intermediate.key"; }
  fs::path admin_key() const { return dir / "admin" / "admin.key"; }
  fs::path admin_cert() const { return dir / "admin" / "admin.crt"; }
  fs::path database(const Config& c) const {
    return fs::path(c.database).is_absolute() ? fs::path(c.database) : dir / c.database;
  }
};

// Config and store, for commands that never touch a key.
struct StoreContext {
  Home home;
  Config config;
  SystemClock clock;
  std::unique_ptr<store::Store> store;
};
Result<std::unique_ptr<StoreContext>> open_store(const std::string& home);

// Everything issuance needs: config, store, the intermediate's key and certificate. The issuer
// also knows the replaced intermediates of HOME/ca/archive that have not expired: they keep
// answering (CRLs, OCSP) for their own certificates.
struct IssuerContext : StoreContext {
  std::unique_ptr<crypto::KeySigner> key;
  std::unique_ptr<issuer::Issuer> issuer;
};
Result<std::unique_ptr<IssuerContext>> open_issuer(const std::string& home);
// HOME/ca/intermediate.{crt,key} again (a new intermediate installed while serving): added to
// the issuer if it is not known yet, then made current. Returns it.
Result<const issuer::Authority*> reload_intermediate(IssuerContext& ctx);

// The replaced intermediates of HOME/ca/archive that have not expired at `now`, with their files
// (the key is the same name with .key). Unreadable ones are logged and left out.
struct Archived {
  fs::path file;
  crypto::Certificate cert;
};
std::vector<Archived> archived_intermediates(const Home& home, TimePoint now);

// The trust anchors the home publishes: ca/root.crt's certificates, then those staged in
// ca/extra-roots.pem (a root rollover), without duplicates. Each must be a CA.
Result<std::vector<crypto::Certificate>> load_roots(const Home& home);

// "cli:user@host", recorded with certificates and in the audit log.
std::string cli_actor();

// The home's admin client certificate (HOME/admin/admin.crt): this identity, profile `client`
// for the profile's maximum TTL. Issued by `init` and `admin renew` only, through an identifier
// policy that allows exactly this name: the ordinary policy never does, so no issuer role can
// mint an admin credential (cmd_admin.cpp).
inline constexpr const char* kAdminIdentity = "sigil-admin";
Result<issuer::Issued> issue_admin_certificate(const crypto::Signer& ca_key, crypto::Certificate ca_cert,
                                               const Config& config, const crypto::Signer& admin_key,
                                               const Clock& clock, store::CertificateLedger& ledger);

// The root passphrase: --root-passphrase-file, else $SIGIL_ROOT_PASSPHRASE, else a prompt on
// the terminal without echo (twice when `confirm`). With `confirm` (a passphrase being set) it
// needs kMinRootPassphrase characters.
inline constexpr std::size_t kMinRootPassphrase = 12;
Result<std::string> root_passphrase(const std::string& file, bool confirm);
// A new root passphrase (change-passphrase): the file, else $SIGIL_ROOT_NEW_PASSPHRASE, else a
// prompt twice; at least kMinRootPassphrase characters.
Result<std::string> new_root_passphrase(const std::string& file);

Result<crypto::Certificate> load_certificate(const fs::path& file);
Result<std::unique_ptr<crypto::KeySigner>> load_key(const fs::path& file);

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

}  // namespace sigil::cli
