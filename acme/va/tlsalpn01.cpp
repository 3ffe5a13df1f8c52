// tls-alpn-01 (RFC 8737; RFC 8738 §6 for IP identifiers): a TLS handshake offering only
// acme-tls/1, then the self-signed validation certificate is read with Sigil's DER parser.
#include <algorithm>

#include "acme/va/va_internal.hpp"
#include "ca/base/encoding.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/crypto/der.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/crypto/x509.hpp"
#include "ca/http/probe.hpp"

namespace sigil::acme::va::internal {
namespace {

// id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31 (RFC 8737 §6.1).
constexpr std::uint8_t kAcmeIdentifierOid[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f};

std::string names_text(const std::vector<crypto::GeneralName>& names) {
  if (names.empty()) return "none";
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + crypto::to_string(n);
  return out;
}

bool names_identifier(const crypto::GeneralName& n, const Task& task) {
  if (task.identifier_type == "ip") {
    if (n.type != crypto::GeneralName::Type::ip) return false;
    const auto a = ip_bytes(n.value), b = ip_bytes(task.identifier);
    return a && b && *a == *b;
  }
  return n.type == crypto::GeneralName::Type::dns && lower(n.value) == task.identifier;
}

std::optional<Problem> check_certificate(const Bytes& der, const Task& task, const std::string& from) {
  const std::string bad = "Incorrect validation certificate for tls-alpn-01 challenge from " + from + ": ";
  auto cert = crypto::Certificate::from_der(der);
  if (!cert) return Problem{"unauthorized", bad + "it cannot be parsed (" + cert.error().detail + ")"};
  const auto& tbs = cert->tbs();
  const crypto::Extension* san = tbs.find(crypto::oid::subject_alt_name);
  if (!san) return Problem{"unauthorized", bad + "it has no subjectAltName extension"};
  auto names = crypto::decode_general_names(san->value);
  if (!names) return Problem{"unauthorized", bad + "its subjectAltName cannot be read (" + names.error().detail + ")"};
  if (names->size() != 1 || !names_identifier(names->front(), task))
    return Problem{"unauthorized", bad + "requested " + task.identifier + ", received a certificate for " +
                                       names_text(*names) + " (exactly one name, the identifier, is required)"};
  const crypto::Extension* ext = tbs.find(kAcmeIdentifierOid);
  if (!ext) return Problem{"unauthorized", bad + "the acmeIdentifier extension is missing"};
  if (!ext->critical) return Problem{"unauthorized", bad + "the acmeIdentifier extension is not critical"};
  auto value = crypto::der::read_single(ext->value, crypto::der::tag::kOctetString);
  if (!value) return Problem{"unauthorized", bad + "the acmeIdentifier extension is not an OCTET STRING"};
  const Bytes expected = crypto::sha256(as_bytes(task.key_authorization));
  if (!std::equal(expected.begin(), expected.end(), value->contents.begin(), value->contents.end()))
    return Problem{"unauthorized", bad + "expected acmeIdentifier extension value " + to_hex(expected) +
                                       " for this challenge but got " + to_hex(value->contents)};
  return std::nullopt;
}

Problem handshake_problem(const http::ProbeError& e, const std::string& from) {
  const std::string where = "Connecting to " + from + " for tls-alpn-01: ";
  using K = http::ProbeError::Kind;
  if (e.kind == K::tls) return Problem{"tls", where + e.detail};
  if (e.kind == K::timeout && !e.connected)
    return Problem{"connection", where + e.detail + " (likely a firewall problem, or nothing listening)"};
  return Problem{"connection", where + e.detail};
}

}  // namespace

std::optional<Problem> validate_tlsalpn01(Context& ctx, const Task& task) {
  const bool is_ip = task.identifier_type == "ip";
  const std::string sni = is_ip ? reverse_name(*ip_bytes(task.identifier)) : task.identifier;
  auto addresses = addresses_to_try(ctx, task.identifier, is_ip);
  if (!addresses) return addresses.problem();
  const int port = ctx.settings.config.tlsalpn01_port;
  for (std::size_t i = 0; i < addresses->size(); ++i) {
    const std::string& address = (*addresses)[i];
    const bool more = i + 1 < addresses->size();
    const std::string from =
        (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" + std::to_string(port);
    ctx.addresses_tried.push_back(address);
    http::TlsProbe probe;
    probe.address = address;
    probe.port = port;
    probe.sni = sni;
    probe.alpn = {kAcmeTlsAlpn};
    probe.deadline = ctx.deadline;
    probe.connect_deadline = connect_deadline(ctx.deadline, more);
    auto r = http::probe_tls(probe);
    if (r.error && !r.error->connected && more) continue;  // the next address (IPv4 after IPv6)
    if (r.error) return handshake_problem(*r.error, from);
    if (r.alpn != kAcmeTlsAlpn)
      return Problem{"unauthorized", "Cannot negotiate ALPN protocol \"acme-tls/1\" for tls-alpn-01 challenge with " +
                                         from + " (negotiated " + (r.alpn.empty() ? "none" : quote(r.alpn)) + ")"};
    if (r.leaf_der.empty()) return Problem{"unauthorized", "No certificate presented by " + from + " for tls-alpn-01"};
    return check_certificate(r.leaf_der, task, from);
  }
  return Problem{"connection", "No address to connect to for tls-alpn-01"};
}

}  // namespace sigil::acme::va::internal
