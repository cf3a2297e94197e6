#include "src/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

namespace portwatch::agent {
namespace {

constexpr char kMagic[4] = {'P', 'W', 'S', 'P'};
constexpr size_t kHeaderBytes = 12;
// Far above any report (a few KiB) and below anything that would hurt to allocate: a length
// beyond it can only be damage.
constexpr uint32_t kMaxBodyBytes = 16u << 20;
constexpr uint8_t kTypeReport = 1;
constexpr uint8_t kTypeConsumed = 2;
constexpr char kSegmentPrefix[] = "seg-";
constexpr char kSegmentSuffix[] = ".pws";
constexpr int64_t kLogEveryMs = 60000;

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Frames a body as a record: magic, length, CRC, body.
std::string Frame(const std::string& body) {
  std::string rec(kMagic, sizeof kMagic);
  PutU32(&rec, static_cast<uint32_t>(body.size()));
  PutU32(&rec, Crc32(body.data(), body.size()));
  rec += body;
  return rec;
}

// The body of the record at `data`, or nullopt when what is there is not an intact record.
std::optional<std::string_view> IntactBody(const char* data, size_t available) {
  if (available < kHeaderBytes || std::memcmp(data, kMagic, sizeof kMagic) != 0) return {};
  const uint64_t len = GetLe(data + 4, 4);
  if (len == 0 || len > kMaxBodyBytes || len > available - kHeaderBytes) return {};
  if (Crc32(data + kHeaderBytes, len) != static_cast<uint32_t>(GetLe(data + 8, 4))) return {};
  return std::string_view(data + kHeaderBytes, len);
}

struct ReportBody {
  std::string instance_id;
  uint64_t sequence = 0;
  int64_t created_unix_ms = 0;
  std::string_view payload;
};

std::optional<ReportBody> DecodeReport(std::string_view body) {
  if (body.size() < 2 || static_cast<uint8_t>(body[0]) != kTypeReport) return {};
  const size_t id_len = static_cast<uint8_t>(body[1]);
  if (body.size() < 2 + id_len + 16) return {};
  ReportBody r;
  r.instance_id = std::string(body.substr(2, id_len));
  r.sequence = GetLe(body.data() + 2 + id_len, 8);
  r.created_unix_ms = static_cast<int64_t>(GetLe(body.data() + 10 + id_len, 8));
  r.payload = body.substr(18 + id_len);
  return r;
}

std::string Errno(int err) { return std::strerror(err); }

// mkdir -p with mode 0700: the spool holds what the host reports about itself.
Status MakeDirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/') continue;
    const std::string part = dir.substr(0, i);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::Error("cannot create spool directory '" + part + "': " + Errno(errno) +
                           "; create it or pass --spool-dir with a writable directory");
    }
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::Error("spool directory '" + dir +
                         "' is not a directory; pass --spool-dir with a directory the agent can "
                         "write");
  }
  return Status::Ok();
}

bool ParseSegmentName(const char* name, uint64_t* number) {
  const size_t plen = sizeof kSegmentPrefix - 1, slen = sizeof kSegmentSuffix - 1;
  const std::string n = name;
  if (n.size() != plen + 16 + slen || n.compare(0, plen, kSegmentPrefix) != 0 ||
      n.compare(plen + 16, slen, kSegmentSuffix) != 0) {
    return false;
  }
  const std::string digits = n.substr(plen, 16);
  if (digits.find_first_not_of("0123456789") != std::string::npos) return false;
  *number = std::stoull(digits);
  return true;
}

}  // namespace

