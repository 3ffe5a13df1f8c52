// Writes a seed corpus for the harnesses, made at run time with Sigil's own encoders (nothing
// checked in): CSRs, certificates and CRLs of every key type, as DER and as PEM.
// Usage: fuzz_seeds OUT_DIR  (creates OUT_DIR/{csr,certificate,pem,der,text,http,config,dns}/)
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/crypto/x509.hpp"

using namespace sigil;
using namespace sigil::crypto;
namespace fs = std::filesystem;
using GN = GeneralName::Type;

namespace {

int written = 0;

void put(const fs::path& dir, const std::string& name, std::string_view data) {
  if (auto s = write_file_atomic(dir / name, data); !s) {
    std::fprintf(stderr, "fuzz_seeds: %s\n", s.error().detail.c_str());
    std::exit(1);
  }
  ++written;
}
void put(const fs::path& dir, const std::string& name, const Bytes& data) { put(dir, name, as_chars(data)); }

template <class T>
T must(Result<T> r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "fuzz_seeds: %s: %s\n", what, r.error().detail.c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds OUT_DIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  for (const char* d : {"csr", "certificate", "pem", "der", "text", "http", "config", "dns"})
    fs::create_directories(out / d);
  const TimePoint now = from_unix(1893456000);  // 2030-01-01, fixed: seeds are reproducible in shape

  for (KeyType t : {KeyType::ec_p256, KeyType::ec_p384, KeyType::ed25519, KeyType::rsa_2048}) {
    const std::string k(to_string(t));
    auto ca = must(KeySigner::generate(t), "keygen");
    auto leaf = must(KeySigner::generate(t), "keygen");

    // CSRs: with every SAN form, without SANs, without a subject.
    const std::vector<GeneralName> sans = {{GN::dns, "a.example.internal"},
                                           {GN::ip, "10.0.0.1"},
                                           {GN::ip, "fd00::1"},
                                           {GN::uri, "spiffe://example.internal/ns/a"},
                                           {GN::email, "ops@example.internal"}};
    const Bytes csr = must(make_csr(*leaf, encode_name("a.example.internal", "Org"), sans), "csr");
    const Bytes bare = must(make_csr(*leaf, encode_name(""), {}), "csr");
    put(out / "csr", k + "-sans.der", csr);
    put(out / "csr", k + "-bare.der", bare);
    put(out / "csr", k + "-sans.pem", pem_encode("CERTIFICATE REQUEST", csr));
    put(out / "der", k + "-csr.der", csr);
    put(out / "der", k + "-spki.der", leaf->public_key().spki);

    // A root and a leaf with every extension Sigil writes; a leaf with an empty subject.
    CertificateSpec root;
    root.serial = random_bytes(16);
    root.serial[0] = 0x11;
    root.signature = ca->signature_algorithm();
    root.subject = encode_name("Seed Root", "Seed");
    root.issuer = root.subject;
    root.not_before = now;
    root.not_after = now + Seconds(30LL * 365 * 86400);  // crosses 2050: GeneralizedTime
    root.spki = ca->public_key().spki;
    root.is_ca = true;
    root.path_len = 0;
    root.key_usage = ku::key_cert_sign | ku::crl_sign;
    root.subject_key_id = key_identifier(ca->public_key());
    const Bytes root_tbs = must(encode_tbs(root), "tbs");
    const Bytes root_der = assemble_signed(root_tbs, root.signature, must(ca->sign(root_tbs), "sign"));

    CertificateSpec l;
    l.serial = random_bytes(16);
    l.serial[0] = 0x22;
    l.signature = ca->signature_algorithm();
    l.issuer = root.subject;
    l.subject = encode_name("a.example.internal");
    l.not_before = now;
    l.not_after = now + Seconds(86400);
    l.spki = leaf->public_key().spki;
    l.key_usage = ku::digital_signature | (t == KeyType::rsa_2048 ? ku::key_encipherment : 0);
    l.ext_key_usage = {Eku::server_auth, Eku::client_auth};
    l.subject_key_id = key_identifier(leaf->public_key());
    l.authority_key_id = root.subject_key_id;
    l.sans = sans;
    l.crl_urls = {"https://ca.example.internal/crl/1.crl"};
    l.ocsp_urls = {"https://ca.example.internal/ocsp"};
    l.ca_issuer_urls = {"https://ca.example.internal/ca/1.crt"};
    l.ocsp_no_check = true;
    const Bytes leaf_tbs = must(encode_tbs(l), "tbs");
    const Bytes leaf_der = assemble_signed(leaf_tbs, l.signature, must(ca->sign(leaf_tbs), "sign"));
    l.subject = encode_name("");
    l.sans = {{GN::uri, "spiffe://example.internal/x"}};
    const Bytes anon_tbs = must(encode_tbs(l), "tbs");
    const Bytes anon_der = assemble_signed(anon_tbs, l.signature, must(ca->sign(anon_tbs), "sign"));

    put(out / "certificate", k + "-root.der", root_der);
    put(out / "certificate", k + "-leaf.der", leaf_der);
    put(out / "certificate", k + "-anon.der", anon_der);
    put(out / "certificate", k + "-leaf-tbs.der", leaf_tbs);
    put(out / "der", k + "-leaf.der", leaf_der);

    // A CRL with reasons.
    CrlSpec crl;
    crl.signature = ca->signature_algorithm();
    crl.issuer = root.subject;
    crl.this_update = now;
    crl.next_update = now + Seconds(7 * 86400);
    crl.authority_key_id = root.subject_key_id;
    crl.crl_number = 42;
    crl.revoked = {{l.serial, now, 1}, {{0x80, 0x01}, now, std::nullopt}};
    const Bytes crl_tbs = encode_tbs_crl(crl);
    put(out / "der", k + "-crl.der", assemble_signed(crl_tbs, crl.signature, must(ca->sign(crl_tbs), "sign")));

    // PEM: single blocks, a chain with explanatory text, a mix of labels.
    put(out / "pem", k + "-chain.pem",
        "Subject: a.example.internal\n" + pem_encode("CERTIFICATE", leaf_der) + "Issuer: Seed Root\n" +
            pem_encode("CERTIFICATE", root_der));
    put(out / "pem", k + "-csr.pem", pem_encode("NEW CERTIFICATE REQUEST", csr));
    put(out / "pem", k + "-key.pem", must(leaf->to_pem(), "pem"));
    put(out / "csr", k + "-chain.pem", pem_encode("CERTIFICATE REQUEST", csr) + pem_encode("CERTIFICATE", leaf_der));
  }
  // Seeds for fuzz_text.
  put(out / "text", "base64.txt", std::string("Zm9vYmFy"));
  put(out / "text", "base64-pad.txt", std::string("Zm9vYg=="));
  put(out / "text", "base64url.txt", std::string("-_-_Zm9vYg"));
  put(out / "text", "hex.txt", std::string("00ff7F80"));
  put(out / "text", "duration.txt", std::string("1y2w3d4h5m6s"));
  put(out / "text", "time.txt", std::string("2049-12-31T23:59:59Z"));
  put(out / "text", "http-date.txt", std::string("Sun, 06 Nov 1994 08:49:37 GMT"));
  // Seeds for fuzz_http: requests as clients send them, one pipelined pair, a chunked body.
  put(out / "http", "get-health.txt", std::string("GET /health HTTP/1.1\r\nHost: ca\r\n\r\n"));
  put(out / "http", "get-cert.txt",
      std::string("GET /api/v1/certificates/0a1b2c?x=1&y=%41+b HTTP/1.1\r\nHost: ca\r\nAccept: */*\r\n\r\n"));
  put(out / "http", "post-revoke.txt",
      std::string("POST /api/v1/certificates/0a/revoke HTTP/1.1\r\nHost: ca\r\nContent-Type: application/json\r\n"
                  "Content-Length: 27\r\n\r\n{\"reason\":\"keyCompromise\"}\n"));
  put(out / "http", "ocsp-get.txt",
      std::string("GET /ocsp/MEMwQTA%2FMD0wOzAJBgUrDgMCGgUABBQ/a/b HTTP/1.1\r\nHost: ca\r\n\r\n"));
  put(out / "http", "pipelined.txt",
      std::string("GET /crl/0/1.crl HTTP/1.1\r\nHost: ca\r\n\r\nPOST /acme/order/x/finalize HTTP/1.1\r\nHost: ca\r\n"
                  "Content-Length: 2\r\n\r\n{}HEAD /ca/root.crt HTTP/1.0\r\n\r\n"));
  put(out / "http", "chunked.txt",
      std::string("POST /ocsp HTTP/1.1\r\nHost: ca\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"));
  // Seeds for fuzz_config: the smallest sigil.json and one with every section (ops/fuzz.sh adds
  // ops/examples/sigil.json).
  put(out / "config", "minimal.json",
      std::string(R"({"name":"Seed CA","public_url":"https://ca.example.internal","database":"sigil.db"})"));
  put(out / "config", "sections.json", std::string(R"({"name":"Seed CA","public_url":"http://127.0.0.1:8080",
"database":"sigil.db","key_type":"ec-p256","server":{"dns":["ca.example.internal"]},
"policy":{"allowed_domains":["example.internal"],"allowed_ip_ranges":["10.0.0.0/8"],"allow_wildcards":false},
"issuance":{"backdate":"1m"},"profiles":{"server":{"default_ttl":"30d","max_ttl":"90d"}},
"authorization":[{"identity":"spiffe://example.internal/*","role":"issuer","identifiers":["*.example.internal"]}],
"listeners":{"api":"127.0.0.1:0","acme":"127.0.0.1:0","public":"127.0.0.1:0"},
"tls":{"client_skew":"1m","server_cert_ttl":"30d"},"limits":{"max_body":65536,"request_timeout":"10s"},
"revocation":{"crl_validity":"7d","ocsp_validity":"1d","crl_shards":2},
"acme":{"order_lifetime":"7d","validation":{"timeout":"30s"}}})"));
  // Seeds for fuzz_dns: answers to _acme-challenge.a.example TXT: direct, through a CNAME whose
  // target and owner are compression pointers, and NXDOMAIN.
  {
    using B = Bytes;
    auto cat = [](std::initializer_list<B> parts) {
      B out;
      for (const B& p : parts) out.insert(out.end(), p.begin(), p.end());
      return out;
    };
    auto header = [](std::uint8_t rcode, std::uint8_t answers) {
      return B{0x12, 0x34, 0x81, static_cast<std::uint8_t>(0x80 | rcode), 0, 1, 0, answers, 0, 0, 0, 0};
    };
    const B name = {15,  '_', 'a', 'c', 'm', 'e', '-', 'c', 'h', 'a', 'l', 'l', 'e', 'n',
                    'g', 'e', 1,   'a', 7,   'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};  // at offset 12; "example" at 30
    const B question = cat({name, {0, 16, 0, 1}});
    const B txt = {0, 16, 0, 1, 0, 0, 0, 60, 0, 6, 5, 't', 'o', 'k', 'e', 'n'};
    const B cname = {0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, 'b', 0xc0, 30};  // b.example; its rdata at 55
    put(out / "dns", "txt.bin", cat({header(0, 1), question, {0xc0, 12}, txt}));
    put(out / "dns", "cname-txt.bin", cat({header(0, 2), question, {0xc0, 12}, cname, {0xc0, 55}, txt}));
    put(out / "dns", "nxdomain.bin", cat({header(3, 0), question}));
  }
  std::printf("fuzz_seeds: %d files in %s\n", written, out.c_str());
  return 0;
}
