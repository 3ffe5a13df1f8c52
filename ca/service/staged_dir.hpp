#pragma once
// A directory filled completely or not at all. A new directory is built under a temporary
// sibling name and renamed into place by commit(); an existing empty directory (an operator's,
// with its own owner and mode) is filled in place and emptied again if commit() never comes.
#include <filesystem>
#include <string_view>
#include <vector>

#include "ca/base/error.hpp"

namespace sigil::service {

class StagedDir {
 public:
  static Result<StagedDir> open(const std::filesystem::path& final_dir, unsigned mode = 0700);
  StagedDir(StagedDir&& o) noexcept;
  StagedDir& operator=(StagedDir&&) = delete;
  ~StagedDir();

  // Path of `rel` as it is now (inside the staging directory until commit).
  std::filesystem::path path(const std::filesystem::path& rel) const { return work_ / rel; }
  Status write(const std::filesystem::path& rel, std::string_view data, unsigned mode);
  Status make_dir(const std::filesystem::path& rel, unsigned mode = 0700);
  // Records a file created by someone else (e.g. the database) so a rollback removes it.
  void adopt(const std::filesystem::path& rel) { created_.push_back(work_ / rel); }
  Status commit();
  void rollback();  // also run by the destructor unless committed

 private:
  StagedDir() = default;
  std::filesystem::path final_, work_;
  bool staged_ = false, committed_ = false, active_ = true;
  std::vector<std::filesystem::path> created_;  // in-place mode: what to remove on rollback
  std::vector<std::filesystem::path> parents_;  // ancestors this object created, outermost first
};

}  // namespace sigil::service
