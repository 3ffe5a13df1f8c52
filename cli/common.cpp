#include "cli/common.hpp"

#include <pwd.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "ca/base/file.hpp"

namespace sigil::cli {

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

}  // namespace sigil::cli
