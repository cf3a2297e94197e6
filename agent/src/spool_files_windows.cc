// The spool's file operations on Windows. Segments are opened with FILE_SHARE_DELETE so that a
// consumed segment can be deleted while still open (it goes when the handle closes); the lock is
// the lock file opened without FILE_SHARE_WRITE, which a second agent cannot open for writing.
#include <algorithm>
#include <cwchar>

#include "portwatch/win32.h"
#include "src/spool_files.h"

namespace portwatch::agent {
namespace {

HANDLE H(intptr_t handle) { return reinterpret_cast<HANDLE>(handle); }
intptr_t Handle(HANDLE h) { return h == INVALID_HANDLE_VALUE ? -1 : reinterpret_cast<intptr_t>(h); }

void CloseH(intptr_t* handle) {
  if (*handle != -1) CloseHandle(H(*handle));
  *handle = -1;
}

std::string LastError() { return win32::ErrorText(GetLastError()); }

}  // namespace

SegmentFile::~SegmentFile() { CloseH(&handle_); }
SegmentFile::SegmentFile(SegmentFile&& o) noexcept : handle_(o.handle_), path_(std::move(o.path_)) {
  o.handle_ = -1;
}
SegmentFile& SegmentFile::operator=(SegmentFile&& o) noexcept {
  if (this != &o) {
    CloseH(&handle_);
    handle_ = o.handle_;
    path_ = std::move(o.path_);
    o.handle_ = -1;
  }
  return *this;
}

Expected<SegmentFile> SegmentFile::Create(const std::string& path) {
  HANDLE h = CreateFileW(win32::Wide(path).c_str(), GENERIC_READ | GENERIC_WRITE,
                         FILE_SHARE_READ | FILE_SHARE_DELETE, nullptr, CREATE_NEW,
                         FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    return Status::Error("cannot create spool segment '" + path + "': " + LastError() +
                         "; is the disk full or read-only? Free space or pass another "
                         "--spool-dir");
  }
  return SegmentFile(Handle(h), path);
}

Expected<SegmentFile> SegmentFile::OpenForReading(const std::string& path) {
  HANDLE h = CreateFileW(win32::Wide(path).c_str(), GENERIC_READ,
                         FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                         OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    return Status::Error("cannot open spool segment '" + path + "': " + LastError() +
                         "; fix its permissions or remove it");
  }
  return SegmentFile(Handle(h), path);
}

Expected<size_t> SegmentFile::Append(const char* data, size_t n) {
  LARGE_INTEGER zero{};
  if (!SetFilePointerEx(H(handle_), zero, nullptr, FILE_END)) return Status::Error(LastError());
  size_t done = 0;
  while (done < n) {
    const DWORD chunk = static_cast<DWORD>(std::min<size_t>(n - done, 1u << 30));
    DWORD wrote = 0;
    if (!WriteFile(H(handle_), data + done, chunk, &wrote, nullptr)) {
      if (done > 0) break;  // report the short write; the next call gets the error
      return Status::Error(LastError());
    }
    if (wrote == 0) break;
    done += wrote;
  }
  return done;
}

Status SegmentFile::Truncate(uint64_t size) {
  LARGE_INTEGER at;
  at.QuadPart = static_cast<LONGLONG>(size);
  if (!SetFilePointerEx(H(handle_), at, nullptr, FILE_BEGIN) || !SetEndOfFile(H(handle_))) {
    return Status::Error(LastError());
  }
  return Status::Ok();
}

Status SegmentFile::Sync() {
  if (!FlushFileBuffers(H(handle_))) return Status::Error(LastError());
  return Status::Ok();
}

Status SegmentFile::ReadAt(uint64_t offset, char* buf, size_t n) const {
  size_t done = 0;
  while (done < n) {
    OVERLAPPED at{};
    const uint64_t pos = offset + done;
    at.Offset = static_cast<DWORD>(pos & 0xffffffffu);
    at.OffsetHigh = static_cast<DWORD>(pos >> 32);
    DWORD got = 0;
    const DWORD chunk = static_cast<DWORD>(std::min<size_t>(n - done, 1u << 30));
    if (!ReadFile(H(handle_), buf + done, chunk, &got, &at)) {
      if (GetLastError() == ERROR_HANDLE_EOF)
        return Status::Error("the file is shorter than expected");
      return Status::Error(LastError());
    }
    if (got == 0) return Status::Error("the file is shorter than expected");
    done += got;
  }
  return Status::Ok();
}

Expected<std::string> SegmentFile::ReadAll() const {
  LARGE_INTEGER size{};
  if (!GetFileSizeEx(H(handle_), &size)) {
    return Status::Error("cannot read spool segment '" + path_ + "': " + LastError());
  }
  std::string data(static_cast<size_t>(size.QuadPart), '\0');
  Status st = ReadAt(0, data.data(), data.size());
  if (!st.ok()) {
    return Status::Error("cannot read spool segment '" + path_ + "': " + st.message() +
                         "; remove it if the disk is damaged");
  }
  return data;
}

DirLock::~DirLock() { CloseH(&handle_); }
DirLock::DirLock(DirLock&& o) noexcept : handle_(o.handle_) { o.handle_ = -1; }
DirLock& DirLock::operator=(DirLock&& o) noexcept {
  if (this != &o) {
    CloseH(&handle_);
    handle_ = o.handle_;
    o.handle_ = -1;
  }
  return *this;
}

Expected<DirLock> DirLock::Acquire(const std::string& dir, const std::string& flag) {
  // Create every missing level, like mkdir -p; either separator is accepted.
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/' && dir[i] != '\\') continue;
    const std::string part = dir.substr(0, i);
    if (part.size() == 2 && part[1] == ':') continue;  // a drive, "C:"
    if (!CreateDirectoryW(win32::Wide(part).c_str(), nullptr) &&
        GetLastError() != ERROR_ALREADY_EXISTS) {
      return Status::Error("cannot create spool directory '" + part + "': " + LastError() +
                           "; create it or pass " + flag + " with a writable directory");
    }
  }
  const DWORD attrs = GetFileAttributesW(win32::Wide(dir).c_str());
  if (attrs == INVALID_FILE_ATTRIBUTES || !(attrs & FILE_ATTRIBUTE_DIRECTORY)) {
    return Status::Error("spool directory '" + dir + "' is not a directory; pass " + flag +
                         " with a directory the agent can write");
  }
  const std::string path = dir + "\\lock";
  HANDLE h = CreateFileW(win32::Wide(path).c_str(), GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ,
                         nullptr, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    const DWORD err = GetLastError();
    if (err == ERROR_SHARING_VIOLATION) {
      std::string holder = "?";
      HANDLE r =
          CreateFileW(win32::Wide(path).c_str(), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE,
                      nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
      if (r != INVALID_HANDLE_VALUE) {
        char pid[32] = {0};
        DWORD got = 0;
        if (ReadFile(r, pid, sizeof pid - 1, &got, nullptr) && got > 0) {
          holder.assign(pid, got);
          while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\r')) {
            holder.pop_back();
          }
        }
        CloseHandle(r);
      }
      return Status::Error("spool directory '" + dir +
                           "' is in use by another portwatch-agent (pid " + holder +
                           "); give each agent its own " + flag);
    }
    return Status::Error("cannot create '" + path + "': " + win32::ErrorText(err) + "; pass " +
                         flag + " with a directory the agent can write");
  }
  DirLock lock(Handle(h));
  const std::string pid = std::to_string(GetCurrentProcessId()) + "\n";
  DWORD wrote = 0;
  if (!SetEndOfFile(h) ||
      !WriteFile(h, pid.data(), static_cast<DWORD>(pid.size()), &wrote, nullptr) ||
      wrote != pid.size()) {
    return Status::Error("cannot write '" + path + "': " + LastError() +
                         "; is the disk full or read-only? Pass another " + flag);
  }
  return lock;
}

Expected<std::vector<std::string>> ListDirectory(const std::string& dir) {
  WIN32_FIND_DATAW found;
  HANDLE h = FindFirstFileW(win32::Wide(dir + "\\*").c_str(), &found);
  if (h == INVALID_HANDLE_VALUE) {
    return Status::Error("cannot list spool directory '" + dir + "': " + LastError());
  }
  std::vector<std::string> out;
  do {
    if (!(found.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)) {
      out.push_back(win32::Narrow(found.cFileName, wcslen(found.cFileName)));
    }
  } while (FindNextFileW(h, &found));
  FindClose(h);
  return out;
}

// NTFS journals its metadata: a created or deleted name is durable without a directory flush
// (which Win32 only offers through backup-semantics handles).
void SyncDirectory(const std::string&) {}

void RemoveFile(const std::string& path) { DeleteFileW(win32::Wide(path).c_str()); }

}  // namespace portwatch::agent
