// PKCS#11 against a real SoftHSM token (SOFTHSM2_CONF points at a temp token directory): RFC 7512
// URI parsing, keys generated in the token, signatures made there and judged by OpenSSL.
#include <doctest/doctest.h>
#include <openssl/rsa.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ca/base/file.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/crypto/pkcs11.hpp"
#include "tests/support/openssl.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using namespace sigil;
using namespace sigil::crypto;
namespace fs = std::filesystem;

constexpr const char* kModule = "/usr/lib/softhsm/libsofthsm2.so";
constexpr const char* kPin = "1234";

// One token directory per test process (the module reads SOFTHSM2_CONF once, when loaded).
struct Token {
  test::TempDir dir{"pkcs11"};
  Token() {
    fs::create_directories(dir / "tokens");
    std::ofstream(dir / "softhsm2.conf") << "directories.tokendir = " << (dir / "tokens").string()
                                         << "\nobjectstore.backend = file\nlog.level = ERROR\n";
    setenv("SOFTHSM2_CONF", (dir / "softhsm2.conf").c_str(), 1);
    for (const char* label : {"unit", "spare"}) {
      const std::string cmd = std::string("softhsm2-util --init-token --free --label ") + label + " --pin " + kPin +
                              " --so-pin 5678 >/dev/null";
      REQUIRE(std::system(cmd.c_str()) == 0);
    }
  }
};
Token& token() {
  static Token t;
  return t;
}

std::string uri_for(const std::string& object, const std::string& token_label = "unit", const std::string& pin = kPin) {
  token();
  return "pkcs11:token=" + token_label + ";object=" + object + "?module-path=" + kModule + "&pin-value=" + pin;
}

std::unique_ptr<pkcs11::Pkcs11Signer> open_or_make(const std::string& object, std::optional<KeyType> type) {
  auto uri = pkcs11::parse_uri(uri_for(object));
  REQUIRE(uri);
  auto s = pkcs11::open_key(*uri, {type});
  REQUIRE_MESSAGE(s, (s ? "" : s.error().detail));
  return std::move(*s);
}

Bytes msg(std::string_view s) { return Bytes(s.begin(), s.end()); }

// ---- URIs -------------------------------------------------------------------------------------

TEST_CASE("RFC 7512 URIs: attributes, percent-decoding, canonical form without the PIN") {
  auto u = pkcs11::parse_uri(
      "pkcs11:token=My%20Token;manufacturer=SoftHSM%20project;serial=abc;model=SoftHSM%20v2;object=ca;"
      "id=%01%02%ff;type=private;slot-id=7?module-path=/usr/lib/x.so&pin-value=s%3Dcret");
  REQUIRE(u);
  CHECK(*u->token == "My Token");
  CHECK(*u->manufacturer == "SoftHSM project");
  CHECK(*u->model == "SoftHSM v2");
  CHECK(*u->object == "ca");
  CHECK(*u->id == Bytes{0x01, 0x02, 0xff});
  CHECK(*u->slot_id == 7);
  CHECK(u->module_path == "/usr/lib/x.so");
  CHECK(*u->pin_value == "s=cret");
  const std::string canonical = u->to_string();
  CHECK(canonical.find("pin") == std::string::npos);
  CHECK(canonical.find("cret") == std::string::npos);
  auto again = pkcs11::parse_uri(canonical);
  REQUIRE(again);
  CHECK(*again->token == "My Token");
  CHECK(*again->id == Bytes{0x01, 0x02, 0xff});
  CHECK(again->module_path == "/usr/lib/x.so");
  CHECK(again->to_string() == canonical);

  auto src = pkcs11::parse_uri("PKCS11:object=k?pin-source=file:/etc/pin&module-name=softhsm2");
  REQUIRE(src);
  CHECK(src->pin_source == "file:/etc/pin");
  CHECK(src->module_name == "softhsm2");
  CHECK(src->to_string() == "pkcs11:object=k?module-name=softhsm2&pin-source=file%3A/etc/pin");
}

