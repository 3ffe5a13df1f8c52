// The VA's resolver: c-ares sends the queries to the configured servers; the answers are read
// here (owner names matter for CNAME chains, which c-ares 1.18's TXT parser ignores). The
// event loop is poll(2) around ares_process_fd, bounded by the validation's deadline.
#include <ares.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <mutex>

#include "acme/va/va_internal.hpp"

namespace sigil::acme::va::internal {
namespace {

using namespace dns;

constexpr int kPerTryTimeoutMs = 1000;  // c-ares doubles it on each retry round
constexpr int kTries = 3;

// One query's answer as c-ares delivered it.
struct Answer {
  int status = -1;  // an ARES_* code; -1 while pending
  Bytes message;
};

void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* a = static_cast<Answer*>(arg);
  a->status = status;
  if (abuf && alen > 0) a->message.assign(abuf, abuf + alen);
}

std::optional<Problem> transport_problem(const Answer& a, int type, const std::string& name) {
  const std::string what = " looking up " + type_name(type) + " for " + name;
  switch (a.status) {
    case ARES_SUCCESS:
    case ARES_ENODATA:
    case ARES_ENOTFOUND:
      if (!a.message.empty()) return std::nullopt;
      return Problem{"dns", "DNS problem: no response" + what};
    case ARES_ETIMEOUT:
    case ARES_ECANCELLED:
    case -1:
      return Problem{"dns", "DNS problem: query timed out" + what};
    case ARES_ESERVFAIL:
      return Problem{"dns", "DNS problem: SERVFAIL" + what + " - the domain's nameservers may be malfunctioning"};
    case ARES_EREFUSED:
      return Problem{"dns", "DNS problem: REFUSED" + what};
    case ARES_ECONNREFUSED:
      return Problem{"dns", "DNS problem: networking error" + what + " (connection refused)"};
    default:
      return Problem{"dns", std::string("DNS problem: ") + ares_strerror(a.status) + what};
  }
}

}  // namespace

struct Resolver::Impl {
  ares_channel channel = nullptr;
  ~Impl() {
    if (channel) ares_destroy(channel);
  }

  // Runs the event loop until every answer is in or the deadline passes (then the rest is
  // cancelled: their status becomes ARES_ECANCELLED).
  void wait(std::vector<Answer>& answers, Deadline deadline) {
    const auto pending = [&] {
      return std::any_of(answers.begin(), answers.end(), [](const Answer& a) { return a.status == -1; });
    };
    while (pending()) {
      const auto now = SteadyClock::now();
      if (now >= deadline) {
        ares_cancel(channel);
        return;
      }
      ares_socket_t socks[ARES_GETSOCK_MAXNUM];
      const int bits = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
      pollfd fds[ARES_GETSOCK_MAXNUM];
      nfds_t n = 0;
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short events = 0;
        if (ARES_GETSOCK_READABLE(bits, i)) events = static_cast<short>(events | POLLIN);
        if (ARES_GETSOCK_WRITABLE(bits, i)) events = static_cast<short>(events | POLLOUT);
        if (events) fds[n++] = pollfd{socks[i], events, 0};
      }
      const auto left = std::chrono::ceil<std::chrono::microseconds>(deadline - now).count();
      timeval max_tv{static_cast<time_t>(left / 1'000'000), static_cast<suseconds_t>(left % 1'000'000)};
      timeval tv{};
      const timeval* t = ares_timeout(channel, &max_tv, &tv);
      const int wait_ms = static_cast<int>(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
      const int ready = poll(fds, n, wait_ms);
      if (ready < 0 && errno != EINTR) {
        ares_cancel(channel);
        return;
      }
      if (ready <= 0) {
        ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts and retries
        continue;
      }
      for (nfds_t i = 0; i < n; ++i) {
        const bool readable = fds[i].revents & (POLLIN | POLLERR | POLLHUP);
        const bool writable = fds[i].revents & POLLOUT;
        if (!readable && !writable) continue;
        ares_process_fd(channel, readable ? fds[i].fd : ARES_SOCKET_BAD, writable ? fds[i].fd : ARES_SOCKET_BAD);
      }
    }
  }

  std::vector<Answer> ask(const std::vector<std::pair<std::string, int>>& questions, Deadline deadline) {
    std::vector<Answer> answers(questions.size());  // not resized below: the callbacks hold addresses
    for (std::size_t i = 0; i < questions.size(); ++i)
      ares_query(channel, questions[i].first.c_str(), kClassIn, questions[i].second, on_answer, &answers[i]);
    wait(answers, deadline);
    return answers;
  }

