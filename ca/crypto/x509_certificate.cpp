#include "ca/crypto/x509.hpp"

#include <algorithm>

#include "ca/base/encoding.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/crypto/x509_internal.hpp"

namespace sigil::crypto {

using namespace detail;

namespace {

void write_access_description(Writer& w, ByteView method, const std::string& url) {
  const auto m = w.begin(tag::kSequence);
  w.oid(method);
  w.string(tag::context(kGnUri), url);
  w.end(m);
}

}  // namespace

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

}  // namespace sigil::crypto
