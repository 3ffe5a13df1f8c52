#pragma once
// The CA home: its layout, and opening what lives in it (config, store, the intermediates).
// What every command and the serve runtime start from.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/crypto/pkcs11.hpp"
#include "ca/issuer/issuer.hpp"
#include "ca/service/config.hpp"
#include "store/store.hpp"

namespace sigil::service {

namespace fs = std::filesystem;

// The requester `sigil serve` records on the certificates it issues itself (its TLS identity);
// `sigil status` finds the server's certificate by it.
inline constexpr const char* kServeRequester = "sigil-serve";

// The home's admin client certificate's identity. Issued by `init` and `admin renew` only,
// through an identifier policy that allows exactly this name: the ordinary policy never does,
// so no issuer role can mint an admin credential (admin.hpp).
inline constexpr const char* kAdminIdentity = "sigil-admin";

// The home's layout. Nothing here ever points at the root directory.
struct Home {
  fs::path dir;
  fs::path config() const { return dir / "sigil.json"; }
  fs::path ca_dir() const { return dir / "ca"; }
  fs::path ca_key() const { return dir / "ca" / "intermediate.key"; }
  fs::path ca_cert() const { return dir / "ca" / "intermediate.crt"; }
  fs::path root_cert() const { return dir / "ca" / "root.crt"; }
  fs::path root_crl() const { return dir / "ca" / "root.crl"; }
  fs::path extra_roots() const { return dir / "ca" / "extra-roots.pem"; }  // staged for a rollover
  fs::path archive() const { return dir / "ca" / "archive"; }              // replaced intermediates, <serial>.{crt,key}
  fs::path pending_key() const { return dir / "ca" / "pending" / "intermediate.key"; }
  fs::path pending_csr() const { return dir / "ca" / "pending" / "intermediate.csr"; }
  fs::path admin_key() const { return dir / "admin" / "admin.key"; }
  fs::path admin_cert() const { return dir / "admin" / "admin.crt"; }
  // The SQLite file (meaningless for a postgresql:// database: see database_location).
  fs::path database(const Config& c) const {
    return fs::path(c.database).is_absolute() ? fs::path(c.database) : dir / c.database;
  }
  // What the store opens: a postgresql:// URL as written, else the SQLite file's path.
  std::string database_location(const Config& c) const {
    return is_postgres_url(c.database) ? c.database : database(c).string();
  }
};

// The store sigil.json names: the SQLite file (created when missing) or the PostgreSQL database
// (its password read from database_password_file), schema migrated to this sigil's version.
Result<std::unique_ptr<store::Store>> open_database(const Home& home, const Config& config);

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
  std::unique_ptr<crypto::Signer> key;  // a key file or a key in a PKCS#11 token (load_signer)
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

Result<crypto::Certificate> load_certificate(const fs::path& file);
Result<std::unique_ptr<crypto::KeySigner>> load_key(const fs::path& file);

// A CA key (the intermediate's, an archived or pending one, the root's) is named by its file
// path, e.g. HOME/ca/intermediate.key. It lives either in that file (PKCS#8 PEM) or in a PKCS#11
// token, when the same path with kTokenKeyExtension holds the key's RFC 7512 URI (without
// pin-value). So install, archive and rotation keep moving "the key" as one file either way.
inline constexpr const char* kTokenKeyExtension = ".p11";
fs::path token_key_file(const fs::path& key_file);  // intermediate.key -> intermediate.p11
bool key_exists(const fs::path& key_file);          // either form
bool key_in_token(const fs::path& key_file);        // the .p11 form
// The signer for the key named by `key_file`: the file if it exists, else the token key its .p11
// names. Errc::not_found when neither exists.
Result<std::unique_ptr<crypto::Signer>> load_signer(const fs::path& key_file);
// The same, checked against the certificate it must certify.
Result<std::unique_ptr<crypto::Signer>> load_signer_for(const fs::path& key_file, const crypto::Certificate& cert);
// The URI to write as a key's .p11 (canonical, never pin-value), one line.
std::string token_key_text(const crypto::pkcs11::Uri& uri);
// Copies the key named by `from` (whichever form) to `to` (same form), atomically.
Status copy_key(const fs::path& from, const fs::path& to);
// Removes both forms of the key named by `key_file`.
void remove_key(const fs::path& key_file);

// The CRL layout sigil.json asks for; every issuer on the host (serve, `sigil issue`, admin
// certificates) shards the same way.
issuer::CrlLayout crl_layout(const Config& config);

}  // namespace sigil::service
