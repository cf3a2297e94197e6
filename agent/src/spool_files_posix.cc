#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "src/spool_files.h"

namespace portwatch::agent {
namespace {

std::string Errno(int err) { return std::strerror(err); }

void CloseFd(intptr_t* fd) {
  if (*fd >= 0) ::close(static_cast<int>(*fd));
  *fd = -1;
}

int Fd(intptr_t handle) { return static_cast<int>(handle); }

}  // namespace

SegmentFile::~SegmentFile() { CloseFd(&handle_); }
SegmentFile::SegmentFile(SegmentFile&& o) noexcept : handle_(o.handle_), path_(std::move(o.path_)) {
  o.handle_ = -1;
}
SegmentFile& SegmentFile::operator=(SegmentFile&& o) noexcept {
  if (this != &o) {
    CloseFd(&handle_);
    handle_ = o.handle_;
    path_ = std::move(o.path_);
    o.handle_ = -1;
  }
  return *this;
}

Expected<SegmentFile> SegmentFile::Create(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::Error("cannot create spool segment '" + path + "': " + Errno(errno) +
                         "; is the disk full or read-only? Free space or pass another "
                         "--spool-dir");
  }
  return SegmentFile(fd, path);
}

Expected<SegmentFile> SegmentFile::OpenForReading(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::Error("cannot open spool segment '" + path + "': " + Errno(errno) +
                         "; fix its permissions or remove it");
  }
  return SegmentFile(fd, path);
}

Expected<size_t> SegmentFile::Append(const char* data, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::write(Fd(handle_), data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      if (done > 0) break;  // report the short write; the next call gets the error
      return Status::Error(Errno(errno));
    }
    if (w == 0) break;
    done += static_cast<size_t>(w);
  }
  return done;
}

Status SegmentFile::Truncate(uint64_t size) {
  if (::ftruncate(Fd(handle_), static_cast<off_t>(size)) != 0) return Status::Error(Errno(errno));
  return Status::Ok();
}

Status SegmentFile::Sync() {
  if (::fdatasync(Fd(handle_)) != 0) return Status::Error(Errno(errno));
  return Status::Ok();
}

Status SegmentFile::ReadAt(uint64_t offset, char* buf, size_t n) const {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(Fd(handle_), buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::Error(Errno(errno));
    if (r == 0) return Status::Error("the file is shorter than expected");
    done += static_cast<size_t>(r);
  }
  return Status::Ok();
}

Expected<std::string> SegmentFile::ReadAll() const {
  std::string data;
  char buf[65536];
  for (uint64_t off = 0;;) {
    ssize_t n = ::pread(Fd(handle_), buf, sizeof buf, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return Status::Error("cannot read spool segment '" + path_ + "': " + Errno(errno) +
                           "; remove it if the disk is damaged");
    }
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
    off += static_cast<uint64_t>(n);
  }
}

DirLock::~DirLock() { CloseFd(&handle_); }  // closing releases the flock
DirLock::DirLock(DirLock&& o) noexcept : handle_(o.handle_) { o.handle_ = -1; }
DirLock& DirLock::operator=(DirLock&& o) noexcept {
  if (this != &o) {
    CloseFd(&handle_);
    handle_ = o.handle_;
    o.handle_ = -1;
  }
  return *this;
}

Expected<DirLock> DirLock::Acquire(const std::string& dir, const std::string& flag) {
  // mkdir -p, mode 0700: the spool holds what the host reports about itself.
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/') continue;
    const std::string part = dir.substr(0, i);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::Error("cannot create spool directory '" + part + "': " + Errno(errno) +
                           "; create it or pass " + flag + " with a writable directory");
    }
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::Error("spool directory '" + dir + "' is not a directory; pass " + flag +
                         " with a directory the agent can write");
  }
  const std::string path = dir + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::Error("cannot create '" + path + "': " + Errno(errno) + "; pass " + flag +
                         " with a directory the agent can write");
  }
  DirLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "?";
    while (!holder.empty() && holder.back() == '\n') holder.pop_back();
    return Status::Error("spool directory '" + dir +
                         "' is in use by another portwatch-agent (pid " + holder +
                         "); give each agent its own " + flag);
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return Status::Error("cannot write '" + path + "': " + Errno(errno) +
                         "; is the disk full or read-only? Pass another " + flag);
  }
  return lock;
}

Expected<std::vector<std::string>> ListDirectory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return Status::Error("cannot list spool directory '" + dir + "': " + Errno(errno));
  }
  std::vector<std::string> out;
  while (dirent* de = ::readdir(d)) {
    if (de->d_type == DT_REG || de->d_type == DT_UNKNOWN) out.emplace_back(de->d_name);
  }
  ::closedir(d);
  return out;
}

void SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void RemoveFile(const std::string& path) { ::unlink(path.c_str()); }

}  // namespace portwatch::agent