TEST_CASE("RFC 7512 URIs: what is refused, and the PIN never appears in the error") {
  const char* bad[] = {
      "pkcs12:object=a",
      "pkcs11:tokne=x",                                    // unknown attribute
      "pkcs11:object=a;object=b",                          // repeated
      "pkcs11:object=a%2",                                 // truncated escape
      "pkcs11:object=a%zz",                                // not hex
      "pkcs11:slot-id=x1",                                 // not a number
      "pkcs11:type=secret",                                // unknown type
      "pkcs11:object",                                     // no '='
      "pkcs11:object=a?module-path=/a&module-name=b",      // both
      "pkcs11:object=a?pin-value=SECRETPIN&pin-source=f",  // both
      "pkcs11:object=a?pin-value=SECRETPIN&colour=red",    // unknown query attribute
      "pkcs11:object=a?pin-valueSECRETPIN",                // no '='
      "pkcs11:object=a#frag",
  };
  for (const char* text : bad) {
    auto u = pkcs11::parse_uri(text);
    CHECK_MESSAGE(!u, text);
    if (!u) {
      CHECK(u.error().code == Errc::invalid_argument);
      CHECK(u.error().detail.find("SECRETPIN") == std::string::npos);
    }
  }
  CHECK(pkcs11::is_uri("pkcs11:"));
  CHECK_FALSE(pkcs11::is_uri("/etc/key.pem"));
}

// ---- signing ------------------------------------------------------------------------------------

TEST_CASE("keys generated in the token sign; OpenSSL verifies (P-256, P-384, RSA PKCS#1 v1.5)") {
  struct Case {
    const char* object;
    KeyType type;
    KeyAlgorithm alg;
    int bits;
    SignatureAlgorithm sig;
  };
  for (const Case& c : {Case{"ec256", KeyType::ec_p256, KeyAlgorithm::ec_p256, 256, SignatureAlgorithm::ecdsa_sha256},
                        Case{"ec384", KeyType::ec_p384, KeyAlgorithm::ec_p384, 384, SignatureAlgorithm::ecdsa_sha384},
                        Case{"rsa2048", KeyType::rsa_2048, KeyAlgorithm::rsa, 2048, SignatureAlgorithm::rsa_sha256}}) {
    CAPTURE(c.object);
    auto signer = open_or_make(c.object, c.type);
    CHECK(signer->public_key().algorithm == c.alg);
    CHECK(signer->public_key().bits == c.bits);
    CHECK(signer->signature_algorithm() == c.sig);
    const Bytes data = msg("to be signed in the token");
    auto sig = signer->sign(data);
    REQUIRE(sig);
    CHECK(verify_signature(signer->public_key(), signer->signature_algorithm(), data, *sig));
    CHECK_FALSE(verify_signature(signer->public_key(), signer->signature_algorithm(), msg("other data"), *sig));
    // The same object again by its URI (no generation asked): the same public key.
    auto reopened = pkcs11::open_key(*pkcs11::parse_uri(uri_for(c.object)));
    REQUIRE(reopened);
    CHECK((*reopened)->public_key().spki == signer->public_key().spki);
    // A CSR signed in the token parses and its self-signature verifies.
    auto csr = make_csr(**reopened, encode_name("token csr"), {});
    REQUIRE(csr);
    auto parsed = Csr::from_der(*csr);
    REQUIRE(parsed);
    CHECK(
        verify_signature(parsed->public_key(), parsed->signature_algorithm(), parsed->info_der(), parsed->signature()));
  }
}

TEST_CASE("RSA-PSS (CKM_RSA_PKCS_PSS, SHA-256, MGF1-SHA-256, salt 32) verifies with OpenSSL") {
  auto signer = open_or_make("rsa2048", KeyType::rsa_2048);
  const Bytes data = msg("pss data");
  auto sig = signer->sign_pss_sha256(data);
  REQUIRE(sig);
  const unsigned char* p = signer->public_key().spki.data();
  test::PkeyPtr pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(signer->public_key().spki.size())));
  REQUIRE(pkey);
  auto verify = [&](const Bytes& m) {
    test::Ptr<EVP_MD_CTX, EVP_MD_CTX_free> ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    REQUIRE(EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, pkey.get()) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1);
    return EVP_DigestVerify(ctx.get(), sig->data(), sig->size(), m.data(), m.size()) == 1;
  };
  CHECK(verify(data));
  CHECK_FALSE(verify(msg("other")));
  // PSS is randomised: two signatures differ, both verify.
  auto sig2 = signer->sign_pss_sha256(data);
  REQUIRE(sig2);
  CHECK(*sig2 != *sig);
  auto ec = open_or_make("ec256", KeyType::ec_p256);
  CHECK_FALSE(ec->sign_pss_sha256(data));
}

