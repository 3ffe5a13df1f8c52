#include "ca/crypto/x509.hpp"

#include <arpa/inet.h>

#include "ca/base/encoding.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/crypto/x509_internal.hpp"

namespace sigil::crypto {

using namespace detail;

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

}  // namespace sigil::crypto
