#include "portwatch/win32.h"

#include "portwatch/utf16.h"

namespace portwatch::win32 {

// wchar_t is a 16-bit UTF-16 code unit on Windows, so the portable converters apply directly.
static_assert(sizeof(wchar_t) == sizeof(char16_t), "Windows wchar_t is UTF-16");

std::wstring Wide(std::string_view utf8) {
  std::u16string u = Utf8ToUtf16(utf8);
  return std::wstring(u.begin(), u.end());
}

std::string Narrow(const wchar_t* s, size_t n) {
  return Utf16ToUtf8(reinterpret_cast<const char16_t*>(s), n);
}

std::string ErrorText(DWORD error) {
  wchar_t* buf = nullptr;
  DWORD n = FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM |
                               FORMAT_MESSAGE_IGNORE_INSERTS,
                           nullptr, error, 0, reinterpret_cast<wchar_t*>(&buf), 0, nullptr);
  std::string text = n > 0 ? Narrow(buf, n) : std::string();
  if (buf != nullptr) LocalFree(buf);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  if (text.empty()) text = "unknown error";
  return text + " (error " + std::to_string(error) + ")";
}

}  // namespace portwatch::win32