  // Follows the CNAME chain from `name` through `first` (the answer to name/type), asking
  // again for a chain's end when the server did not include it.
  Checked<RRset> chase(const std::string& name, int type, Answer first, Deadline deadline) {
    std::string asked = name, current = name;
    std::vector<std::string> seen{name};
    Answer answer = std::move(first);
    for (int cnames = 0;;) {
      if (auto p = transport_problem(answer, type, current)) return *p;
      const auto msg = parse_message(answer.message);
      if (!msg)
        return Problem{"dns", "DNS problem: malformed response looking up " + type_name(type) + " for " + current};
      auto set = follow(*msg, current, type, name, seen, cnames);
      if (!set) return set.problem();
      if (!set->rdata.empty()) return *set;
      if (current == asked) {
        RRset none;
        none.nxdomain = msg->rcode == 3;
        return none;
      }
      asked = current;
      answer = std::move(ask({{current, type}}, deadline).front());
    }
  }
};

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Resolver::~Resolver() = default;

Result<std::unique_ptr<Resolver>> Resolver::create(const std::string& resolvers_csv) {
  static std::once_flag once;
  static int init_status = ARES_SUCCESS;
  std::call_once(once, [] { init_status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (init_status != ARES_SUCCESS)
    return make_error(Errc::internal, std::string("c-ares: ") + ares_strerror(init_status));

  auto impl = std::make_unique<Impl>();
  ares_options options{};
  // NOCHECKRESP: SERVFAIL and REFUSED reach us as such (c-ares 1.18 would report them as
  // "connection refused" after trying every server).
  options.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_EDNS | ARES_FLAG_NOCHECKRESP;
  options.timeout = kPerTryTimeoutMs;
  options.tries = kTries;
  const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  if (const int rc = ares_init_options(&impl->channel, &options, mask); rc != ARES_SUCCESS) {
    impl->channel = nullptr;
    return make_error(Errc::internal, std::string("c-ares: ") + ares_strerror(rc));
  }
  if (!resolvers_csv.empty()) {
    if (const int rc = ares_set_servers_ports_csv(impl->channel, resolvers_csv.c_str()); rc != ARES_SUCCESS)
      return make_error(Errc::invalid_argument,
                        "dns_resolver '" + resolvers_csv + "' refused by c-ares: " + ares_strerror(rc));
  }
  return std::unique_ptr<Resolver>(new Resolver(std::move(impl)));
}

Checked<Resolver::Addresses> Resolver::addresses(const std::string& name, Deadline deadline) {
  auto answers = impl_->ask({{name, kTypeA}, {name, kTypeAaaa}}, deadline);
  auto a = impl_->chase(name, kTypeA, std::move(answers[0]), deadline);
  auto aaaa = impl_->chase(name, kTypeAaaa, std::move(answers[1]), deadline);
  Addresses out;
  if (aaaa)
    for (const auto& r : aaaa->rdata)
      if (r.size() == 16) out.v6.push_back(ip_text(r));
  if (a)
    for (const auto& r : a->rdata)
      if (r.size() == 4) out.v4.push_back(ip_text(r));
  if (!out.v4.empty() || !out.v6.empty()) return out;
  if (!a) return a.problem();
  if (!aaaa) return aaaa.problem();
  if (a->nxdomain)
    return Problem{
        "dns", "DNS problem: NXDOMAIN looking up A for " + name + " - check that a DNS record exists for this domain"};
  return Problem{"dns", "DNS problem: no A or AAAA records found for " + name};
}

Checked<std::vector<std::string>> Resolver::txt(const std::string& name, Deadline deadline) {
  auto answers = impl_->ask({{name, kTypeTxt}}, deadline);
  auto set = impl_->chase(name, kTypeTxt, std::move(answers[0]), deadline);
  if (!set) return set.problem();
  if (set->nxdomain)
    return Problem{"dns", "DNS problem: NXDOMAIN looking up TXT for " + name +
                              " - check that a DNS record exists for this domain"};
  if (set->rdata.empty()) return Problem{"dns", "DNS problem: no TXT record found at " + name};
  std::vector<std::string> values;
  for (const auto& r : set->rdata) {
    auto v = txt_value(r);
    if (!v) return Problem{"dns", "DNS problem: malformed TXT record at " + name};
    values.push_back(std::move(*v));
  }
  return values;
}

}  // namespace sigil::acme::va::internal
