// Windows file I/O for files.h. Paths are UTF-8 and go through the W APIs, so non-ASCII paths
// (C:\ProgramData\Überwachung) work. WriteFileAtomic flushes the temporary file and replaces the
// target with MoveFileEx, the Windows counterpart of write-fsync-rename.
#include "portwatch/files.h"
#include "portwatch/win32.h"

#include <algorithm>

namespace portwatch {

using win32::ErrorText;
using win32::UniqueHandle;
using win32::Wide;

Expected<std::string> ReadFileLimited(const std::string& path, size_t limit,
                                      const std::string& what) {
  if (path.empty()) return Status::Error(what + ": no path given");
  UniqueHandle f(CreateFileW(Wide(path).c_str(), GENERIC_READ,
                             FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                             OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr));
  if (!f.valid()) {
    return Status::Error("cannot open " + what + " '" + path + "': " + ErrorText(GetLastError()));
  }
  std::string out;
  char buf[8192];
  for (;;) {
    DWORD n = 0;
    if (!ReadFile(f.get(), buf, sizeof buf, &n, nullptr)) {
      return Status::Error("cannot read " + what + " '" + path + "': " +
                           ErrorText(GetLastError()));
    }
    if (n == 0) break;
    out.append(buf, n);
    if (out.size() > limit) {
      return Status::Error(what + " '" + path + "' is larger than " + std::to_string(limit) +
                           " bytes; is it the right file?");
    }
  }
  return out;
}

Status WriteFileAtomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  const std::wstring wtmp = Wide(tmp);
  UniqueHandle f(CreateFileW(wtmp.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS,
                             FILE_ATTRIBUTE_NORMAL, nullptr));
  if (!f.valid()) {
    return Status::Error("cannot create '" + tmp + "': " + ErrorText(GetLastError()));
  }
  size_t off = 0;
  while (off < content.size()) {
    DWORD chunk = static_cast<DWORD>(std::min<size_t>(content.size() - off, 1 << 20));
    DWORD n = 0;
    if (!WriteFile(f.get(), content.data() + off, chunk, &n, nullptr)) {
      DWORD err = GetLastError();
      f.reset();
      DeleteFileW(wtmp.c_str());
      return Status::Error("cannot write '" + tmp + "': " + ErrorText(err));
    }
    off += n;
  }
  if (!FlushFileBuffers(f.get())) {
    DWORD err = GetLastError();
    f.reset();
    DeleteFileW(wtmp.c_str());
    return Status::Error("cannot flush '" + tmp + "': " + ErrorText(err));
  }
  f.reset();
  if (!MoveFileExW(wtmp.c_str(), Wide(path).c_str(),
                   MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    DWORD err = GetLastError();
    DeleteFileW(wtmp.c_str());
    return Status::Error("cannot rename '" + tmp + "' to '" + path + "': " + ErrorText(err));
  }
  return Status::Ok();
}

}  // namespace portwatch
