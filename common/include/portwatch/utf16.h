// UTF-8 <-> UTF-16 conversion. Windows APIs speak UTF-16 (wchar_t is 16 bits there); the model
// and everything on the wire is UTF-8. OS-neutral so that the Windows mapping code that decodes
// registry strings and process paths is tested on every OS.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace portwatch {

/// Converts `n` UTF-16 code units to UTF-8. Unpaired surrogates become U+FFFD.
std::string Utf16ToUtf8(const char16_t* s, size_t n);
inline std::string Utf16ToUtf8(std::u16string_view s) { return Utf16ToUtf8(s.data(), s.size()); }

/// Converts UTF-8 to UTF-16. Invalid sequences become U+FFFD.
std::u16string Utf8ToUtf16(std::string_view s);

}  // namespace portwatch
