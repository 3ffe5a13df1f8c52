#pragma once
// Files are written whole or not at all: temporary name in the same directory, fsync, rename,
// fsync of the directory. Key files are created 0600 from the first byte.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ca/base/error.hpp"

namespace sigil {

using Bytes = std::vector<std::uint8_t>;

constexpr unsigned kPrivateMode = 0600;
constexpr unsigned kPublicMode = 0644;

Status write_file_atomic(const std::filesystem::path& path, std::string_view data, unsigned mode = kPublicMode);
// Refuses to replace an existing file (O_EXCL semantics at the final name via link()).
Status write_file_new(const std::filesystem::path& path, std::string_view data, unsigned mode = kPublicMode);
Result<std::string> read_file(const std::filesystem::path& path, std::size_t max_size = 16u << 20);
// mkdir -p with the given mode for directories it creates.
Status make_dirs(const std::filesystem::path& dir, unsigned mode = 0755);
// Syncs a directory so renames and creations within it are durable.
Status sync_dir(const std::filesystem::path& dir);
// Syncs a file's data and metadata (a file written by someone else, e.g. SQLite's backup).
Status sync_file(const std::filesystem::path& path);
// A fresh name beside `path` for a temporary file that will be renamed onto it:
// "<dir>/.<name>.tmp.<random>" (hidden, same directory, so the rename stays atomic).
std::filesystem::path temp_path_beside(const std::filesystem::path& path);
// An io error naming the operation, the file and errno's text.
Error errno_error(std::string_view what, const std::filesystem::path& p);

inline std::string_view as_chars(const Bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
inline Bytes as_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

}  // namespace sigil
