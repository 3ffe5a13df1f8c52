#include "cli/common.hpp"

#include <pwd.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "ca/base/file.hpp"
#include "ca/base/log.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace sigil::cli {

Result<std::unique_ptr<StoreContext>> open_store(const std::string& home) {
  auto ctx = std::make_unique<StoreContext>();
  ctx->home.dir = home;
  SIGIL_TRY(ctx->config, load_config(ctx->home.config()));
  SIGIL_TRY(ctx->store, store::sqlite::open(ctx->home.database(ctx->config).string()));
  return ctx;
}

namespace {
// The archived intermediates that have not expired, each with its key. One that cannot be
// loaded is logged and left out: today's issuance does not depend on it.
void add_retired(IssuerContext& ctx) {
  for (auto& [crt, cert] : archived_intermediates(ctx.home, ctx.clock.now())) {
    if (ctx.issuer->authority(issuer::issuer_id(cert))) continue;
    auto key = load_key(fs::path(crt).replace_extension(".key"));
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
  SIGIL_TRY(ctx->key, load_key(ctx->home.ca_key()));
  SIGIL_TRY(crypto::Certificate cert, load_certificate(ctx->home.ca_cert()));
  SIGIL_TRY(policy::Profiles profiles, ctx->config.effective_profiles());
  SIGIL_TRY(ctx->store, store::sqlite::open(ctx->home.database(ctx->config).string()));
  issuer::Options opts{ctx->config.public_url, ctx->config.backdate};
  SIGIL_TRY(ctx->issuer, issuer::Issuer::create(*ctx->key, std::move(cert), ctx->config.policy, std::move(profiles),
                                                opts, ctx->clock, *ctx->store));
  // Local issuance (`sigil issue`) shards like the server does.
  SIGIL_TRY_STATUS(ctx->issuer->update_crl_layout(
      {static_cast<int>(ctx->config.revocation.crl_shards), ctx->config.revocation.delta_crl_interval.count() > 0}));
  add_retired(*ctx);
  return ctx;
}

Result<const issuer::Authority*> reload_intermediate(IssuerContext& ctx) {
  SIGIL_TRY(crypto::Certificate cert, load_certificate(ctx.home.ca_cert()));
  const issuer::Authority& now = ctx.issuer->current();
  if (cert.der() == now.cert.der()) return &now;
  SIGIL_TRY(std::unique_ptr<crypto::KeySigner> key, load_key(ctx.home.ca_key()));
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

std::string cli_actor() {
  const passwd* pw = getpwuid(geteuid());
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  return std::string("cli:") + (pw ? pw->pw_name : std::to_string(geteuid())) + "@" + host;
}

namespace {
Result<std::string> prompt(const char* text) {
  FILE* tty = std::fopen("/dev/tty", "r+");
  if (!tty) return make_error(Errc::unauthorized, "cannot open the terminal for the passphrase prompt");
  std::fputs(text, tty);
  std::fflush(tty);
  termios old{};
  const int fd = fileno(tty);
  const bool have_termios = tcgetattr(fd, &old) == 0;
  if (have_termios) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  std::string line;
  for (int c; (c = std::fgetc(tty)) != EOF && c != '\n';) line += static_cast<char>(c);
  if (have_termios) tcsetattr(fd, TCSAFLUSH, &old);
  std::fputs("\n", tty);
  std::fclose(tty);
  return line;
}
}  // namespace

namespace {
// Characters, not bytes: a UTF-8 passphrase is measured as the operator types it.
std::size_t utf8_length(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

struct PassphraseSource {
  const char* what;  // "root passphrase"
  const char* flag;
  const char* env_var;
  const char* prompt;
};

Result<std::string> read_passphrase(const std::string& file, const PassphraseSource& src, bool is_new) {
  std::string pass;
  if (!file.empty()) {
    SIGIL_TRY(pass, read_file(file, 4096));
    while (!pass.empty() && (pass.back() == '\n' || pass.back() == '\r')) pass.pop_back();
  } else if (const char* env = std::getenv(src.env_var)) {
    pass = env;
  } else if (isatty(STDIN_FILENO)) {
    SIGIL_TRY(pass, prompt(src.prompt));
    if (is_new) {
      SIGIL_TRY(std::string again, prompt("Repeat the passphrase: "));
      if (again != pass) return make_error(Errc::invalid_argument, "the passphrases differ");
    }
  } else {
    return make_error(Errc::unauthorized, std::string("no ") + src.what + ": give " + src.flag + ", set " +
                                              src.env_var + ", or run on a terminal");
  }
  if (pass.empty()) return make_error(Errc::invalid_argument, "the root passphrase must not be empty");
  if (pass.size() > 1024) return make_error(Errc::invalid_argument, "the root passphrase must be at most 1024 bytes");
  // Only a passphrase being set is held to the minimum: a root made under the old minimum of 8
  // must still open, so that `sigil root change-passphrase` can replace its passphrase.
  if (is_new && utf8_length(pass) < kMinRootPassphrase)
    return make_error(Errc::invalid_argument,
                      "the root passphrase needs at least " + std::to_string(kMinRootPassphrase) + " characters");
  return pass;
}
}  // namespace

Result<std::string> root_passphrase(const std::string& file, bool confirm) {
  return read_passphrase(
      file, {"root passphrase", "--root-passphrase-file", "SIGIL_ROOT_PASSPHRASE", "Root key passphrase: "}, confirm);
}

Result<std::string> new_root_passphrase(const std::string& file) {
  return read_passphrase(
      file, {"new root passphrase", "--new-passphrase-file", "SIGIL_ROOT_NEW_PASSPHRASE", "New root key passphrase: "},
      true);
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

}  // namespace sigil::cli
