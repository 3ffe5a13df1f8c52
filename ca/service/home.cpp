#include "ca/service/home.hpp"

#include <algorithm>

#include "ca/base/file.hpp"
#include "ca/base/log.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace sigil::service {

Result<std::unique_ptr<store::Store>> open_database(const Home& home, const Config& config) {
  if (!is_postgres_url(config.database)) return store::sqlite::open(home.database(config).string());
  store::postgres::Options options;
  if (!config.database_password_file.empty()) {
    const fs::path file = fs::path(config.database_password_file).is_absolute()
                              ? fs::path(config.database_password_file)
                              : home.dir / config.database_password_file;
    SIGIL_TRY(options.password, read_file(file));
    while (!options.password.empty() && (options.password.back() == '\n' || options.password.back() == '\r'))
      options.password.pop_back();
  }
  return store::postgres::open(config.database, options);
}

Result<std::unique_ptr<StoreContext>> open_store(const std::string& home) {
  auto ctx = std::make_unique<StoreContext>();
  ctx->home.dir = home;
  SIGIL_TRY(ctx->config, load_config(ctx->home.config()));
  SIGIL_TRY(ctx->store, open_database(ctx->home, ctx->config));
  return ctx;
}

issuer::CrlLayout crl_layout(const Config& config) {
  return {static_cast<int>(config.revocation.crl_shards), config.revocation.delta_crl_interval.count() > 0};
}

namespace {
// The archived intermediates that have not expired, each with its key. One that cannot be
// loaded is logged and left out: today's issuance does not depend on it.
void add_retired(IssuerContext& ctx) {
  for (auto& [crt, cert] : archived_intermediates(ctx.home, ctx.clock.now())) {
    if (ctx.issuer->authority(issuer::issuer_id(cert))) continue;
    auto key = load_signer_for(fs::path(crt).replace_extension(".key"), cert);
    if (!key) {
      log::warn("archived intermediate without its key: its CRLs and OCSP are not served",
                {{"file", crt.string()}, {"error", key.error().detail}});
      continue;
    }
    if (auto a = ctx.issuer->add_authority(std::shared_ptr<const crypto::Signer>(std::move(*key)), std::move(cert)); !a)
      log::warn("archived intermediate refused", {{"file", crt.string()}, {"error", a.error().detail}});
  }
}
}  // namespace

Result<std::unique_ptr<IssuerContext>> open_issuer(const std::string& home) {
  auto ctx = std::make_unique<IssuerContext>();
  ctx->home.dir = home;
  SIGIL_TRY(ctx->config, load_config(ctx->home.config()));
  SIGIL_TRY(crypto::Certificate cert, load_certificate(ctx->home.ca_cert()));
  SIGIL_TRY(ctx->key, load_signer_for(ctx->home.ca_key(), cert));
  SIGIL_TRY(policy::Profiles profiles, ctx->config.effective_profiles());
  SIGIL_TRY(ctx->store, open_database(ctx->home, ctx->config));
  issuer::Options opts{ctx->config.public_url, ctx->config.backdate};
  SIGIL_TRY(ctx->issuer, issuer::Issuer::create(*ctx->key, std::move(cert), ctx->config.policy, std::move(profiles),
                                                opts, ctx->clock, *ctx->store));
  // Local issuance (`sigil issue`) shards like the server does.
  SIGIL_TRY_STATUS(ctx->issuer->update_crl_layout(crl_layout(ctx->config)));
  add_retired(*ctx);
  return ctx;
}

Result<const issuer::Authority*> reload_intermediate(IssuerContext& ctx) {
  SIGIL_TRY(crypto::Certificate cert, load_certificate(ctx.home.ca_cert()));
  const issuer::Authority& now = ctx.issuer->current();
  if (cert.der() == now.cert.der()) return &now;
  SIGIL_TRY(std::unique_ptr<crypto::Signer> key, load_signer_for(ctx.home.ca_key(), cert));
  SIGIL_TRY(const issuer::Authority* a,
            ctx.issuer->add_authority(std::shared_ptr<const crypto::Signer>(std::move(key)), std::move(cert)));
  return a;
}

