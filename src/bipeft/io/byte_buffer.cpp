#include "bipeft/io/byte_buffer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bipeft/core/error.h"

namespace bipeft::io {

namespace {

class MappedFile final : public ByteBuffer {
 public:
  explicit MappedFile(const std::string& path) : label_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IoError(path + ": cannot open (" + std::strerror(errno) + ")");
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw IoError(path + ": not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        throw IoError(path + ": cannot map into memory (" + std::strerror(errno) + ")");
      }
      data_ = static_cast<const char*>(p);
    }
    ::close(fd);
  }
  ~MappedFile() override {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
  }
  const char* data() const override { return data_ != nullptr ? data_ : ""; }
  size_t size() const override { return size_; }
  const std::string& label() const override { return label_; }

 private:
  std::string label_;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

class StringBuffer final : public ByteBuffer {
 public:
  StringBuffer(std::string bytes, std::string label) : bytes_(std::move(bytes)), label_(std::move(label)) {}
  const char* data() const override { return bytes_.data(); }
  size_t size() const override { return bytes_.size(); }
  const std::string& label() const override { return label_; }

 private:
  std::string bytes_;
  std::string label_;
};

}  // namespace

std::shared_ptr<const ByteBuffer> map_file(const std::string& path) {
  return std::make_shared<MappedFile>(path);
}

std::shared_ptr<const ByteBuffer> buffer_from_string(std::string bytes, std::string label) {
  return std::make_shared<StringBuffer>(std::move(bytes), std::move(label));
}

}  // namespace bipeft::io
