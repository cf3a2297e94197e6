// Small Win32 helpers shared by the Windows implementations (only compiled for Windows).
#pragma once

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <string>
#include <string_view>

namespace portwatch::win32 {

/// UTF-8 to the UTF-16 the W APIs take.
std::wstring Wide(std::string_view utf8);
/// UTF-16 from the W APIs to UTF-8.
std::string Narrow(const wchar_t* s, size_t n);
inline std::string Narrow(const std::wstring& s) { return Narrow(s.data(), s.size()); }

/// The system's text for a Win32 error code, with the code: "Access is denied. (error 5)".
std::string ErrorText(DWORD error);

/// Owns a kernel HANDLE and closes it once.
class UniqueHandle {
 public:
  UniqueHandle() = default;
  explicit UniqueHandle(HANDLE h) : h_(h) {}
  ~UniqueHandle() { reset(); }
  UniqueHandle(UniqueHandle&& o) noexcept : h_(o.release()) {}
  UniqueHandle& operator=(UniqueHandle&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;

  HANDLE get() const { return h_; }
  bool valid() const { return h_ != nullptr && h_ != INVALID_HANDLE_VALUE; }
  HANDLE release() {
    HANDLE h = h_;
    h_ = nullptr;
    return h;
  }
  void reset(HANDLE h = nullptr) {
    if (valid()) CloseHandle(h_);
    h_ = h;
  }

 private:
  HANDLE h_ = nullptr;
};

}  // namespace portwatch::win32