std::vector<Archived> archived_intermediates(const Home& home, TimePoint now) {
  std::vector<Archived> out;
  std::error_code ec;
  fs::directory_iterator it(home.archive(), ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != ".crt") continue;
    auto cert = load_certificate(it->path());
    if (!cert) {
      log::warn("archived intermediate unreadable", {{"file", it->path().string()}, {"error", cert.error().detail}});
      continue;
    }
    if (now < cert->tbs().not_after) out.push_back({it->path(), std::move(*cert)});
  }
  return out;  // no archive: nothing was ever replaced
}

Result<std::vector<crypto::Certificate>> load_roots(const Home& home) {
  SIGIL_TRY(std::string pem, read_file(home.root_cert()));
  if (auto extra = read_file(home.extra_roots())) pem += "\n" + *extra;
  SIGIL_TRY(auto certs, crypto::certificates_from_pem(pem));
  std::vector<crypto::Certificate> roots;
  for (auto& c : certs) {
    if (!c.is_ca()) return make_error(Errc::invalid_argument, "a trust anchor that is not a CA: " + c.serial_hex());
    const bool seen = std::any_of(roots.begin(), roots.end(), [&](const auto& r) { return r.der() == c.der(); });
    if (!seen) roots.push_back(std::move(c));
  }
  return roots;
}

Result<crypto::Certificate> load_certificate(const fs::path& file) {
  SIGIL_TRY(std::string pem, read_file(file));
  auto certs = crypto::certificates_from_pem(pem);
  if (!certs) return certs.error().context(file.string());
  return std::move(certs->front());
}

Result<std::unique_ptr<crypto::KeySigner>> load_key(const fs::path& file) {
  SIGIL_TRY(std::string pem, read_file(file));
  auto key = crypto::KeySigner::from_pem(pem);
  if (!key) return key.error().context(file.string());
  return key;
}

fs::path token_key_file(const fs::path& key_file) { return fs::path(key_file).replace_extension(kTokenKeyExtension); }

bool key_in_token(const fs::path& key_file) { return !fs::exists(key_file) && fs::exists(token_key_file(key_file)); }

bool key_exists(const fs::path& key_file) { return fs::exists(key_file) || fs::exists(token_key_file(key_file)); }

Result<std::unique_ptr<crypto::Signer>> load_signer(const fs::path& key_file) {
  if (fs::exists(key_file) || !fs::exists(token_key_file(key_file))) {
    SIGIL_TRY(auto key, load_key(key_file));
    return std::unique_ptr<crypto::Signer>(std::move(key));
  }
  const fs::path ref = token_key_file(key_file);
  SIGIL_TRY(std::string text, read_file(ref, 8192));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  auto uri = crypto::pkcs11::parse_uri(text);
  if (!uri) return uri.error().context(ref.string());
  auto key = crypto::pkcs11::open_key(*uri);
  if (!key) return key.error().context(ref.string());
  return std::unique_ptr<crypto::Signer>(std::move(*key));
}

Result<std::unique_ptr<crypto::Signer>> load_signer_for(const fs::path& key_file, const crypto::Certificate& cert) {
  SIGIL_TRY(auto key, load_signer(key_file));
  if (key->public_key().spki != cert.public_key().spki)
    return make_error(Errc::invalid_argument, (key_in_token(key_file) ? token_key_file(key_file) : key_file).string() +
                                                  " does not name the key of the certificate it belongs to");
  return key;
}

std::string token_key_text(const crypto::pkcs11::Uri& uri) { return uri.to_string() + "\n"; }

Status copy_key(const fs::path& from, const fs::path& to) {
  const bool token = key_in_token(from);
  const fs::path src = token ? token_key_file(from) : from;
  SIGIL_TRY(std::string content, read_file(src));
  SIGIL_TRY_STATUS(write_file_atomic(token ? token_key_file(to) : to, content, kPrivateMode));
  // One form only at the destination: a stale key file would win over the new token key.
  std::error_code ec;
  fs::remove(token ? to : token_key_file(to), ec);
  return {};
}

void remove_key(const fs::path& key_file) {
  std::error_code ec;
  fs::remove(key_file, ec);
  fs::remove(token_key_file(key_file), ec);
}

}  // namespace sigil::service
