#pragma once
// The offline root's directory: root.key (encrypted PKCS#8) or root.p11 (the RFC 7512 URI of the
// key in a PKCS#11 token), root.crt, and root.json, the
// root's own small ledger (CRL number, intermediates it signed, revocations). Only the
// `sigil root ...` commands and `sigil init` touch it.
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ca/crypto/crypto.hpp"
#include "ca/service/home.hpp"

namespace sigil::service {

struct RootState {
  std::string public_url;
  std::int64_t crl_number = 0;  // the last number used
  struct Issued {
    std::string serial;
    std::string subject;
    std::int64_t not_after = 0;
  };
  std::vector<Issued> issued;
  struct Revoked {
    std::string serial;
    std::int64_t revoked_at = 0;
    int reason = 0;
  };
  std::vector<Revoked> revoked;
  // The name constraints the root last put in an intermediate (init, or sign-intermediate
  // --config): sign-intermediate uses them again unless told otherwise. Absent: none recorded.
  std::optional<crypto::NameConstraints> name_constraints;
};
std::string to_json(const RootState& s);
Result<RootState> parse_root_state(std::string_view text);

struct RootDir {
  fs::path dir;
  fs::path key() const { return dir / "root.key"; }
  fs::path token_key() const { return dir / "root.p11"; }  // the key in a token instead
  fs::path cert() const { return dir / "root.crt"; }
  fs::path state() const { return dir / "root.json"; }
  fs::path crl() const { return dir / "root.crl"; }
};

struct OpenRoot {
  RootDir paths;
  std::unique_ptr<crypto::Signer> key;
  crypto::Certificate cert;
  RootState state;
  bool in_token = false;
};
// Reads the root; the key is decrypted with the passphrase (Errc::unauthorized if wrong), asked
// for only once the directory's files have been read (so a wrong --root-dir never prompts).
// A root key in a token (root.p11, or `key_uri` given: a PKCS#11 URI that overrides root.p11,
// e.g. with the module's path on this host) needs no passphrase; the token's PIN comes from the
// URI's pin-source or $SIGIL_PKCS11_PIN. Either way the key must be root.crt's.
using PassphraseSource = std::function<Result<std::string>()>;
Result<OpenRoot> open_root(const fs::path& dir, const PassphraseSource& passphrase, const std::string& key_uri = "");
Status save_state(const RootDir& dir, const RootState& state);

// What an intermediate serving `config` may certify: its identifier policy, plus the CA's own
// names (server.dns and the admin identity, which the policy itself may not allow).
crypto::NameConstraints intermediate_name_constraints(const Config& config);

// The root's operations (`sigil root ...`). Each records in root.json before it releases
// anything: a certificate the root signed, or a CRL number it used, is always on record.

// Which name constraints go into a new intermediate: none (`none`); derived from a home's
// sigil.json (`config_file`, recorded in root.json for next time); else those recorded.
struct ConstraintsChoice {
  bool none = false;
  std::string config_file;
};
struct SignedIntermediate {
  crypto::Certificate cert;
  std::string subject;
  bool name_constrained = false;
};
// Signs `csr` for `ttl` and writes the certificate and the root after it to `out` (which must
// not exist).
Result<SignedIntermediate> sign_intermediate(OpenRoot& root, const crypto::Csr& csr, Seconds ttl,
                                             const ConstraintsChoice& constraints, const fs::path& out,
                                             const Clock& clock);

struct RootCrl {
  std::int64_t number = 0;
  std::size_t entries = 0;
  std::string pem;  // also written to the root directory's root.crl
};
Result<RootCrl> make_root_crl(OpenRoot& root, Seconds validity, const Clock& clock);

// Records the revocation of an intermediate the root signed (the next root CRL lists it).
Status revoke_intermediate(OpenRoot& root, const crypto::Certificate& cert, int reason, TimePoint now);

// Re-encrypts root.key under `new_passphrase` with today's KDF; the key itself stays.
Status change_root_passphrase(const OpenRoot& root, const std::string& new_passphrase);

}  // namespace sigil::service
