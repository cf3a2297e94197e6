// The few file operations the spool needs, one implementation per OS (spool_files_posix.cc; a
// Windows build adds spool_files_windows.cc). Errors carry the path and the system's reason.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "portwatch/status.h"

namespace portwatch::agent {

/// One segment file, open for reading and, when created by this process, appending.
class SegmentFile {
 public:
  SegmentFile() = default;
  ~SegmentFile();
  SegmentFile(SegmentFile&& o) noexcept;
  SegmentFile& operator=(SegmentFile&& o) noexcept;
  SegmentFile(const SegmentFile&) = delete;
  SegmentFile& operator=(const SegmentFile&) = delete;

  /// Creates `path`, which must not exist, for appending.
  static Expected<SegmentFile> Create(const std::string& path);
  /// Opens an existing file read-only.
  static Expected<SegmentFile> OpenForReading(const std::string& path);

  /// Appends up to `n` bytes; returns how many were written (short on a full disk) or the error.
  Expected<size_t> Append(const char* data, size_t n);
  /// Cuts the file back to `size` bytes.
  Status Truncate(uint64_t size);
  /// Makes the file's data durable (fdatasync).
  Status Sync();
  /// Reads exactly `n` bytes at `offset`.
  Status ReadAt(uint64_t offset, char* buf, size_t n) const;
  /// The whole file.
  Expected<std::string> ReadAll() const;
  const std::string& path() const { return path_; }

 private:
  SegmentFile(intptr_t handle, std::string path) : handle_(handle), path_(std::move(path)) {}
  intptr_t handle_ = -1;  // a POSIX file descriptor or a Windows HANDLE; -1: none
  std::string path_;
};

/// An exclusive lock on a directory, held while the object lives; the lock file names the
/// holder's pid so a refused second agent can say who holds it.
class DirLock {
 public:
  DirLock() = default;
  ~DirLock();
  DirLock(DirLock&& o) noexcept;
  DirLock& operator=(DirLock&& o) noexcept;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

  /// Creates `dir` (and its parents, mode 0700) if needed and locks it. `flag` names the option
  /// that chose the directory, for the error message.
  static Expected<DirLock> Acquire(const std::string& dir, const std::string& flag);

 private:
  explicit DirLock(intptr_t handle) : handle_(handle) {}
  intptr_t handle_ = -1;  // the open lock file, as for SegmentFile
};

/// Names of the regular entries of `dir`.
Expected<std::vector<std::string>> ListDirectory(const std::string& dir);
/// Makes the creation and removal of entries in `dir` durable.
void SyncDirectory(const std::string& dir);
void RemoveFile(const std::string& path);

}  // namespace portwatch::agent
