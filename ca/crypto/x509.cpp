#include "ca/crypto/x509.hpp"

#include <arpa/inet.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cassert>

#include "ca/base/encoding.hpp"
#include "ca/crypto/oids.hpp"

namespace sigil::crypto {
namespace {

using der::Reader;
using der::Tlv;
using der::Writer;
namespace tag = der::tag;

Error bad(std::string_view what) { return make_error(Errc::malformed, std::string(what)); }

std::string bytes_sv(ByteView b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// GeneralName context tags (RFC 5280 §4.2.1.6).
constexpr unsigned kGnEmail = 1, kGnDns = 2, kGnUri = 6, kGnIp = 7;

void write_general_name(Writer& w, const GeneralName& n) {
  switch (n.type) {
    case GeneralName::Type::dns:
      w.string(tag::context(kGnDns), n.value);
      break;
    case GeneralName::Type::email:
      w.string(tag::context(kGnEmail), n.value);
      break;
    case GeneralName::Type::uri:
      w.string(tag::context(kGnUri), n.value);
      break;
    case GeneralName::Type::ip: {
      auto b = ip_to_bytes(n.value);
      w.tlv(tag::context(kGnIp), b ? ByteView(*b) : ByteView{});
      break;
    }
  }
}

void write_extension(Writer& w, ByteView oid, bool critical, const Bytes& value) {
  const auto m = w.begin(tag::kSequence);
  w.oid(oid);
  if (critical) w.boolean(true);
  w.octet_string(value);
  w.end(m);
}

template <class F>
Bytes build(F&& f) {
  Writer w;
  f(w);
  return w.take();
}

void write_access_description(Writer& w, ByteView method, const std::string& url) {
  const auto m = w.begin(tag::kSequence);
  w.oid(method);
  w.string(tag::context(kGnUri), url);
  w.end(m);
}

// DistributionPointName: distributionPoint [0] { fullName [0] { URI } } (one URI).
void write_distribution_point_name(Writer& x, const std::string& url) {
  const auto dpn = x.begin(tag::context_constructed(0));   // distributionPoint
  const auto full = x.begin(tag::context_constructed(0));  // fullName
  x.string(tag::context(kGnUri), url);
  x.end(full);
  x.end(dpn);
}

// CRLDistributionPoints / FreshestCRL: one DistributionPoint per URL, each a fullName URI.
Bytes distribution_points(const std::vector<std::string>& urls) {
  return build([&](Writer& x) {
    const auto m = x.begin(tag::kSequence);
    for (const auto& url : urls) {
      const auto dp = x.begin(tag::kSequence);
      write_distribution_point_name(x, url);
      x.end(dp);
    }
    x.end(m);
  });
}

// IssuingDistributionPoint { distributionPoint [0] { fullName [0] { URI } }, onlyContainsUserCerts [1] }
Bytes issuing_distribution_point(const std::string& url, bool only_user_certs) {
  return build([&](Writer& x) {
    const auto m = x.begin(tag::kSequence);
    write_distribution_point_name(x, url);
    if (only_user_certs) {
      const std::uint8_t t[] = {0xff};
      x.tlv(tag::context(1), t);  // [1] IMPLICIT BOOLEAN TRUE (FALSE, the default, is omitted)
    }
    x.end(m);
  });
}

// The URIs of a DistributionPointName's fullName ([0] GeneralNames); nameRelativeToCRLIssuer
// names none.
Result<std::vector<std::string>> full_name_urls(const Tlv& dpn) {
  Reader r(dpn.contents);  // a CHOICE, so [0] is an explicit tag around it
  SIGIL_TRY(Tlv choice, r.next());
  if (!r.empty()) return bad("trailing bytes in a distribution point name");
  std::vector<std::string> out;
  if (choice.tag != tag::context_constructed(0)) return out;
  Reader names(choice.contents);
  while (!names.empty()) {
    SIGIL_TRY(Tlv n, names.next());
    if (n.tag == tag::context(kGnUri)) out.push_back(bytes_sv(n.contents));
  }
  return out;
}

bool ascii_printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

std::string_view to_string(KeyAlgorithm a) {
  switch (a) {
    case KeyAlgorithm::ec_p256:
      return "ec-p256";
    case KeyAlgorithm::ec_p384:
      return "ec-p384";
    case KeyAlgorithm::ed25519:
      return "ed25519";
    case KeyAlgorithm::rsa:
      return "rsa";
  }
  return "?";
}

std::string_view to_string(SignatureAlgorithm a) {
  switch (a) {
    case SignatureAlgorithm::ecdsa_sha256:
      return "ecdsa-with-SHA256";
    case SignatureAlgorithm::ecdsa_sha384:
      return "ecdsa-with-SHA384";
    case SignatureAlgorithm::ecdsa_sha512:
      return "ecdsa-with-SHA512";
    case SignatureAlgorithm::ed25519:
      return "Ed25519";
    case SignatureAlgorithm::rsa_sha256:
      return "sha256WithRSAEncryption";
    case SignatureAlgorithm::rsa_sha384:
      return "sha384WithRSAEncryption";
    case SignatureAlgorithm::rsa_sha512:
      return "sha512WithRSAEncryption";
  }
  return "?";
}

SignatureAlgorithm signature_algorithm_for(KeyAlgorithm key) {
  switch (key) {
    case KeyAlgorithm::ec_p256:
      return SignatureAlgorithm::ecdsa_sha256;
    case KeyAlgorithm::ec_p384:
      return SignatureAlgorithm::ecdsa_sha384;
    case KeyAlgorithm::ed25519:
      return SignatureAlgorithm::ed25519;
    case KeyAlgorithm::rsa:
      return SignatureAlgorithm::rsa_sha256;
  }
  return SignatureAlgorithm::ecdsa_sha256;
}

bool signature_fits_key(SignatureAlgorithm sig, KeyAlgorithm key) {
  switch (sig) {
    case SignatureAlgorithm::ecdsa_sha256:
    case SignatureAlgorithm::ecdsa_sha384:
    case SignatureAlgorithm::ecdsa_sha512:
      return key == KeyAlgorithm::ec_p256 || key == KeyAlgorithm::ec_p384;
    case SignatureAlgorithm::ed25519:
      return key == KeyAlgorithm::ed25519;
    default:
      return key == KeyAlgorithm::rsa;
  }
}

Bytes algorithm_identifier(SignatureAlgorithm a) {
  return build([&](Writer& w) {
    const auto m = w.begin(tag::kSequence);
    switch (a) {
      case SignatureAlgorithm::ecdsa_sha256:
        w.oid(oid::ecdsa_with_sha256);
        break;
      case SignatureAlgorithm::ecdsa_sha384:
        w.oid(oid::ecdsa_with_sha384);
        break;
      case SignatureAlgorithm::ecdsa_sha512:
        w.oid(oid::ecdsa_with_sha512);
        break;
      case SignatureAlgorithm::ed25519:
        w.oid(oid::ed25519);
        break;
      // RFC 4055 §5: the parameters of the PKCS#1 v1.5 algorithms are NULL.
      case SignatureAlgorithm::rsa_sha256:
        w.oid(oid::sha256_with_rsa);
        w.null();
        break;
      case SignatureAlgorithm::rsa_sha384:
        w.oid(oid::sha384_with_rsa);
        w.null();
        break;
      case SignatureAlgorithm::rsa_sha512:
        w.oid(oid::sha512_with_rsa);
        w.null();
        break;
    }
    w.end(m);
  });
}

Result<SignatureAlgorithm> parse_algorithm_identifier(ByteView whole) {
  SIGIL_TRY(Tlv seq, der::read_single(whole, tag::kSequence));
  Reader r(seq.contents);
  SIGIL_TRY(Tlv o, r.expect(tag::kOid));
  struct Known {
    ByteView oid;
    SignatureAlgorithm alg;
    bool null_params;
  };
  const Known known[] = {
      {oid::ecdsa_with_sha256, SignatureAlgorithm::ecdsa_sha256, false},
      {oid::ecdsa_with_sha384, SignatureAlgorithm::ecdsa_sha384, false},
      {oid::ecdsa_with_sha512, SignatureAlgorithm::ecdsa_sha512, false},
      {oid::ed25519, SignatureAlgorithm::ed25519, false},
      {oid::sha256_with_rsa, SignatureAlgorithm::rsa_sha256, true},
      {oid::sha384_with_rsa, SignatureAlgorithm::rsa_sha384, true},
      {oid::sha512_with_rsa, SignatureAlgorithm::rsa_sha512, true},
  };
  for (const Known& k : known) {
    if (!oid::equal(o.contents, k.oid)) continue;
    if (k.null_params) {
      // Absent parameters are tolerated for RSA (some encoders omit NULL), anything else is not.
      if (!r.empty()) {
        SIGIL_TRY(Tlv n, r.expect(tag::kNull));
        if (!n.contents.empty()) return bad("bad NULL parameters");
      }
    }
    if (!r.empty()) return bad("unexpected signature algorithm parameters");
    return k.alg;
  }
  return make_error(Errc::bad_csr, "unsupported signature algorithm " + der::oid_to_string(o.contents));
}

Result<PublicKey> parse_spki(ByteView spki_der) {
  SIGIL_TRY(Tlv seq, der::read_single(spki_der, tag::kSequence));
  Reader r(seq.contents);
  SIGIL_TRY(Tlv alg, r.expect(tag::kSequence));
  SIGIL_TRY(Tlv bits, r.expect(tag::kBitString));
  if (!r.empty()) return bad("trailing data in SubjectPublicKeyInfo");
  SIGIL_TRY(ByteView key, der::read_bit_string_bytes(bits));
  Reader ar(alg.contents);
  SIGIL_TRY(Tlv o, ar.expect(tag::kOid));
  PublicKey out;
  out.spki.assign(spki_der.begin(), spki_der.end());
  out.key.assign(key.begin(), key.end());
  if (oid::equal(o.contents, oid::ec_public_key)) {
    SIGIL_TRY(Tlv curve, ar.expect(tag::kOid));
    if (!ar.empty()) return bad("bad EC parameters");
    if (oid::equal(curve.contents, oid::prime256v1)) {
      out.algorithm = KeyAlgorithm::ec_p256;
      out.bits = 256;
    } else if (oid::equal(curve.contents, oid::secp384r1)) {
      out.algorithm = KeyAlgorithm::ec_p384;
      out.bits = 384;
    } else {
      return make_error(Errc::bad_public_key,
                        "EC curve " + der::oid_to_string(curve.contents) + " is not allowed (P-256, P-384)");
    }
    const std::size_t coord = static_cast<std::size_t>(out.bits / 8);
    // Uncompressed points only (RFC 5480 §2.2: compressed MAY be refused).
    if (key.size() != 1 + 2 * coord || key[0] != 0x04) return make_error(Errc::bad_public_key, "bad EC point");
    return out;
  }
  if (oid::equal(o.contents, oid::ed25519)) {
    if (!ar.empty()) return bad("Ed25519 parameters must be absent");
    if (key.size() != 32) return make_error(Errc::bad_public_key, "bad Ed25519 key length");
    out.algorithm = KeyAlgorithm::ed25519;
    out.bits = 256;
    return out;
  }
  if (oid::equal(o.contents, oid::rsa_encryption)) {
    SIGIL_TRY(Tlv n, ar.expect(tag::kNull));
    if (!n.contents.empty() || !ar.empty()) return bad("bad RSA parameters");
    SIGIL_TRY(Tlv rsa, der::read_single(key, tag::kSequence));
    Reader kr(rsa.contents);
    SIGIL_TRY(Tlv mod, kr.expect(tag::kInteger));
    SIGIL_TRY(Tlv exp, kr.expect(tag::kInteger));
    if (!kr.empty() || mod.contents.empty() || exp.contents.empty()) return bad("bad RSAPublicKey");
    if ((mod.contents[0] & 0x80) || (exp.contents[0] & 0x80))
      return make_error(Errc::bad_public_key, "negative RSA value");
    if (mod.contents.size() > 1 && mod.contents[0] == 0 && !(mod.contents[1] & 0x80)) return bad("non-minimal modulus");
    ByteView m = mod.contents;
    while (!m.empty() && m[0] == 0) m = m.subspan(1);
    if (m.empty()) return make_error(Errc::bad_public_key, "zero RSA modulus");
    int bitlen = static_cast<int>(m.size()) * 8;
    for (std::uint8_t top = m[0]; !(top & 0x80); top = static_cast<std::uint8_t>(top << 1)) --bitlen;
    out.algorithm = KeyAlgorithm::rsa;
    out.bits = bitlen;
    out.rsa_modulus.assign(m.begin(), m.end());
    out.rsa_exponent.assign(exp.contents.begin(), exp.contents.end());
    return out;
  }
  return make_error(Errc::bad_public_key, "unsupported public key algorithm " + der::oid_to_string(o.contents));
}

Bytes key_identifier(const PublicKey& key) {
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(key.key.data(), key.key.size(), digest);
  return Bytes(digest, digest + 20);
}

std::string to_string(const GeneralName& n) {
  switch (n.type) {
    case GeneralName::Type::dns:
      return "dns:" + n.value;
    case GeneralName::Type::ip:
      return "ip:" + n.value;
    case GeneralName::Type::uri:
      return "uri:" + n.value;
    case GeneralName::Type::email:
      return "email:" + n.value;
  }
  return n.value;
}

Result<GeneralName> parse_general_name_text(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return bad("identifier without a type: " + std::string(text));
  const std::string_view type = text.substr(0, colon);
  std::string value(text.substr(colon + 1));
  if (type == "dns") return GeneralName{GeneralName::Type::dns, value};
  if (type == "ip") return GeneralName{GeneralName::Type::ip, value};
  if (type == "uri") return GeneralName{GeneralName::Type::uri, value};
  if (type == "email") return GeneralName{GeneralName::Type::email, value};
  return bad("unknown identifier type: " + std::string(text));
}

Result<Bytes> ip_to_bytes(std::string_view text) {
  const std::string s(text);
  std::uint8_t buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return Bytes(buf, buf + 4);
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return Bytes(buf, buf + 16);
  return make_error(Errc::invalid_argument, "invalid IP address '" + s + "'");
}

Result<std::string> ip_from_bytes(ByteView b) {
  char buf[INET6_ADDRSTRLEN];
  if (b.size() == 4 && inet_ntop(AF_INET, b.data(), buf, sizeof buf)) return std::string(buf);
  if (b.size() == 16 && inet_ntop(AF_INET6, b.data(), buf, sizeof buf)) return std::string(buf);
  return bad("bad IP address length");
}

Bytes encode_name(std::string_view common_name, std::string_view organization) {
  return build([&](Writer& w) {
    const auto m = w.begin(tag::kSequence);
    auto rdn = [&](ByteView type, std::string_view value) {
      const auto s = w.begin(tag::kSet);
      const auto a = w.begin(tag::kSequence);
      w.oid(type);
      w.string(tag::kUtf8String, value);
      w.end(a);
      w.end(s);
    };
    if (!organization.empty()) rdn(oid::organization, organization);
    if (!common_name.empty()) rdn(oid::common_name, common_name);
    w.end(m);
  });
}

namespace {
// Calls f(type_oid, value_tlv) for every attribute, in encoded order.
template <class F>
Status for_each_attribute(ByteView name_der, F&& f) {
  SIGIL_TRY(Tlv seq, der::read_single(name_der, tag::kSequence));
  Reader rdns(seq.contents);
  while (!rdns.empty()) {
    SIGIL_TRY(Tlv set, rdns.expect(tag::kSet));
    Reader atvs(set.contents);
    if (atvs.empty()) return bad("empty RDN");
    while (!atvs.empty()) {
      SIGIL_TRY(Tlv atv, atvs.expect(tag::kSequence));
      Reader ar(atv.contents);
      SIGIL_TRY(Tlv type, ar.expect(tag::kOid));
      SIGIL_TRY(Tlv value, ar.next());
      if (!ar.empty()) return bad("bad AttributeTypeAndValue");
      f(type.contents, value);
    }
  }
  return {};
}
bool is_string_tag(std::uint8_t t) {
  return t == tag::kUtf8String || t == tag::kPrintableString || t == tag::kIa5String || t == 0x14 /*T61*/;
}
}  // namespace

Result<std::string> name_to_string(ByteView name_der) {
  std::vector<std::string> parts;
  SIGIL_TRY_STATUS(for_each_attribute(name_der, [&](ByteView type, const Tlv& v) {
    struct Short {
      ByteView oid;
      const char* name;
    };
    const Short shorts[] = {{oid::common_name, "CN"},
                            {oid::organization, "O"},
                            {oid::organizational_unit, "OU"},
                            {oid::country, "C"},
                            {oid::locality, "L"},
                            {oid::state, "ST"},
                            {oid::serial_number, "serialNumber"},
                            {oid::email_address, "emailAddress"}};
    std::string key = der::oid_to_string(type);
    for (const Short& s : shorts)
      if (oid::equal(type, s.oid)) key = s.name;
    std::string value;
    if (is_string_tag(v.tag)) {
      for (char c : bytes_sv(v.contents)) {
        if (c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' || c == '=')
          value += '\\';
        value += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
      }
    } else {
      value = "#" + to_hex(v.whole);
    }
    parts.push_back(key + "=" + value);
  }));
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += (out.empty() ? "" : ",") + *it;
  return out;
}

Result<std::optional<std::string>> name_common_name(ByteView name_der) {
  std::optional<std::string> cn;
  int count = 0;
  bool bad_type = false;
  SIGIL_TRY_STATUS(for_each_attribute(name_der, [&](ByteView type, const Tlv& v) {
    if (!oid::equal(type, oid::common_name)) return;
    ++count;
    if (!is_string_tag(v.tag)) bad_type = true;
    cn = bytes_sv(v.contents);
  }));
  if (count > 1) return make_error(Errc::bad_csr, "more than one common name");
  if (bad_type) return make_error(Errc::bad_csr, "common name is not a string");
  return cn;
}

bool name_is_empty(ByteView name_der) {
  auto seq = der::read_single(name_der, tag::kSequence);
  return seq && seq->contents.empty();
}

ByteView eku_oid(Eku e) {
  switch (e) {
    case Eku::server_auth:
      return oid::kp_server_auth;
    case Eku::client_auth:
      return oid::kp_client_auth;
    case Eku::ocsp_signing:
      return oid::kp_ocsp_signing;
  }
  return {};
}

Result<Bytes> encode_tbs(const CertificateSpec& s) {
  if (s.serial.empty() || s.serial.size() > 20 || (s.serial[0] & 0x80))
    return make_error(Errc::internal, "serial must be positive and at most 20 octets");
  for (const auto& n : s.sans)
    if (n.type == GeneralName::Type::ip && !ip_to_bytes(n.value))
      return make_error(Errc::invalid_argument, "invalid IP address '" + n.value + "'");
  Writer w;
  const auto tbs = w.begin(tag::kSequence);
  {
    const auto v = w.begin(tag::context_constructed(0));
    w.small_integer(2);  // v3
    w.end(v);
  }
  w.unsigned_integer(s.serial);
  w.raw(algorithm_identifier(s.signature));
  w.raw(s.issuer);
  {
    const auto v = w.begin(tag::kSequence);
    w.time(s.not_before);
    w.time(s.not_after);
    w.end(v);
  }
  w.raw(s.subject);
  w.raw(s.spki);
  const auto exts_wrap = w.begin(tag::context_constructed(3));
  const auto exts = w.begin(tag::kSequence);

  write_extension(w, oid::basic_constraints, true, build([&](Writer& x) {
                    const auto m = x.begin(tag::kSequence);
                    if (s.is_ca) {
                      x.boolean(true);
                      if (s.path_len) x.small_integer(*s.path_len);
                    }
                    x.end(m);
                  }));
  write_extension(w, oid::key_usage, true, build([&](Writer& x) { x.named_bits(s.key_usage, 8); }));
  if (!s.ext_key_usage.empty()) {
    write_extension(w, oid::ext_key_usage, false, build([&](Writer& x) {
                      const auto m = x.begin(tag::kSequence);
                      for (Eku e : s.ext_key_usage) x.oid(eku_oid(e));
                      x.end(m);
                    }));
  }
  write_extension(w, oid::subject_key_identifier, false, build([&](Writer& x) { x.octet_string(s.subject_key_id); }));
  if (!s.authority_key_id.empty()) {
    write_extension(w, oid::authority_key_identifier, false, build([&](Writer& x) {
                      const auto m = x.begin(tag::kSequence);
                      x.tlv(tag::context(0), s.authority_key_id);
                      x.end(m);
                    }));
  }
  if (!s.sans.empty()) {
    write_extension(w, oid::subject_alt_name, name_is_empty(s.subject), build([&](Writer& x) {
                      const auto m = x.begin(tag::kSequence);
                      for (const auto& n : s.sans) write_general_name(x, n);
                      x.end(m);
                    }));
  }
  if (!s.crl_urls.empty()) write_extension(w, oid::crl_distribution_points, false, distribution_points(s.crl_urls));
  if (!s.freshest_crl_urls.empty())
    write_extension(w, oid::freshest_crl, false, distribution_points(s.freshest_crl_urls));
  if (!s.ocsp_urls.empty() || !s.ca_issuer_urls.empty()) {
    write_extension(w, oid::authority_info_access, false, build([&](Writer& x) {
                      const auto m = x.begin(tag::kSequence);
                      for (const auto& url : s.ocsp_urls) write_access_description(x, oid::ad_ocsp, url);
                      for (const auto& url : s.ca_issuer_urls) write_access_description(x, oid::ad_ca_issuers, url);
                      x.end(m);
                    }));
  }
  if (s.ocsp_no_check) {
    write_extension(w, oid::ocsp_no_check, false, build([](Writer& x) { x.null(); }));
  }
  if (s.name_constraints) {
    SIGIL_TRY(Bytes nc, encode_name_constraints(*s.name_constraints));
    write_extension(w, oid::name_constraints, true, nc);
  }
  w.end(exts);
  w.end(exts_wrap);
  w.end(tbs);
  return w.take();
}

Bytes assemble_signed(ByteView tbs, SignatureAlgorithm alg, ByteView signature) {
  Writer w;
  const auto m = w.begin(tag::kSequence);
  w.raw(tbs);
  w.raw(algorithm_identifier(alg));
  w.bit_string(signature);
  w.end(m);
  return w.take();
}

const Extension* TbsView::find(ByteView o) const {
  for (const auto& e : extensions)
    if (oid::equal(e.oid, o)) return &e;
  return nullptr;
}

namespace {
// Critical certificate extensions a reader of Sigil may meet and accept: what Sigil reads itself
// (acmeIdentifier in the tls-alpn-01 validator) and what OpenSSL's path validation enforces, which
// checks every certificate Sigil trusts (the policy extensions of an outside root or intermediate
// are MUST-be-critical in RFC 5280 §4.2.1.11 and §4.2.1.14).
const ByteView kCertificateExtensions[] = {
    oid::basic_constraints,       oid::key_usage,        oid::ext_key_usage,          oid::subject_alt_name,
    oid::issuer_alt_name,         oid::name_constraints, oid::subject_key_identifier, oid::authority_key_identifier,
    oid::crl_distribution_points, oid::freshest_crl,     oid::authority_info_access,  oid::subject_info_access,
    oid::certificate_policies,    oid::policy_mappings,  oid::policy_constraints,     oid::inhibit_any_policy,
    oid::ocsp_no_check,           oid::acme_identifier};
}  // namespace

Result<TbsView> parse_tbs(ByteView tbs_der) {
  SIGIL_TRY(Tlv seq, der::read_single(tbs_der, tag::kSequence));
  Reader r(seq.contents);
  TbsView t;
  Tlv ver;
  SIGIL_TRY(bool has_version, r.optional(tag::context_constructed(0), ver));
  if (has_version) {
    SIGIL_TRY(Tlv v, der::read_single(ver.contents, tag::kInteger));
    SIGIL_TRY(std::int64_t n, der::read_small_integer(v));
    if (n < 0 || n > 2) return bad("bad certificate version");
    t.version = static_cast<int>(n);
  }
  SIGIL_TRY(Tlv serial, r.expect(tag::kInteger));
  t.serial = serial.contents;
  SIGIL_TRY(Tlv alg, r.expect(tag::kSequence));
  t.signature_alg = alg.whole;
  SIGIL_TRY(Tlv issuer, r.expect(tag::kSequence));
  t.issuer = issuer.whole;
  SIGIL_TRY(Tlv validity, r.expect(tag::kSequence));
  {
    Reader vr(validity.contents);
    SIGIL_TRY(Tlv nb, vr.next());
    SIGIL_TRY(Tlv na, vr.next());
    if (!vr.empty()) return bad("bad validity");
    SIGIL_TRY(t.not_before, der::read_time(nb));
    SIGIL_TRY(t.not_after, der::read_time(na));
  }
  SIGIL_TRY(Tlv subject, r.expect(tag::kSequence));
  t.subject = subject.whole;
  SIGIL_TRY(Tlv spki, r.expect(tag::kSequence));
  t.spki = spki.whole;
  Tlv skip;
  SIGIL_TRY(bool has_iuid, r.optional(tag::context(1), skip));
  SIGIL_TRY(bool has_suid, r.optional(tag::context(2), skip));
  if (has_iuid || has_suid) return bad("unique identifiers are not supported");
  Tlv exts_wrap;
  SIGIL_TRY(bool has_exts, r.optional(tag::context_constructed(3), exts_wrap));
  if (!r.empty()) return bad("trailing data in TBSCertificate");
  if (has_exts) {
    SIGIL_TRY(t.extensions, parse_extensions(exts_wrap.contents, {kCertificateExtensions}));
  }
  return t;
}

Result<Certificate> Certificate::from_der(Bytes der_bytes) {
  Certificate c;
  c.der_ = std::move(der_bytes);
  SIGIL_TRY(Tlv seq, der::read_single(c.der_, tag::kSequence));
  Reader r(seq.contents);
  SIGIL_TRY(Tlv tbs, r.expect(tag::kSequence));
  SIGIL_TRY(Tlv alg, r.expect(tag::kSequence));
  SIGIL_TRY(Tlv sig, r.expect(tag::kBitString));
  if (!r.empty()) return bad("trailing data in certificate");
  c.tbs_der_ = tbs.whole;
  SIGIL_TRY(c.tbs_, parse_tbs(tbs.whole));
  SIGIL_TRY(c.sig_alg_, parse_algorithm_identifier(alg.whole));
  if (!std::equal(alg.whole.begin(), alg.whole.end(), c.tbs_.signature_alg.begin(), c.tbs_.signature_alg.end()))
    return bad("certificate signature algorithms differ");
  SIGIL_TRY(c.signature_, der::read_bit_string_bytes(sig));
  SIGIL_TRY(c.key_, parse_spki(c.tbs_.spki));
  return c;
}

Result<Certificate> Certificate::from_pem(std::string_view pem) {
  SIGIL_TRY(Bytes d, pem_decode_one(pem, "CERTIFICATE"));
  return from_der(std::move(d));
}

std::string Certificate::pem() const { return pem_encode("CERTIFICATE", der_); }

std::string Certificate::serial_hex() const { return to_hex(tbs_.serial); }

std::optional<Bytes> Certificate::subject_key_id() const {
  const Extension* e = tbs_.find(oid::subject_key_identifier);
  if (!e) return std::nullopt;
  auto v = decode_subject_key_id(e->value);
  if (!v) return std::nullopt;
  return *v;
}

bool Certificate::is_ca() const {
  const Extension* e = tbs_.find(oid::basic_constraints);
  if (!e) return false;
  auto bc = decode_basic_constraints(e->value);
  return bc && bc->ca;
}

Result<std::vector<Certificate>> certificates_from_pem(std::string_view pem) {
  SIGIL_TRY(auto blocks, pem_decode_all(pem));
  std::vector<Certificate> out;
  for (auto& b : blocks) {
    if (b.label != "CERTIFICATE") return bad("unexpected PEM block " + b.label);
    SIGIL_TRY(Certificate c, Certificate::from_der(std::move(b.der)));
    out.push_back(std::move(c));
  }
  if (out.empty()) return bad("no certificate found");
  return out;
}

Result<BasicConstraints> decode_basic_constraints(ByteView v) {
  SIGIL_TRY(Tlv seq, der::read_single(v, tag::kSequence));
  Reader r(seq.contents);
  BasicConstraints bc;
  Tlv t;
  SIGIL_TRY(bool has_ca, r.optional(tag::kBoolean, t));
  if (has_ca) {
    SIGIL_TRY(bc.ca, der::read_boolean(t));
    if (!bc.ca) return bad("DER forbids an explicit cA FALSE");
  }
  SIGIL_TRY(bool has_len, r.optional(tag::kInteger, t));
  if (has_len) {
    SIGIL_TRY(std::int64_t n, der::read_small_integer(t));
    if (n < 0) return bad("negative pathLenConstraint");
    bc.path_len = n;
  }
  if (!r.empty()) return bad("bad basicConstraints");
  return bc;
}

Result<std::uint32_t> decode_key_usage(ByteView v) {
  SIGIL_TRY(Tlv t, der::read_single(v, tag::kBitString));
  return der::read_named_bits(t);
}

Result<std::vector<Bytes>> decode_ext_key_usage(ByteView v) {
  SIGIL_TRY(Tlv seq, der::read_single(v, tag::kSequence));
  Reader r(seq.contents);
  std::vector<Bytes> out;
  while (!r.empty()) {
    SIGIL_TRY(Tlv o, r.expect(tag::kOid));
    out.emplace_back(o.contents.begin(), o.contents.end());
  }
  if (out.empty()) return bad("empty extendedKeyUsage");
  return out;
}

Result<std::vector<GeneralName>> decode_general_names(ByteView v) {
  SIGIL_TRY(Tlv seq, der::read_single(v, tag::kSequence));
  Reader r(seq.contents);
  std::vector<GeneralName> out;
  while (!r.empty()) {
    SIGIL_TRY(Tlv n, r.next());
    GeneralName g;
    if (n.tag == tag::context(kGnDns))
      g.type = GeneralName::Type::dns;
    else if (n.tag == tag::context(kGnEmail))
      g.type = GeneralName::Type::email;
    else if (n.tag == tag::context(kGnUri))
      g.type = GeneralName::Type::uri;
    else if (n.tag == tag::context(kGnIp))
      g.type = GeneralName::Type::ip;
    else
      return make_error(Errc::bad_csr, "unsupported subjectAltName form (tag " + std::to_string(n.tag) + ")");
    if (g.type == GeneralName::Type::ip) {
      SIGIL_TRY(g.value, ip_from_bytes(n.contents));
    } else {
      g.value = bytes_sv(n.contents);
      if (!ascii_printable(g.value)) return make_error(Errc::bad_csr, "subjectAltName is not printable ASCII");
    }
    out.push_back(std::move(g));
  }
  if (out.empty()) return bad("empty subjectAltName");
  return out;
}

Result<Bytes> decode_subject_key_id(ByteView v) {
  SIGIL_TRY(Tlv o, der::read_single(v, tag::kOctetString));
  return Bytes(o.contents.begin(), o.contents.end());
}

Result<Bytes> decode_authority_key_id(ByteView v) {
  SIGIL_TRY(Tlv seq, der::read_single(v, tag::kSequence));
  Reader r(seq.contents);
  Tlv id;
  SIGIL_TRY(bool has_id, r.optional(tag::context(0), id));
  if (!has_id) return bad("authorityKeyIdentifier without keyIdentifier");
  return Bytes(id.contents.begin(), id.contents.end());
}

Result<std::vector<std::string>> decode_distribution_point_urls(ByteView v) {
  SIGIL_TRY(Tlv seq, der::read_single(v, tag::kSequence));
  Reader r(seq.contents);
  std::vector<std::string> out;
  if (r.empty()) return bad("empty distribution points");
  while (!r.empty()) {
    SIGIL_TRY(Tlv dp, r.expect(tag::kSequence));
    Reader dr(dp.contents);
    Tlv dpn;
    SIGIL_TRY(bool has_name, dr.optional(tag::context_constructed(0), dpn));
    if (!has_name) return bad("distribution point without a name");
    SIGIL_TRY(std::vector<std::string> urls, full_name_urls(dpn));
    out.insert(out.end(), urls.begin(), urls.end());
  }
  return out;
}

Result<IssuingDistributionPoint> decode_issuing_distribution_point(ByteView v) {
  SIGIL_TRY(Tlv seq, der::read_single(v, tag::kSequence));
  Reader r(seq.contents);
  IssuingDistributionPoint idp;
  Tlv t;
  SIGIL_TRY(bool has_dp, r.optional(tag::context_constructed(0), t));
  if (has_dp) {
    SIGIL_TRY(idp.urls, full_name_urls(t));
  }
  // [1], [2], [4], [5]: IMPLICIT BOOLEAN DEFAULT FALSE, so DER has them only when TRUE.
  auto flag = [&](unsigned n, bool& out) -> Status {
    SIGIL_TRY(bool present, r.optional(tag::context(n), t));
    if (!present) return {};
    if (t.contents.size() != 1 || t.contents[0] != 0xff) return bad("issuingDistributionPoint: bad BOOLEAN");
    out = true;
    return {};
  };
  SIGIL_TRY_STATUS(flag(1, idp.only_user_certs));
  SIGIL_TRY_STATUS(flag(2, idp.only_ca_certs));
  SIGIL_TRY(idp.only_some_reasons, r.optional(tag::context(3), t));
  SIGIL_TRY_STATUS(flag(4, idp.indirect_crl));
  SIGIL_TRY_STATUS(flag(5, idp.only_attribute_certs));
  if (!r.empty()) return bad("issuingDistributionPoint: trailing fields");
  return idp;
}

Result<NameConstraints> decode_name_constraints(ByteView v) {
  SIGIL_TRY(Tlv seq, der::read_single(v, tag::kSequence));
  Reader r(seq.contents);
  NameConstraints nc;
  auto subtrees = [](ByteView contents, std::vector<GeneralName>& out) -> Status {
    Reader sr(contents);
    while (!sr.empty()) {
      SIGIL_TRY(Tlv st, sr.expect(tag::kSequence));
      Reader gr(st.contents);
      SIGIL_TRY(Tlv base, gr.next());  // minimum/maximum (rarely used) are ignored
      GeneralName g;
      if (base.tag == tag::context(kGnDns)) {
        g = {GeneralName::Type::dns, bytes_sv(base.contents)};
      } else if (base.tag == tag::context(kGnEmail)) {
        g = {GeneralName::Type::email, bytes_sv(base.contents)};
      } else if (base.tag == tag::context(kGnUri)) {
        g = {GeneralName::Type::uri, bytes_sv(base.contents)};
      } else if (base.tag == tag::context(kGnIp)) {
        const std::size_t half = base.contents.size() / 2;
        if (half != 4 && half != 16) return bad("bad iPAddress constraint");
        SIGIL_TRY(std::string addr, ip_from_bytes(base.contents.subspan(0, half)));
        int prefix = 0;
        for (std::uint8_t b : base.contents.subspan(half))
          for (int i = 7; i >= 0; --i) prefix += (b >> i) & 1;
        g = {GeneralName::Type::ip, addr + "/" + std::to_string(prefix)};
      } else {
        continue;  // directoryName and others: not applicable to the names Sigil issues
      }
      out.push_back(std::move(g));
    }
    return {};
  };
  Tlv t;
  SIGIL_TRY(bool has_p, r.optional(tag::context_constructed(0), t));
  if (has_p) SIGIL_TRY_STATUS(subtrees(t.contents, nc.permitted));
  SIGIL_TRY(bool has_e, r.optional(tag::context_constructed(1), t));
  if (has_e) SIGIL_TRY_STATUS(subtrees(t.contents, nc.excluded));
  if (!r.empty()) return bad("bad nameConstraints");
  return nc;
}

namespace {
// Requested extensions Sigil may see marked critical: the SAN it reads, and those every profile
// sets itself (a client asking for them critical gets the profile's choice, as for any request).
const ByteView kRequestedExtensions[] = {oid::subject_alt_name, oid::basic_constraints, oid::key_usage,
                                         oid::ext_key_usage, oid::subject_key_identifier};
}  // namespace

Result<Csr> Csr::from_der(Bytes der_bytes) {
  Csr c;
  c.der_ = std::move(der_bytes);
  auto fail = [](const Error& e) { return make_error(Errc::bad_csr, "CSR: " + e.detail); };
  auto seq = der::read_single(c.der_, tag::kSequence);
  if (!seq) return fail(seq.error());
  Reader r(seq->contents);
  auto info = r.expect(tag::kSequence);
  auto alg = info ? r.expect(tag::kSequence) : Result<Tlv>(info.error());
  auto sig = alg ? r.expect(tag::kBitString) : Result<Tlv>(alg.error());
  if (!sig) return fail(sig.error());
  if (!r.empty()) return make_error(Errc::bad_csr, "CSR: trailing data");
  c.info_ = info->whole;
  auto sig_alg = parse_algorithm_identifier(alg->whole);
  if (!sig_alg) return fail(sig_alg.error());
  c.sig_alg_ = *sig_alg;
  auto sig_bytes = der::read_bit_string_bytes(*sig);
  if (!sig_bytes) return fail(sig_bytes.error());
  c.signature_ = *sig_bytes;

  Reader ir(info->contents);
  auto version = ir.expect(tag::kInteger);
  if (!version) return fail(version.error());
  auto v = der::read_small_integer(*version);
  if (!v || *v != 0) return make_error(Errc::bad_csr, "CSR: version must be 1 (0)");
  auto subject = ir.expect(tag::kSequence);
  if (!subject) return fail(subject.error());
  c.subject_ = subject->whole;
  auto spki = ir.expect(tag::kSequence);
  if (!spki) return fail(spki.error());
  auto key = parse_spki(spki->whole);
  if (!key) {
    if (key.error().code == Errc::bad_public_key) return key.error();
    return fail(key.error());
  }
  c.key_ = std::move(*key);
  if (!signature_fits_key(c.sig_alg_, c.key_.algorithm))
    return make_error(Errc::bad_csr, "CSR: signature algorithm does not match the key");
  auto cn = name_common_name(c.subject_);
  if (!cn) return fail(cn.error());
  c.common_name_ = *cn;

  Tlv attrs;
  auto has_attrs = ir.optional(tag::context_constructed(0), attrs);
  if (!has_attrs) return fail(has_attrs.error());
  if (!ir.empty()) return make_error(Errc::bad_csr, "CSR: trailing data in request info");
  if (*has_attrs) {
    Reader ar(attrs.contents);
    bool seen_ext = false;
    while (!ar.empty()) {
      auto attr = ar.expect(tag::kSequence);
      if (!attr) return fail(attr.error());
      Reader at(attr->contents);
      auto type = at.expect(tag::kOid);
      auto values = type ? at.expect(tag::kSet) : Result<Tlv>(type.error());
      if (!values || !at.empty()) return make_error(Errc::bad_csr, "CSR: bad attribute");
      if (!oid::equal(type->contents, oid::extension_request)) continue;  // e.g. challengePassword
      if (seen_ext) return make_error(Errc::bad_csr, "CSR: more than one extensionRequest");
      seen_ext = true;
      auto exts = parse_extensions(values->contents, {kRequestedExtensions, /*allow_empty=*/true});
      if (!exts) return fail(exts.error());
      for (const Extension& e : *exts) {
        // Only the SAN is taken from a request; the profile decides every other extension.
        if (!oid::equal(e.oid, oid::subject_alt_name)) continue;
        auto names = decode_general_names(e.value);
        if (!names) return make_error(Errc::bad_csr, "CSR: " + names.error().detail);
        c.sans_ = std::move(*names);
      }
    }
  }
  return c;
}

Result<Csr> Csr::from_pem_or_der(std::string_view bytes) {
  if (bytes.find("-----BEGIN") != std::string_view::npos) {
    auto blocks = pem_decode_all(bytes);
    if (!blocks) return make_error(Errc::bad_csr, "CSR: " + blocks.error().detail);
    if (blocks->size() != 1 ||
        ((*blocks)[0].label != "CERTIFICATE REQUEST" && (*blocks)[0].label != "NEW CERTIFICATE REQUEST"))
      return make_error(Errc::bad_csr, "CSR: expected exactly one CERTIFICATE REQUEST PEM block");
    return from_der(std::move((*blocks)[0].der));
  }
  return from_der(Bytes(bytes.begin(), bytes.end()));
}

Bytes encode_csr_info(ByteView subject_name, ByteView spki, const std::vector<GeneralName>& sans) {
  Writer w;
  const auto m = w.begin(tag::kSequence);
  w.small_integer(0);
  w.raw(subject_name);
  w.raw(spki);
  const auto attrs = w.begin(tag::context_constructed(0));
  if (!sans.empty()) {
    const auto attr = w.begin(tag::kSequence);
    w.oid(oid::extension_request);
    const auto set = w.begin(tag::kSet);
    const auto exts = w.begin(tag::kSequence);
    write_extension(w, oid::subject_alt_name, false, build([&](Writer& x) {
                      const auto s = x.begin(tag::kSequence);
                      for (const auto& n : sans) write_general_name(x, n);
                      x.end(s);
                    }));
    w.end(exts);
    w.end(set);
    w.end(attr);
  }
  w.end(attrs);
  w.end(m);
  return w.take();
}

CrlWriter::CrlWriter(const CrlSpec& header, std::size_t expected_entries) : header_(header) {
  header_.revoked.clear();
  // A delta CRL points at no further delta (RFC 5280 §5.2.6).
  assert(!header_.base_crl_number || header_.freshest_crl_urls.empty());
  std::size_t urls = header_.idp_url.size();
  for (const auto& u : header_.freshest_crl_urls) urls += u.size() + 16;
  // ~50 octets per entry (SEQUENCE, 17-octet INTEGER, UTCTime, reason extension) + the rest.
  w_.reserve(expected_entries * 52 + header_.issuer.size() * 2 + urls + 512);
  outer_ = w_.begin(tag::kSequence);
  tbs_start_ = w_.size();
  tbs_ = w_.begin(tag::kSequence);
  w_.small_integer(1);  // v2
  w_.raw(algorithm_identifier(header_.signature));
  w_.raw(header_.issuer);
  w_.time(header_.this_update);
  w_.time(header_.next_update);
  list_begin_ = w_.size();
  list_ = w_.begin(tag::kSequence);
}

void CrlWriter::add(ByteView serial, TimePoint revoked_at, int reason) {
  const auto entry = w_.begin(tag::kSequence);
  w_.unsigned_integer(serial);
  w_.time(revoked_at);
  if (reason != 0) {
    // crlEntryExtensions { { reasonCode, OCTET STRING { ENUMERATED reason } } }, constant per code.
    const std::uint8_t ext[] = {0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55,
                                0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01, static_cast<std::uint8_t>(reason)};
    w_.raw(ext);
  }
  w_.end(entry);
  ++count_;
}

ByteView CrlWriter::tbs() {
  if (!tbs_closed_) {
    // RFC 5280 §5.1.2.6: with no entries, the list is absent, not empty.
    if (count_ == 0)
      w_.truncate(list_begin_);
    else
      w_.end(list_);
    const auto wrap = w_.begin(tag::context_constructed(0));
    const auto exts = w_.begin(tag::kSequence);
    write_extension(w_, oid::authority_key_identifier, false, build([&](Writer& x) {
                      const auto a = x.begin(tag::kSequence);
                      x.tlv(tag::context(0), header_.authority_key_id);
                      x.end(a);
                    }));
    write_extension(w_, oid::crl_number, false, build([&](Writer& x) { x.small_integer(header_.crl_number); }));
    if (header_.base_crl_number) {
      write_extension(w_, oid::delta_crl_indicator, true,
                      build([&](Writer& x) { x.small_integer(*header_.base_crl_number); }));
    }
    if (!header_.idp_url.empty()) {
      write_extension(w_, oid::issuing_distribution_point, true,
                      issuing_distribution_point(header_.idp_url, header_.idp_only_user_certs));
    }
    if (!header_.freshest_crl_urls.empty())
      write_extension(w_, oid::freshest_crl, false, distribution_points(header_.freshest_crl_urls));
    w_.end(exts);
    w_.end(wrap);
    w_.end(tbs_);
    tbs_closed_ = true;
  }
  return ByteView(w_.bytes()).subspan(tbs_start_);
}

Bytes CrlWriter::finish(ByteView signature) {
  tbs();
  w_.raw(algorithm_identifier(header_.signature));
  w_.bit_string(signature);
  w_.end(outer_);
  return w_.take();
}

namespace {
// RFC 5280 §5.2: the CRL extensions defined there, which this summary reads or may pass over.
// Entry extensions (§5.3) are not walked: the summary counts entries and reads none of them.
const ByteView kCrlExtensions[] = {
    oid::authority_key_identifier,   oid::issuer_alt_name, oid::crl_number,           oid::delta_crl_indicator,
    oid::issuing_distribution_point, oid::freshest_crl,    oid::authority_info_access};
}  // namespace

Result<CrlSummary> parse_crl_summary(ByteView der) {
  SIGIL_TRY(Tlv outer, der::read_single(der, tag::kSequence));
  Reader r(outer.contents);
  SIGIL_TRY(Tlv tbs, r.expect(tag::kSequence));
  Reader t(tbs.contents);
  Tlv skip;
  SIGIL_TRY(bool has_version, t.optional(tag::kInteger, skip));
  (void)has_version;
  SIGIL_TRY(skip, t.expect(tag::kSequence));  // signature algorithm
  SIGIL_TRY(skip, t.expect(tag::kSequence));  // issuer
  CrlSummary out;
  SIGIL_TRY(Tlv this_update, t.next());
  SIGIL_TRY(out.this_update, der::read_time(this_update));
  SIGIL_TRY(Tlv next_update, t.next());
  SIGIL_TRY(out.next_update, der::read_time(next_update));
  Tlv list;
  SIGIL_TRY(bool has_list, t.optional(tag::kSequence, list));
  if (has_list) {
    Reader entries(list.contents);
    while (!entries.empty()) {
      SIGIL_TRY(skip, entries.expect(tag::kSequence));
      ++out.entries;
    }
  }
  Tlv exts_wrap;
  SIGIL_TRY(bool has_exts, t.optional(tag::context_constructed(0), exts_wrap));
  if (has_exts) {
    auto exts = parse_extensions(exts_wrap.contents, {kCrlExtensions});
    if (!exts) return exts.error().context("CRL");
    for (const Extension& e : *exts) {
      if (oid::equal(e.oid, oid::crl_number)) {
        SIGIL_TRY(Tlv n, der::read_single(e.value, tag::kInteger));
        SIGIL_TRY(out.number, der::read_small_integer(n));
      } else if (oid::equal(e.oid, oid::delta_crl_indicator)) {
        SIGIL_TRY(Tlv n, der::read_single(e.value, tag::kInteger));
        SIGIL_TRY(out.base_number, der::read_small_integer(n));
        out.delta_indicator_critical = e.critical;
      } else if (oid::equal(e.oid, oid::issuing_distribution_point)) {
        SIGIL_TRY(out.idp, decode_issuing_distribution_point(e.value));
        out.idp_critical = e.critical;
      } else if (oid::equal(e.oid, oid::freshest_crl)) {
        SIGIL_TRY(out.freshest_crl_urls, decode_distribution_point_urls(e.value));
      }
    }
  }
  return out;
}

Bytes encode_tbs_crl(const CrlSpec& s) {
  CrlWriter w(s, s.revoked.size());
  for (const auto& e : s.revoked) w.add(e.serial, e.revoked_at, e.reason.value_or(0));
  const ByteView tbs = w.tbs();
  return Bytes(tbs.begin(), tbs.end());
}

}  // namespace sigil::crypto
