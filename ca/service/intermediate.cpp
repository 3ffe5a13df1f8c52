#include "ca/service/intermediate.hpp"

#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/issuer/ceremony.hpp"

namespace sigil::service {

Result<PendingIntermediate> make_intermediate_csr(const StoreContext& ctx, const fs::path& csr_out,
                                                  const std::string& key_uri) {
  const fs::path out = csr_out.empty() ? ctx.home.pending_csr() : csr_out;
  if (key_exists(ctx.home.pending_key()))
    return make_error(Errc::already_exists, ctx.home.pending_key().parent_path().string() +
                                                " holds a pending key: a CSR is already pending (install its "
                                                "certificate or delete it)");
  SIGIL_TRY(crypto::KeyType type, crypto::parse_key_type(ctx.config.key_type));
  std::unique_ptr<crypto::Signer> key;
  std::string key_text;  // what goes into HOME/ca/pending
  fs::path key_file = ctx.home.pending_key();
  if (!key_uri.empty()) {
    SIGIL_TRY(crypto::pkcs11::Uri uri, crypto::pkcs11::parse_uri(key_uri));
    SIGIL_TRY(key, crypto::pkcs11::open_key(uri, {type}));
    key_text = token_key_text(uri);
    key_file = token_key_file(key_file);
  } else {
    SIGIL_TRY(auto file_key, crypto::KeySigner::generate(type));
    SIGIL_TRY(key_text, file_key->to_pem());
    key = std::move(file_key);
  }
  // A token object named by URI may already exist: never a root's key (the offline root would
  // be online) nor the current intermediate's (rotation would change nothing).
  SIGIL_TRY(auto roots, load_roots(ctx.home));
  for (const auto& r : roots)
    if (r.public_key().spki == key->public_key().spki)
      return make_error(Errc::invalid_argument, "--key names a root's key: the intermediate needs a key of its own");
  if (auto current = load_certificate(ctx.home.ca_cert());
      current && current->public_key().spki == key->public_key().spki)
    return make_error(Errc::invalid_argument, "--key names the current intermediate's key: rotation needs a new one");
  SIGIL_TRY(Bytes csr, crypto::make_csr(*key, issuer::intermediate_subject(ctx.config.name), {}));
  SIGIL_TRY_STATUS(make_dirs(ctx.home.pending_key().parent_path(), 0700));
  SIGIL_TRY_STATUS(write_file_new(key_file, key_text, kPrivateMode));
  if (auto s = write_file_atomic(out, pem_encode("CERTIFICATE REQUEST", csr), kPublicMode); !s) {
    fs::remove(key_file);
    return s.error();
  }
  return PendingIntermediate{out, key_file};
}

namespace {
// Which key does it certify: the pending one (a new key) or the current one (re-certified)?
Result<fs::path> key_for(const Home& home, const crypto::Certificate& cert) {
  for (const fs::path& candidate : {home.pending_key(), home.ca_key()}) {
    if (!key_exists(candidate)) continue;
    SIGIL_TRY(auto key, load_signer(candidate));
    if (key->public_key().spki == cert.public_key().spki) return candidate;
  }
  return make_error(Errc::invalid_argument,
                    "the certificate matches neither the pending nor the current intermediate key");
}

// Keeps the current pair for the record, as HOME/ca/archive/<serial>.{crt,key} (.p11 for a key in
// a token).
Status archive_current(const Home& home) {
  SIGIL_TRY_STATUS(make_dirs(home.archive(), 0700));
  auto old = load_certificate(home.ca_cert());
  if (!old) return {};  // nothing installed yet
  SIGIL_TRY_STATUS(write_file_atomic(home.archive() / (old->serial_hex() + ".crt"), old->pem(), kPublicMode));
  return copy_key(home.ca_key(), home.archive() / (old->serial_hex() + ".key"));
}
}  // namespace

Result<crypto::Certificate> install_intermediate(StoreContext& ctx, const std::string& cert_pem,
                                                 const std::string& actor) {
  SIGIL_TRY(auto certs, crypto::certificates_from_pem(cert_pem));
  crypto::Certificate& cert = certs.front();
  SIGIL_TRY(crypto::Certificate root, load_certificate(ctx.home.root_cert()));
  SIGIL_TRY_STATUS(issuer::check_intermediate(cert, root, ctx.clock));
  SIGIL_TRY(fs::path key_file, key_for(ctx.home, cert));
  // The old pair first (an old intermediate keeps answering for its own), then the new pair:
  // key first, so a crash in between leaves a detectable mismatch rather than an unusable
  // certificate.
  SIGIL_TRY_STATUS(archive_current(ctx.home));
  const bool new_key = key_file == ctx.home.pending_key();
  if (new_key) SIGIL_TRY_STATUS(copy_key(key_file, ctx.home.ca_key()));
  SIGIL_TRY_STATUS(write_file_atomic(ctx.home.ca_cert(), cert.pem(), kPublicMode));
  if (new_key) remove_key(key_file);
  SIGIL_TRY_STATUS(ctx.store->append({to_unix(ctx.clock.now()), actor, "intermediate.install", cert.serial_hex(), "ok",
                                      "not_after=" + format_rfc3339(cert.tbs().not_after)}));
  return std::move(cert);
}

}  // namespace sigil::service
