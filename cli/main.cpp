// sigil: the composition root. Each command group registers itself (cmd_*.cpp); errors leave
// as one line on stderr and an exit code from the error table (ca/base/error.cpp).
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "cli/common.hpp"

#ifndef SIGIL_VERSION
#define SIGIL_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  using namespace sigil::cli;
  Globals g;
  const char* env_home = std::getenv("SIGIL_HOME");
  g.home = env_home && *env_home ? env_home : "./sigil-data";

  CLI::App app{"sigil: an internal certificate authority"};
  app.set_help_all_flag("--help-all", "Help for every command");
  app.set_version_flag("--version", "sigil " SIGIL_VERSION, "Print the version and exit");
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--home", g.home, "CA home directory (default $SIGIL_HOME, else ./sigil-data)");
  app.add_flag("--json", g.json, "Machine-readable output");
  app.footer(
      "Exit codes: 0 ok; 2 usage; 3 input refused (malformed, policy, bad CSR or key); 4 not found or already exists;\n"
      "5 authentication (e.g. wrong passphrase); 6 file or database error; 7 internal error; 8 rate limited.\n"
      "`sigil renew` has its own (see sigil renew --help): 0, 10, 11.");

  add_init(app, g);
  add_issue(app, g);
  add_certificates(app, g);
  add_ca(app, g);
  add_serve(app, g);
  add_revocation(app, g);
  add_acme(app, g);
  add_renew(app, g);
  add_trust(app, g);
  add_status(app, g);
  add_flag_renewal(app, g);
  add_admin(app, g);
  add_migrate(app, g);
  add_audit(app, g);
  add_policy(app, g);
  app.add_subcommand("version", "Print the version")->callback([&g] {
    if (g.json)
      std::cout << "{\"version\": \"" SIGIL_VERSION "\"}\n";
    else
      std::cout << "sigil " SIGIL_VERSION "\n";
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "sigil: error: " << e.what() << " (see --help)\n";
    return 2;
  }
  if (g.exit_code) return *g.exit_code;
  if (!g.status) {
    std::cerr << "sigil: error: " << g.status.error().detail << "\n";
    return sigil::info(g.status.error().code).exit_code;
  }
  return 0;
}
