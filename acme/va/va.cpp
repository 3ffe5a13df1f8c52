// The validation authority: configuration, task checks, address selection and the thread pool.
// The challenge types live in http01.cpp, dns01.cpp and tlsalpn01.cpp; DNS in dns.cpp.
#include "acme/va/va.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "acme/va/va_internal.hpp"
#include "ca/base/log.hpp"

namespace sigil::acme::va {
namespace internal {

// ---------------------------------------------------------------- addresses and names

std::optional<Bytes> ip_bytes(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string s(text);
  Bytes b(16);
  if (inet_pton(AF_INET, s.c_str(), b.data()) == 1) {
    b.resize(4);
    return b;
  }
  if (inet_pton(AF_INET6, s.c_str(), b.data()) == 1) return b;
  return std::nullopt;
}

std::string ip_text(const Bytes& ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  const int family = ip.size() == 4 ? AF_INET : AF_INET6;
  if (inet_ntop(family, ip.data(), buf, sizeof buf) == nullptr) return "?";
  return buf;
}

std::string reverse_name(const Bytes& ip) {
  std::string out;
  if (ip.size() == 4) {
    for (auto it = ip.rbegin(); it != ip.rend(); ++it) out += std::to_string(*it) + ".";
    return out + "in-addr.arpa";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (auto it = ip.rbegin(); it != ip.rend(); ++it) {
    out += kHex[*it & 0x0f];
    out += '.';
    out += kHex[*it >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  std::string_view last;
  while (start <= name.size()) {
    const auto dot = name.find('.', start);
    const auto label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (const char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    last = label;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  // A last label of digits only would read as an IPv4 address: never a host name.
  return !all_digits(last);
}

std::string quote(std::string_view s, std::size_t max) {
  std::string out = "\"";
  std::size_t n = 0;
  for (const char ch : s) {
    if (n++ == max) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + "\"";
}

bool IpRange::contains(const Bytes& ip) const {
  const std::uint8_t* p = ip.data();
  if (network.size() == 4 && ip.size() == 16) {
    // IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address it carries.
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!std::equal(kMapped, kMapped + 12, ip.begin())) return false;
    p += 12;
  } else if (network.size() != ip.size()) {
    return false;
  }
  for (int bit = 0; bit < prefix; ++bit) {
    const auto i = static_cast<std::size_t>(bit / 8);
    const auto mask = static_cast<std::uint8_t>(0x80 >> (bit % 8));
    if ((p[i] & mask) != (network[i] & mask)) return false;
  }
  return true;
}

Result<IpRange> parse_range(std::string_view cidr) {
  IpRange r;
  r.text = std::string(cidr);
  const auto slash = cidr.find('/');
  auto ip = ip_bytes(cidr.substr(0, slash));
  if (!ip) return make_error(Errc::invalid_argument, "forbidden range '" + r.text + "' is not an address or CIDR");
  const int bits = static_cast<int>(ip->size() * 8);
  r.prefix = bits;
  if (slash != std::string_view::npos) {
    const auto len = cidr.substr(slash + 1);
    if (len.size() > 3 || !all_digits(len))
      return make_error(Errc::invalid_argument, "forbidden range '" + r.text + "' has a bad prefix length");
    r.prefix = std::stoi(std::string(len));
    if (r.prefix > bits)
      return make_error(Errc::invalid_argument, "forbidden range '" + r.text + "' has a bad prefix length");
  }
  for (int bit = r.prefix; bit < bits; ++bit)
    (*ip)[static_cast<std::size_t>(bit / 8)] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  r.network = std::move(*ip);
  return r;
}

Result<std::string> parse_resolvers(std::string_view text) {
  std::string csv;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    std::string_view item =
        text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    const auto bad = [&] {
      return make_error(Errc::invalid_argument,
                        "dns_resolver '" + std::string(item) + "' is not IP:PORT, [IPv6]:PORT or an IP address");
    };
    std::string_view host = item, port = "53";
    if (!item.empty() && item.front() == '[') {
      const auto close = item.find(']');
      if (close == std::string_view::npos) return bad();
      host = item.substr(1, close - 1);
      const auto rest = item.substr(close + 1);
      if (!rest.empty()) {
        if (rest.front() != ':') return bad();
        port = rest.substr(1);
      }
      if (!ip_bytes(host) || ip_bytes(host)->size() != 16) return bad();
    } else if (std::count(item.begin(), item.end(), ':') == 1) {
      const auto colon = item.find(':');
      host = item.substr(0, colon);
      port = item.substr(colon + 1);
      if (!ip_bytes(host) || ip_bytes(host)->size() != 4) return bad();
    } else if (!ip_bytes(host)) {
      return bad();
    }
    if (port.size() > 5 || !all_digits(port)) return bad();
    const int p = std::stoi(std::string(port));
    if (p < 1 || p > 65535) return bad();
    const auto ip = *ip_bytes(host);
    if (!csv.empty()) csv += ',';
    csv += (ip.size() == 16 ? "[" + ip_text(ip) + "]" : ip_text(ip)) + ":" + std::to_string(p);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return csv;
}

const IpRange* Settings::forbidden_range(const std::string& ip) const {
  const auto b = ip_bytes(ip);
  if (!b) return nullptr;
  for (const auto& r : forbidden)
    if (r.contains(*b)) return &r;
  return nullptr;
}

Checked<std::vector<std::string>> addresses_to_try(Context& ctx, const std::string& host, bool host_is_ip) {
  Resolver::Addresses found;
  if (host_is_ip) {
    const auto b = ip_bytes(host);
    if (!b) return Problem{"malformed", "invalid IP address " + quote(host)};
    (b->size() == 16 ? found.v6 : found.v4).push_back(ip_text(*b));
  } else {
    auto looked_up = ctx.resolver.addresses(host, ctx.deadline);
    if (!looked_up) return looked_up.problem();
    found = std::move(*looked_up);
  }
  std::vector<std::string> refused;
  const auto keep = [&](std::vector<std::string>& list) {
    std::vector<std::string> kept;
    for (auto& a : list) {
      if (const IpRange* r = ctx.settings.forbidden_range(a))
        refused.push_back(a + " (" + address_class(a) + ", in " + r->text + ")");
      else
        kept.push_back(std::move(a));
    }
    list = std::move(kept);
  };
  keep(found.v6);
  keep(found.v4);
  if (found.v6.empty() && found.v4.empty()) {
    if (refused.empty()) return Problem{"dns", "No valid IP addresses found for " + host};
    std::string list;
    for (const auto& r : refused) list += (list.empty() ? "" : ", ") + r;
    if (host_is_ip) return Problem{"rejectedIdentifier", "The address " + list + " is in a forbidden range"};
    return Problem{"rejectedIdentifier", host + " resolves only to forbidden addresses: " + list};
  }
  std::vector<std::string> order;
  if (!found.v6.empty()) order.push_back(found.v6.front());
  if (!found.v4.empty()) order.push_back(found.v4.front());
  return order;
}

Deadline connect_deadline(Deadline deadline, bool more_after) {
  if (!more_after) return deadline;
  const auto now = SteadyClock::now();
  return deadline <= now ? deadline : now + (deadline - now) / 2;
}

}  // namespace internal

namespace {

// A prefix test on raw address bytes.
bool in_prefix(const Bytes& ip, std::initializer_list<std::uint8_t> network, int prefix) {
  const std::vector<std::uint8_t> net(network);
  for (int bit = 0; bit < prefix; ++bit) {
    const auto i = static_cast<std::size_t>(bit / 8);
    const auto mask = static_cast<std::uint8_t>(0x80 >> (bit % 8));
    if ((ip[i] & mask) != (net[i] & mask)) return false;
  }
  return true;
}

std::string ipv4_class(const Bytes& ip) {
  if (in_prefix(ip, {0}, 8)) return "unspecified";
  if (in_prefix(ip, {127}, 8)) return "loopback";
  if (in_prefix(ip, {10}, 8) || in_prefix(ip, {172, 16}, 12) || in_prefix(ip, {192, 168}, 16)) return "private";
  if (in_prefix(ip, {100, 64}, 10)) return "shared";
  if (in_prefix(ip, {169, 254}, 16)) return "link-local";
  if (in_prefix(ip, {224}, 4)) return "multicast";
  if (in_prefix(ip, {240}, 4)) return "reserved";  // 255.255.255.255, the broadcast address, included
  return "public";
}

}  // namespace

std::string address_class(const std::string& ip) {
  const auto b = internal::ip_bytes(ip);
  if (!b) return "invalid";
  if (b->size() == 4) return ipv4_class(*b);
  if (in_prefix(*b, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96))
    return ipv4_class(Bytes(b->begin() + 12, b->end()));
  if (in_prefix(*b, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 128)) return "unspecified";
  if (in_prefix(*b, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128)) return "loopback";
  if (in_prefix(*b, {0xfe, 0x80}, 10)) return "link-local";
  if (in_prefix(*b, {0xfc}, 7)) return "unique-local";
  if (in_prefix(*b, {0xff}, 8)) return "multicast";
  return "public";
}

namespace {

using namespace internal;

bool is_token(std::string_view t) {
  if (t.empty() || t.size() > 256) return false;
  return std::all_of(t.begin(), t.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; });
}

// The task as the validators may assume it: known types, a syntactically valid identifier
// in canonical form (lower case; an IP address as inet_ntop writes it), a base64url token.
Checked<Task> normalize(const Task& in) {
  Task t = in;
  if (t.challenge_type != "http-01" && t.challenge_type != "dns-01" && t.challenge_type != "tls-alpn-01")
    return Problem{"malformed", "unsupported challenge type " + quote(t.challenge_type)};
  if (t.identifier_type == "dns") {
    t.identifier = lower(t.identifier);
    if (!is_dns_name(t.identifier)) return Problem{"malformed", "invalid DNS identifier " + quote(t.identifier)};
  } else if (t.identifier_type == "ip") {
    const auto ip = ip_bytes(t.identifier);
    if (!ip) return Problem{"malformed", "invalid IP identifier " + quote(t.identifier)};
    t.identifier = ip_text(*ip);
    if (t.challenge_type == "dns-01")
      return Problem{"malformed", "dns-01 cannot validate an IP address identifier (RFC 8738 §7)"};
  } else {
    return Problem{"malformed", "unsupported identifier type " + quote(t.identifier_type)};
  }
  if (!is_token(t.token)) return Problem{"malformed", "the challenge token is not base64url"};
  if (t.key_authorization.size() <= t.token.size() + 1 || t.key_authorization.rfind(t.token + ".", 0) != 0 ||
      !is_token(std::string_view(t.key_authorization).substr(t.token.size() + 1)))
    return Problem{"malformed", "the key authorization does not belong to the token"};
  return t;
}

class ValidatorImpl final : public Validator {
 public:
  explicit ValidatorImpl(Settings settings) : settings_(std::move(settings)) {
    threads_.reserve(static_cast<std::size_t>(settings_.config.max_concurrency));
    for (int i = 0; i < settings_.config.max_concurrency; ++i) threads_.emplace_back([this] { work(); });
  }
  ~ValidatorImpl() override { shutdown(); }

  Outcome validate(const Task& task) override {
    Outcome out;
    try {
      run(task, out);
    } catch (const std::exception& e) {
      log::error("validation failed unexpectedly", {{"error", e.what()}});
      out.valid = false;
      out.error_type = "serverInternal";
      out.detail = "internal error during validation";
    }
    return out;
  }

  Status submit(Task task, std::function<void(Outcome)> done) override {
    std::lock_guard lock(mu_);
    if (stopping_) return make_error(Errc::internal, "the validation authority is shut down");
    const auto capacity = static_cast<std::size_t>(settings_.config.max_concurrency) + settings_.config.max_queue;
    if (unfinished_ >= capacity)
      return make_error(Errc::rate_limited, "too many validations in progress; try again later");
    queue_.push_back(Job{std::move(task), std::move(done)});
    ++unfinished_;
    cv_.notify_one();
    return {};
  }

  void shutdown() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      threads.swap(threads_);
    }
    cv_.notify_all();
    for (auto& t : threads) {
      assert(t.get_id() != std::this_thread::get_id() && "shutdown() from a done callback");
      if (t.get_id() == std::this_thread::get_id())
        t.detach();
      else
        t.join();
    }
  }

 private:
  struct Job {
    Task task;
    std::function<void(Outcome)> done;
  };

  void run(const Task& in, Outcome& out) {
    const Deadline deadline = SteadyClock::now() + settings_.config.timeout;
    auto task = normalize(in);
    if (!task) return fail(out, task.problem());
    auto resolver = Resolver::create(settings_.resolvers_csv);
    if (!resolver) {
      log::error("cannot create a DNS resolver", {{"error", resolver.error().detail}});
      return fail(out, Problem{"serverInternal", "the DNS resolver is not available"});
    }
    Context ctx{settings_, **resolver, deadline, out.addresses_tried};
    std::optional<Problem> problem;
    if (task->challenge_type == "http-01")
      problem = validate_http01(ctx, *task);
    else if (task->challenge_type == "dns-01")
      problem = validate_dns01(ctx, *task);
    else
      problem = validate_tlsalpn01(ctx, *task);
    if (problem) return fail(out, *problem);
    out.valid = true;
  }

  static void fail(Outcome& out, const Problem& p) {
    out.valid = false;
    out.error_type = p.type;
    out.detail = p.detail;
  }

  void work() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and nothing left to do
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      Outcome outcome = validate(job.task);
      try {
        if (job.done) job.done(std::move(outcome));
      } catch (const std::exception& e) {
        log::error("validation callback threw", {{"error", e.what()}});
      } catch (...) {
        log::error("validation callback threw", {});
      }
      std::lock_guard lock(mu_);
      --unfinished_;
    }
  }

  const Settings settings_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::size_t unfinished_ = 0;  // queued + running
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

Status check_port(const char* name, int port) {
  if (port < 1 || port > 65535)
    return make_error(Errc::invalid_argument, std::string(name) + " must be a port number (1-65535)");
  return {};
}

}  // namespace

Result<std::unique_ptr<Validator>> Validator::create(Config config) {
  SIGIL_TRY_STATUS(check_port("http01_port", config.http01_port));
  SIGIL_TRY_STATUS(check_port("https_port", config.https_port));
  SIGIL_TRY_STATUS(check_port("tlsalpn01_port", config.tlsalpn01_port));
  if (config.timeout <= std::chrono::milliseconds::zero())
    return make_error(Errc::invalid_argument, "the validation timeout must be positive");
  if (config.max_concurrency < 1 || config.max_concurrency > 1024)
    return make_error(Errc::invalid_argument, "max_concurrency must be between 1 and 1024");
  if (config.max_redirects < 0 || config.max_redirects > 100)
    return make_error(Errc::invalid_argument, "max_redirects must be between 0 and 100");
  Settings settings;
  if (!config.dns_resolver.empty()) {
    SIGIL_TRY(settings.resolvers_csv, parse_resolvers(config.dns_resolver));
  }
  for (const auto& r : config.forbidden_ranges) {
    SIGIL_TRY(auto range, parse_range(r));
    settings.forbidden.push_back(std::move(range));
  }
  // Homes made before loopback joined the default keep their old list in sigil.json: say so.
  if (!settings.forbidden_range("127.0.0.1") || !settings.forbidden_range("::1"))
    log::warn(
        "acme.validation.forbidden_ranges allows loopback: a name or an http-01 redirect that points at this "
        "host reaches Sigil's own listeners; add 127.0.0.0/8 and ::1/128 unless this is a test",
        {});
  // A channel now, so that a resolver c-ares refuses is a configuration error, not a
  // failure of every validation.
  if (auto channel = Resolver::create(settings.resolvers_csv); !channel) return channel.error();
  settings.config = std::move(config);
  return std::unique_ptr<Validator>(new ValidatorImpl(std::move(settings)));
}

}  // namespace sigil::acme::va