uint32_t Crc32(const void* data, size_t size, uint32_t crc) {
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = kCrcTable[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

Spool::Spool(SpoolOptions options) : opts_(std::move(options)) {
  if (opts_.segment_bytes == 0) {
    opts_.segment_bytes = std::clamp<uint64_t>(opts_.max_bytes / 16, 16u << 10, 4u << 20);
  }
  if (!opts_.write_fn) opts_.write_fn = [](int fd, const void* b, size_t n) {
    return ::write(fd, b, n);
  };
}

Spool::~Spool() {
  for (auto& [number, seg] : segments_) {
    if (seg.fd >= 0) ::close(seg.fd);
  }
  if (dir_fd_ >= 0) ::close(dir_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void Spool::Log(const std::string& msg) const {
  if (opts_.log) {
    opts_.log(msg);
  } else {
    std::fprintf(stderr, "portwatch-agent: spool: %s\n", msg.c_str());
  }
}

std::string Spool::SegmentPath(uint64_t number) const {
  char name[64];
  std::snprintf(name, sizeof name, "%s%016llu%s", kSegmentPrefix,
                static_cast<unsigned long long>(number), kSegmentSuffix);
  return opts_.dir + "/" + name;
}

Expected<std::unique_ptr<Spool>> Spool::Open(SpoolOptions options, int64_t now_unix_ms) {
  std::unique_ptr<Spool> s(new Spool(std::move(options)));
  if (!s->opts_.dir.empty()) {
    Status st = s->OpenDirectory();
    if (!st.ok()) return st;
  }
  s->DropExpired(now_unix_ms);
  return s;
}

Status Spool::OpenDirectory() {
  Status st = MakeDirs(opts_.dir);
  if (!st.ok()) return st;
  const std::string lock_path = opts_.dir + "/lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) {
    return Status::Error("cannot create '" + lock_path + "': " + Errno(errno) +
                         "; pass --spool-dir with a directory the agent can write");
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    ssize_t n = ::pread(lock_fd_, pid, sizeof pid - 1, 0);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "?";
    while (!holder.empty() && holder.back() == '\n') holder.pop_back();
    return Status::Error("spool directory '" + opts_.dir +
                         "' is in use by another portwatch-agent (pid " + holder +
                         "); give each agent its own --spool-dir");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) != 0 ||
      ::pwrite(lock_fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return Status::Error("cannot write '" + lock_path + "': " + Errno(errno) +
                         "; is the disk full or read-only? Pass another --spool-dir");
  }
  dir_fd_ = ::open(opts_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) return Status::Error("cannot open spool directory '" + opts_.dir + "': " +
                                        Errno(errno));

  std::vector<uint64_t> numbers;
  DIR* d = ::opendir(opts_.dir.c_str());
  if (d == nullptr) return Status::Error("cannot list spool directory '" + opts_.dir + "': " +
                                         Errno(errno));
  while (dirent* de = ::readdir(d)) {
    uint64_t n = 0;
    if (ParseSegmentName(de->d_name, &n)) numbers.push_back(n);
  }
  ::closedir(d);
  std::sort(numbers.begin(), numbers.end());

  std::vector<Entry> loaded;
  Position consumed;
  for (uint64_t n : numbers) {
    st = LoadSegment(n, &loaded, &consumed);
    if (!st.ok()) return st;
  }
  consumed_ = consumed;
  consumed_written_ = consumed;
  for (Entry& e : loaded) {
    if (Position{e.segment, e.offset} < consumed_) continue;
    e.id = next_id_++;
    entries_.push_back(std::move(e));
  }
  counters_.recovered_records = entries_.size();
  // Segments left only with consumed or damaged records go now; the rest wait for their acks.
  RemoveConsumedSegments();
  st = StartSegment(numbers.empty() ? 1 : numbers.back() + 1);
  if (!st.ok()) return st;
  // The marker that protected the remaining records may have been in a segment just removed.
  consumed_written_ = Position{};
  WriteConsumedMarker();
  return Status::Ok();
}

Status Spool::LoadSegment(uint64_t number, std::vector<Entry>* loaded, Position* consumed) {
  const std::string path = SegmentPath(number);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::Error("cannot open spool segment '" + path + "': " + Errno(errno) +
                         "; fix its permissions or remove it");
  }
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Status::Error("cannot read spool segment '" + path + "': " + Errno(err) +
                           "; remove it if the disk is damaged");
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  size_t pos = 0;
  while (pos < data.size()) {
    auto body = IntactBody(data.data() + pos, data.size() - pos);
    std::optional<ReportBody> report;
    if (body && static_cast<uint8_t>((*body)[0]) == kTypeReport) {
      report = DecodeReport(*body);
    }
    const bool marker = body && static_cast<uint8_t>((*body)[0]) == kTypeConsumed &&
                        body->size() == 17;
    if (report) {
      Entry e;
      e.instance = InternInstance(report->instance_id);
      e.sequence = report->sequence;
      e.created_unix_ms = report->created_unix_ms;
      e.on_disk = true;
      e.segment = number;
      e.offset = pos;
      e.length = kHeaderBytes + body->size();
      loaded->push_back(std::move(e));
    } else if (marker) {
      Position p{GetLe(body->data() + 1, 8), GetLe(body->data() + 9, 8)};
      if (*consumed < p) *consumed = p;
    }
    if (report || marker) {
      pos += kHeaderBytes + body->size();
      continue;
    }
    if (body) {
      // Intact but of a kind this version does not know (written by a newer agent): step over.
      Log(path + ": skipped a record of unknown type " +
          std::to_string(static_cast<uint8_t>((*body)[0])) + " at offset " + std::to_string(pos));
      pos += kHeaderBytes + body->size();
      continue;
    }
    // Damage: find the next intact record and resume there.
    size_t next = pos + 1;
    while (next < data.size()) {
      const void* hit = std::memchr(data.data() + next, kMagic[0], data.size() - next);
      if (hit == nullptr) {
        next = data.size();
        break;
      }
      next = static_cast<size_t>(static_cast<const char*>(hit) - data.data());
      if (IntactBody(data.data() + next, data.size() - next)) break;
      ++next;
    }
    ++counters_.corrupt_records_total;
    if (next >= data.size()) {
      Log(path + ": skipped " + std::to_string(data.size() - pos) + " damaged bytes at offset " +
          std::to_string(pos) +
          " to the end of the file (a write cut short by a crash or power loss, or a truncated "
          "or overwritten file); the records before it are kept");
    } else {
      Log(path + ": skipped " + std::to_string(next - pos) + " damaged bytes at offset " +
          std::to_string(pos) + " (torn write or disk damage); resuming at the next intact "
                                "record, offset " +
          std::to_string(next));
    }
    pos = next;
  }
  segments_[number] = Segment{fd, data.size()};
  disk_bytes_ += data.size();
  return Status::Ok();
}

Status Spool::StartSegment(uint64_t number) {
  const std::string path = SegmentPath(number);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::Error("cannot create spool segment '" + path + "': " + Errno(errno) +
                         "; is the disk full or read-only? Free space or pass another "
                         "--spool-dir");
  }
  // The new file's name must survive a power loss along with the records written into it.
  ::fsync(dir_fd_);
  segments_[number] = Segment{fd, 0};
  active_ = number;
  next_segment_ = number + 1;
  return Status::Ok();
}

uint32_t Spool::InternInstance(const std::string& id) {
  for (size_t i = 0; i < instances_.size(); ++i) {
    if (instances_[i] == id) return static_cast<uint32_t>(i);
  }
  instances_.push_back(id);
  return static_cast<uint32_t>(instances_.size() - 1);
}

bool Spool::WriteRecord(const std::string& record, bool sync, uint64_t* offset,
                        std::string* error) {
  if (active_ != 0 && segments_[active_].size > 0 &&
      segments_[active_].size + record.size() > opts_.segment_bytes) {
    active_ = 0;  // the full segment stays open for reading until its reports are acknowledged
    RemoveConsumedSegments();
  }
  if (active_ == 0) {
    Status st = StartSegment(next_segment_);
    if (!st.ok()) {
      *error = st.message();
      return false;
    }
  }
  Segment& seg = segments_[active_];
  size_t done = 0;
  int err = 0;
  while (done < record.size()) {
    ssize_t n = opts_.write_fn(seg.fd, record.data() + done, record.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (err == 0 && sync && ::fdatasync(seg.fd) != 0) err = errno;
  if (err != 0) {
    *error = Errno(err);
    // Take back a partial record so the segment stays clean; if even that fails, abandon the
    // segment: readers skip a torn tail.
    if (::ftruncate(seg.fd, static_cast<off_t>(seg.size)) != 0) active_ = 0;
    return false;
  }
  *offset = seg.size;
  seg.size += record.size();
  disk_bytes_ += record.size();
  return true;
}

void Spool::Append(const std::string& instance_id, uint64_t sequence, int64_t created_unix_ms,
                   std::string payload, int64_t now_unix_ms) {
  DropExpired(now_unix_ms);
  std::string body;
  body.reserve(18 + instance_id.size() + payload.size());
  body.push_back(static_cast<char>(kTypeReport));
  const size_t id_len = std::min<size_t>(instance_id.size(), 255);
  body.push_back(static_cast<char>(id_len));
  body.append(instance_id, 0, id_len);
  PutU64(&body, sequence);
  PutU64(&body, static_cast<uint64_t>(created_unix_ms));
  body += payload;
  std::string record = Frame(body);
  body.clear();

  if (record.size() > opts_.max_bytes) {
    ++counters_.dropped_total;
    Log("a report of " + std::to_string(record.size()) + " bytes is larger than the whole spool (" +
        std::to_string(opts_.max_bytes) + " bytes) and was dropped; raise --spool-max-bytes");
    return;
  }
  uint64_t dropped = 0;
  while (!entries_.empty() && disk_bytes_ + memory_bytes_ + record.size() > opts_.max_bytes) {
    dropped += DropOldestForBytes();
  }
  if (dropped > 0) NoteDropped(dropped, "--spool-max-bytes", now_unix_ms);

  Entry e;
  e.id = next_id_++;
  e.instance = InternInstance(instance_id.substr(0, id_len));
  e.sequence = sequence;
  e.created_unix_ms = created_unix_ms;
  if (!opts_.dir.empty()) {
    if (!counters_.degraded || now_unix_ms >= disk_retry_at_ms_) {
      std::string error;
      uint64_t offset = 0;
      if (WriteRecord(record, opts_.sync, &offset, &error)) {
        if (counters_.degraded) {
          counters_.degraded = false;
          Log("writing to '" + opts_.dir + "' again; " + std::to_string(memory_records_) +
              " reports kept in memory meanwhile stay there until acknowledged");
        }
        e.on_disk = true;
        e.segment = active_;
        e.offset = offset;
        e.length = record.size();
        entries_.push_back(std::move(e));
        FinishConsuming();
        return;
      }
      if (!counters_.degraded || now_unix_ms - last_failure_log_ms_ >= kLogEveryMs) {
        Log("cannot write to '" + opts_.dir + "' (" + error + "); keeping reports in memory (at " +
            "most " + std::to_string(opts_.max_memory_records) + ", then the oldest are " +
            "dropped) and trying the disk again every " +
            std::to_string(opts_.disk_retry_ms / 1000) + " s; " +
            std::to_string(counters_.write_failures_total + 1) +
            " reports not written so far. Free space on that disk");
        last_failure_log_ms_ = now_unix_ms;
      }
      counters_.degraded = true;
      disk_retry_at_ms_ = now_unix_ms + opts_.disk_retry_ms;
    }
    ++counters_.write_failures_total;
  }
  e.payload = std::move(payload);
  memory_bytes_ += e.payload.size();
  ++memory_records_;
  entries_.push_back(std::move(e));
  dropped = 0;
  while (memory_records_ > opts_.max_memory_records) {
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [](const Entry& x) { return !x.on_disk; });
    memory_bytes_ -= it->payload.size();
    --memory_records_;
    entries_.erase(it);
    ++counters_.dropped_total;
    ++dropped;
  }
  if (dropped > 0) NoteDropped(dropped, "the memory bound", now_unix_ms);
}

uint64_t Spool::DropOldestForBytes() {
  const Entry& front = entries_.front();
  if (!front.on_disk) {
    PopFront(true);
    return 1;
  }
  // Disk space comes back a segment at a time: drop every report up to the end of the oldest.
  const uint64_t seg = front.segment;
  uint64_t n = 0;
  while (!entries_.empty() && (!entries_.front().on_disk || entries_.front().segment == seg)) {
    PopFront(true);
    ++n;
  }
  if (seg == active_) active_ = 0;  // the next write starts a new segment
  FinishConsuming();
  return n;
}

void Spool::NoteDropped(uint64_t n, const char* bound, int64_t now_unix_ms) {
  dropped_since_log_ += n;
  if (now_unix_ms - last_drop_log_ms_ < kLogEveryMs) return;
  Log("dropped the " + std::to_string(dropped_since_log_) +
      " oldest unacknowledged reports to stay within " + bound + " (" +
      std::to_string(counters_.dropped_total) +
      " since start); the collector has not acknowledged them. Check the collector, or raise the "
      "bound");
  dropped_since_log_ = 0;
  last_drop_log_ms_ = now_unix_ms;
}

void Spool::PopFront(bool dropped) {
  Entry& e = entries_.front();
  if (e.on_disk) {
    Position end{e.segment, e.offset + e.length};
    if (consumed_ < end) consumed_ = end;
  } else {
    memory_bytes_ -= e.payload.size();
    --memory_records_;
  }
  if (dropped) ++counters_.dropped_total;
  entries_.pop_front();
}

void Spool::FinishConsuming() {
  RemoveConsumedSegments();
  WriteConsumedMarker();
}

void Spool::RemoveConsumedSegments() {
  uint64_t oldest_live = std::numeric_limits<uint64_t>::max();
  for (const Entry& e : entries_) {
    if (e.on_disk) {
      oldest_live = e.segment;
      break;
    }
  }
  for (auto it = segments_.begin(); it != segments_.end() && it->first < oldest_live;) {
    if (active_ != 0 && it->first == active_) {  // numbers we create start at 1
      ++it;
      continue;
    }
    ::close(it->second.fd);
    ::unlink(SegmentPath(it->first).c_str());
    disk_bytes_ -= it->second.size;
    it = segments_.erase(it);
  }
}

void Spool::WriteConsumedMarker() {
  if (dir_fd_ < 0 || counters_.degraded || !(consumed_written_ < consumed_)) return;
  // A marker matters only while a segment holding consumed reports is still on disk.
  if (segments_.empty() || consumed_.segment < segments_.begin()->first) return;
  std::string body(1, static_cast<char>(kTypeConsumed));
  PutU64(&body, consumed_.segment);
  PutU64(&body, consumed_.offset);
  std::string error;
  uint64_t offset = 0;
  // Not synced: a lost marker only means a few acknowledged reports are sent again, and the
  // collector recognises those as duplicates.
  if (WriteRecord(Frame(body), false, &offset, &error)) consumed_written_ = consumed_;
}

bool Spool::Acknowledge(const std::string& instance_id, uint64_t sequence) {
  auto inst = std::find(instances_.begin(), instances_.end(), instance_id);
  if (inst == instances_.end()) return false;
  const uint32_t idx = static_cast<uint32_t>(inst - instances_.begin());
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
    return e.instance == idx && e.sequence == sequence;
  });
  if (it == entries_.end()) return false;
  const uint64_t through = it->id;
  while (!entries_.empty() && entries_.front().id <= through) PopFront(false);
  FinishConsuming();
  return true;
}