TEST_CASE("concurrent signatures go through the session pool and all verify") {
  auto signer = open_or_make("pool", KeyType::ec_p256);
  std::atomic<int> good{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const Bytes data = msg("thread " + std::to_string(t) + " item " + std::to_string(i));
        auto sig = signer->sign(data);
        if (sig && verify_signature(signer->public_key(), signer->signature_algorithm(), data, *sig))
          ++good;
        else
          ++bad;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(good == 320);
  CHECK(bad == 0);
}

// ---- failures -----------------------------------------------------------------------------------

TEST_CASE("failures: wrong PIN, no such object, no such token, no module, ed25519") {
  open_or_make("ec256", KeyType::ec_p256);
  auto wrong = pkcs11::open_key(*pkcs11::parse_uri(uri_for("ec256", "unit", "9999")));
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().code == Errc::unauthorized);
  CHECK(wrong.error().detail.find("9999") == std::string::npos);

  auto missing = pkcs11::open_key(*pkcs11::parse_uri(uri_for("nothing-here")));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);

  auto no_token = pkcs11::open_key(*pkcs11::parse_uri(uri_for("ec256", "absent")));
  REQUIRE_FALSE(no_token);
  CHECK(no_token.error().code == Errc::not_found);

  auto no_module = pkcs11::open_key(*pkcs11::parse_uri("pkcs11:object=x?module-path=/nonexistent/mod.so"));
  REQUIRE_FALSE(no_module);
  CHECK(no_module.error().code == Errc::not_found);
  CHECK(no_module.error().detail.find("/nonexistent/mod.so") != std::string::npos);

  auto no_module_named = pkcs11::open_key(*pkcs11::parse_uri("pkcs11:object=x"));
  REQUIRE_FALSE(no_module_named);
  CHECK(no_module_named.error().detail.find("module-path") != std::string::npos);

  auto ed = pkcs11::open_key(*pkcs11::parse_uri(uri_for("ed")), {KeyType::ed25519});
  REQUIRE_FALSE(ed);
  CHECK(ed.error().code == Errc::invalid_argument);
}

TEST_CASE("the PIN from a pin-source file") {
  test::TempDir d("pin");
  REQUIRE(write_file_atomic(d / "pin", std::string(kPin) + "\n", kPrivateMode));
  token();
  for (const std::string& src : {(d / "pin").string(), "file:" + (d / "pin").string()}) {
    auto uri =
        pkcs11::parse_uri(std::string("pkcs11:token=unit;object=srcpin?module-path=") + kModule + "&pin-source=" + src);
    REQUIRE(uri);
    auto s = pkcs11::open_key(*uri, {KeyType::ec_p256});
    REQUIRE_MESSAGE(s, (s ? "" : s.error().detail));
  }
}

TEST_CASE("a token that disappears: unavailable, and usable again once it is back") {
  auto uri =
      pkcs11::parse_uri("pkcs11:token=spare;object=k?module-path=" + std::string(kModule) + "&pin-value=" + kPin);
  REQUIRE(uri);
  token();
  auto signer = pkcs11::open_key(*uri, {KeyType::ec_p256});
  REQUIRE_MESSAGE(signer, (signer ? "" : signer.error().detail));
  REQUIRE((*signer)->sign(msg("before")));
  const fs::path tokens = token().dir / "tokens";
  const fs::path away = token().dir / "away";
  fs::rename(tokens, away);
  fs::create_directories(tokens);
  for (const fs::path& p : fs::directory_iterator(away))  // the other token stays
    if (fs::exists(p / "token.object")) {
      std::ifstream in(p / "token.object", std::ios::binary);
      const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (content.find("unit") != std::string::npos) fs::rename(p, tokens / p.filename());
    }
  auto gone = (*signer)->sign(msg("while away"));
  REQUIRE_FALSE(gone);
  CHECK(gone.error().code == Errc::unavailable);
  // The failed session was dropped: the next call opens a new one, which finds no token either.
  auto still = (*signer)->sign(msg("still away"));
  REQUIRE_FALSE(still);
  CHECK(still.error().code == Errc::unavailable);
  CHECK(still.error().detail.find(kPin) == std::string::npos);
  // SoftHSM scans its token directory only in C_Initialize, so a token put back is seen by the
  // next process (the integration test restarts serve), not by this one.
  for (const fs::path& p : fs::directory_iterator(away)) fs::rename(p, tokens / p.filename());
}

}  // namespace
