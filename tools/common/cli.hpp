// Shared command-line handling for every Buddy tool and benchmark: --help prints the usage and
// exits 0; any bad argument prints one line "<tool>: <reason>" to stderr and exits 2.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>

namespace buddy::tools {

// Returns std::nullopt when the program should go on, else the exit code to return from main.
inline std::optional<int> parse_args(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    for (char& c : what) {
      if (c == '\n') c = ' ';
    }
    std::fprintf(stderr, "%s: %s (see --help)\n", app.get_name().c_str(), what.c_str());
    return 2;
  }
  return std::nullopt;
}

}  // namespace buddy::tools
