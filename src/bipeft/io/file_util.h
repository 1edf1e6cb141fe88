#pragma once
// Whole-file reads and atomic writes (temp file + fsync + rename), so a crash never leaves a torn file.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bipeft::io {

/// Returns the whole content of `path`; throws IoError naming the path when it cannot be read.
std::string read_file(const std::string& path);

/// `dir`/`name` as one path string.
std::string join_path(const std::string& dir, const std::string& name);

/// True when `path` exists and is a regular file.
bool is_file(const std::string& path);
/// True when `path` exists and is a directory.
bool is_dir(const std::string& path);

/// Creates `path` and its parents if missing; throws IoError when that fails.
void make_dirs(const std::string& path);

/// A file written under a temporary name and renamed into place by commit(). If the object is
/// destroyed without commit(), the temporary file is removed and the target is untouched.
class AtomicFile {
 public:
  /// Opens `<path>.tmp.<pid>` for writing; throws IoError when the folder is not writable.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Appends bytes; throws IoError on a short write (disk full, ...).
  void write(const void* data, size_t size);
  void write(std::string_view s) { write(s.data(), s.size()); }
  /// Flushes, fsyncs and renames over the target; throws IoError on failure.
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string tmp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

/// Writes `content` to `path` atomically.
void write_file_atomic(const std::string& path, std::string_view content);

}  // namespace bipeft::io
