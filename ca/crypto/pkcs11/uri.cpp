// RFC 7512 PKCS#11 URIs: parsing (strict: unknown or repeated attributes are refused) and the
// canonical form Sigil stores (without pin-value).
#include <algorithm>
#include <cctype>
#include <charconv>

#include "ca/base/encoding.hpp"
#include "ca/crypto/pkcs11.hpp"

namespace sigil::crypto::pkcs11 {
namespace {

// RFC 3986 percent-decoding. `name` is the attribute, for the error (never its value: it may be a PIN).
Result<std::string> percent_decode(std::string_view in, std::string_view name) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size())
      return make_error(Errc::invalid_argument, "PKCS#11 URI: bad percent-encoding in '" + std::string(name) + "'");
    auto byte = from_hex(in.substr(i + 1, 2));
    if (!byte)
      return make_error(Errc::invalid_argument, "PKCS#11 URI: bad percent-encoding in '" + std::string(name) + "'");
    out += static_cast<char>(byte->front());
    i += 2;
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  if (s.empty()) return parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t at = s.find(sep, start);
    parts.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return parts;
}

Status set_once(std::optional<std::string>& slot, std::string value, std::string_view name) {
  if (slot) return make_error(Errc::invalid_argument, "PKCS#11 URI: '" + std::string(name) + "' given twice");
  slot = std::move(value);
  return {};
}

Status set_path_attribute(Uri& u, std::string_view name, std::string value) {
  if (name == "token") return set_once(u.token, std::move(value), name);
  if (name == "manufacturer") return set_once(u.manufacturer, std::move(value), name);
  if (name == "serial") return set_once(u.serial, std::move(value), name);
  if (name == "model") return set_once(u.model, std::move(value), name);
  if (name == "object") return set_once(u.object, std::move(value), name);
  if (name == "slot-description") return set_once(u.slot_description, std::move(value), name);
  if (name == "slot-manufacturer") return set_once(u.slot_manufacturer, std::move(value), name);
  if (name == "library-manufacturer") return set_once(u.library_manufacturer, std::move(value), name);
  if (name == "library-description") return set_once(u.library_description, std::move(value), name);
  if (name == "library-version") return set_once(u.library_version, std::move(value), name);
  if (name == "type") {
    static constexpr std::string_view kTypes[] = {"private", "public", "cert", "secret-key", "data"};
    if (std::find(std::begin(kTypes), std::end(kTypes), value) == std::end(kTypes))
      return make_error(Errc::invalid_argument, "PKCS#11 URI: unknown type (private, public, cert, secret-key, data)");
    return set_once(u.type, std::move(value), name);
  }
  if (name == "id") {
    if (u.id) return make_error(Errc::invalid_argument, "PKCS#11 URI: 'id' given twice");
    u.id = Bytes(value.begin(), value.end());
    return {};
  }
  if (name == "slot-id") {
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc{} || end != value.data() + value.size() || value.empty())
      return make_error(Errc::invalid_argument, "PKCS#11 URI: slot-id must be a decimal number");
    if (u.slot_id) return make_error(Errc::invalid_argument, "PKCS#11 URI: 'slot-id' given twice");
    u.slot_id = n;
    return {};
  }
  return make_error(Errc::invalid_argument, "PKCS#11 URI: unknown attribute '" + std::string(name) + "'");
}

Status set_query_attribute(Uri& u, std::string_view name, std::string value) {
  auto once = [&](std::string& slot) -> Status {
    if (!slot.empty())
      return make_error(Errc::invalid_argument, "PKCS#11 URI: '" + std::string(name) + "' given twice");
    if (value.empty()) return make_error(Errc::invalid_argument, "PKCS#11 URI: '" + std::string(name) + "' is empty");
    slot = std::move(value);
    return {};
  };
  if (name == "module-path") return once(u.module_path);
  if (name == "module-name") return once(u.module_name);
  if (name == "pin-source") return once(u.pin_source);
  if (name == "pin-value") {
    if (u.pin_value) return make_error(Errc::invalid_argument, "PKCS#11 URI: 'pin-value' given twice");
    u.pin_value = std::move(value);
    return {};
  }
  return make_error(Errc::invalid_argument, "PKCS#11 URI: unknown query attribute '" + std::string(name) + "'");
}