void Spool::DropExpired(int64_t now_unix_ms) {
  if (opts_.max_age_ms <= 0) return;
  const int64_t cutoff = now_unix_ms - opts_.max_age_ms;
  uint64_t n = 0;
  while (!entries_.empty() && entries_.front().created_unix_ms < cutoff) {
    PopFront(true);
    ++n;
  }
  if (n == 0) return;
  FinishConsuming();
  NoteDropped(n, "--spool-max-age", now_unix_ms);
}

std::optional<SpoolEntry> Spool::Next(uint64_t after_id) {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), after_id,
                             [](uint64_t id, const Entry& e) { return id < e.id; });
  while (it != entries_.end()) {
    SpoolEntry out;
    out.id = it->id;
    out.instance_id = instances_[it->instance];
    out.sequence = it->sequence;
    out.created_unix_ms = it->created_unix_ms;
    if (!it->on_disk) {
      out.payload = it->payload;
      return out;
    }
    std::string rec(it->length, '\0');
    const ssize_t n = ::pread(segments_[it->segment].fd, rec.data(), rec.size(),
                              static_cast<off_t>(it->offset));
    const int read_errno = errno;
    std::optional<ReportBody> body;
    if (n == static_cast<ssize_t>(rec.size())) {
      if (auto b = IntactBody(rec.data(), rec.size())) body = DecodeReport(*b);
    }
    if (body && body->sequence == it->sequence) {
      out.payload = std::string(body->payload);
      return out;
    }
    ++counters_.corrupt_records_total;
    Log(SegmentPath(it->segment) + ": the report at offset " + std::to_string(it->offset) +
        " can no longer be read (" + (n < 0 ? Errno(read_errno) : std::string("damaged on disk")) +
        "); skipped");
    if (it == entries_.begin()) {
      PopFront(false);  // lets the consumed position, and so the segment's removal, move on
      FinishConsuming();
      it = entries_.begin();
    } else {
      it = entries_.erase(it);
    }
  }
  return std::nullopt;
}

SpoolStats Spool::stats() const {
  SpoolStats s = counters_;
  s.records = entries_.size();
  s.bytes = disk_bytes_ + memory_bytes_;
  s.memory_records = memory_records_;
  return s;
}

std::vector<std::string> Spool::WaitingInstances() const {
  std::vector<std::string> out;
  for (const Entry& e : entries_) {
    const std::string& id = instances_[e.instance];
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

}  // namespace portwatch::agent
