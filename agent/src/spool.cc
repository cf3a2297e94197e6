#include "src/spool.h"
#include "src/log.h"

#include <algorithm>
#include <array>
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

bool ParseSegmentName(const std::string& n, uint64_t* number) {
  const size_t plen = sizeof kSegmentPrefix - 1, slen = sizeof kSegmentSuffix - 1;
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
    opts_.segment_bytes = std::clamp<uint64_t>(opts_.max_bytes / 8, 4u << 10, 4u << 20);
  }
  if (!opts_.append_fn) {
    opts_.append_fn = [](SegmentFile& f, const char* data, size_t n) { return f.Append(data, n); };
  }
}

Spool::~Spool() = default;

void Spool::Log(const std::string& msg) const {
  if (opts_.log) {
    opts_.log(msg);
  } else {
    LogWarning("spool: " + msg);
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
  auto lock = DirLock::Acquire(opts_.dir, "--spool-dir");
  if (!lock.ok()) return lock.status();
  lock_ = std::move(*lock);
  on_disk_ = true;
  auto names = ListDirectory(opts_.dir);
  if (!names.ok()) return names.status();
  std::vector<uint64_t> numbers;
  for (const std::string& name : *names) {
    uint64_t n = 0;
    if (ParseSegmentName(name, &n)) numbers.push_back(n);
  }
  std::sort(numbers.begin(), numbers.end());

  std::vector<Entry> loaded;
  Position consumed;
  for (uint64_t n : numbers) {
    Status st = LoadSegment(n, &loaded, &consumed);
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
  Status st = StartSegment(numbers.empty() ? 1 : numbers.back() + 1);
  if (!st.ok()) return st;
  // The marker that protected the remaining records may have been in a segment just removed.
  consumed_written_ = Position{};
  WriteConsumedMarker();
  return Status::Ok();
}

Status Spool::LoadSegment(uint64_t number, std::vector<Entry>* loaded, Position* consumed) {
  const std::string path = SegmentPath(number);
  auto file = SegmentFile::OpenForReading(path);
  if (!file.ok()) return file.status();
  auto contents = file->ReadAll();
  if (!contents.ok()) return contents.status();
  const std::string& data = *contents;
  size_t pos = 0;
  while (pos < data.size()) {
    auto body = IntactBody(data.data() + pos, data.size() - pos);
    std::optional<ReportBody> report;
    if (body && static_cast<uint8_t>((*body)[0]) == kTypeReport) {
      report = DecodeReport(*body);
    }
    const bool marker =
        body && static_cast<uint8_t>((*body)[0]) == kTypeConsumed && body->size() == 17;
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
          std::to_string(pos) +
          " (torn write or disk damage); resuming at the next intact "
          "record, offset " +
          std::to_string(next));
    }
    pos = next;
  }
  segments_[number] = Segment{std::move(*file), data.size()};
  disk_bytes_ += data.size();
  return Status::Ok();
}

Status Spool::StartSegment(uint64_t number) {
  auto file = SegmentFile::Create(SegmentPath(number));
  if (!file.ok()) return file.status();
  // The new file's name must survive a power loss along with the records written into it.
  SyncDirectory(opts_.dir);
  segments_[number] = Segment{std::move(*file), 0};
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
  Status failed;
  while (done < record.size() && failed.ok()) {
    auto n = opts_.append_fn(seg.file, record.data() + done, record.size() - done);
    if (!n.ok()) {
      failed = n.status();
    } else if (*n == 0) {
      failed = Status::Error("no space left for the record");
    } else {
      done += *n;
    }
  }
  if (failed.ok() && sync) failed = seg.file.Sync();
  if (!failed.ok()) {
    *error = failed.message();
    // Take back a partial record so the segment stays clean; if even that fails, abandon the
    // segment: readers skip a torn tail.
    if (!seg.file.Truncate(seg.size).ok()) active_ = 0;
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
            std::to_string(opts_.disk_retry_ms / 1000) + " s (reports not written so far: " +
            std::to_string(counters_.write_failures_total + 1) + "). Free space on that disk");
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
    auto it =
        std::find_if(entries_.begin(), entries_.end(), [](const Entry& x) { return !x.on_disk; });
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
    RemoveFile(it->second.file.path());
    disk_bytes_ -= it->second.size;
    it = segments_.erase(it);
  }
}

void Spool::WriteConsumedMarker() {
  if (!on_disk_ || counters_.degraded || !(consumed_written_ < consumed_)) return;
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
    Status read = segments_[it->segment].file.ReadAt(it->offset, rec.data(), rec.size());
    std::optional<ReportBody> body;
    if (read.ok()) {
      if (auto b = IntactBody(rec.data(), rec.size())) body = DecodeReport(*b);
    }
    if (body && body->sequence == it->sequence) {
      out.payload = std::string(body->payload);
      return out;
    }
    ++counters_.corrupt_records_total;
    Log(SegmentPath(it->segment) + ": the report at offset " + std::to_string(it->offset) +
        " can no longer be read (" + (read.ok() ? std::string("damaged on disk") : read.message()) +
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