void append(std::string& out, char& sep, std::string_view name, const std::optional<std::string>& v, bool slash) {
  if (!v) return;
  if (sep) out += sep;
  out += name;
  out += '=';
  out += percent_encode(*v, slash ? "/" : "");
  sep = ';';
}

}  // namespace

bool is_uri(std::string_view text) {
  if (text.size() < kScheme.size()) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != kScheme[i]) return false;
  return true;
}

Result<Uri> parse_uri(std::string_view text) {
  if (!is_uri(text)) return make_error(Errc::invalid_argument, "not a PKCS#11 URI (it must begin with 'pkcs11:')");
  std::string_view rest = text.substr(kScheme.size());
  std::string_view query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (rest.find('#') != std::string_view::npos || query.find('#') != std::string_view::npos)
    return make_error(Errc::invalid_argument, "PKCS#11 URI: a fragment ('#') is not allowed");
  Uri u;
  for (std::string_view part : split(rest, ';')) {
    const auto eq = part.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return make_error(Errc::invalid_argument,
                        "PKCS#11 URI: a path attribute without '=' (name=value;name=value?query)");
    const std::string_view name = part.substr(0, eq);
    // A query written without its '?' ("object=k&pin-value=1234") would put the PIN into a label
    // that is printed and stored: refused.
    if (part.find('&') != std::string_view::npos || part.find("pin-") != std::string_view::npos)
      return make_error(Errc::invalid_argument, "PKCS#11 URI: path attribute '" + std::string(name) +
                                                    "' holds '&' or 'pin-': the query part starts with '?'");
    SIGIL_TRY(std::string value, percent_decode(part.substr(eq + 1), name));
    SIGIL_TRY_STATUS(set_path_attribute(u, name, std::move(value)));
  }
  for (std::string_view part : split(query, '&')) {
    const auto eq = part.find('=');
    // The part is not echoed: it may be "pin-value<something>".
    if (eq == std::string_view::npos || eq == 0)
      return make_error(Errc::invalid_argument, "PKCS#11 URI: query attribute without '='");
    const std::string_view name = part.substr(0, eq);
    SIGIL_TRY(std::string value, percent_decode(part.substr(eq + 1), name));
    SIGIL_TRY_STATUS(set_query_attribute(u, name, std::move(value)));
  }
  if (!u.module_path.empty() && !u.module_name.empty())
    return make_error(Errc::invalid_argument, "PKCS#11 URI: give module-path or module-name, not both");
  if (!u.pin_source.empty() && u.pin_value)
    return make_error(Errc::invalid_argument, "PKCS#11 URI: give pin-source or pin-value, not both");
  return u;
}

std::string Uri::to_string() const {
  std::string out(kScheme);
  char sep = 0;
  append(out, sep, "token", token, false);
  append(out, sep, "manufacturer", manufacturer, false);
  append(out, sep, "serial", serial, false);
  append(out, sep, "model", model, false);
  append(out, sep, "library-manufacturer", library_manufacturer, false);
  append(out, sep, "library-description", library_description, false);
  append(out, sep, "library-version", library_version, false);
  append(out, sep, "slot-description", slot_description, false);
  append(out, sep, "slot-manufacturer", slot_manufacturer, false);
  if (slot_id) append(out, sep, "slot-id", std::to_string(*slot_id), false);
  append(out, sep, "object", object, false);
  if (id) append(out, sep, "id", std::string(id->begin(), id->end()), false);
  append(out, sep, "type", type, false);
  std::string query;
  auto add = [&](std::string_view name, const std::string& v) {
    if (v.empty()) return;
    query += query.empty() ? '?' : '&';
    query += name;
    query += '=';
    query += percent_encode(v, "/");
  };
  add("module-path", module_path);
  add("module-name", module_name);
  add("pin-source", pin_source);
  return out + query;
}

}  // namespace sigil::crypto::pkcs11
