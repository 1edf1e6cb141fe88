#pragma once
// Shared test helpers: fixture paths, tensor comparison, exception-message checks, temp folders.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <ATen/ATen.h>

namespace bipeft::test {

/// Path under tests/ (fixtures, data).
inline std::string data_path(const std::string& rel) { return std::string(BIPEFT_TEST_DATA) + "/" + rel; }
/// Path under the repository root.
inline std::string source_path(const std::string& rel) { return std::string(BIPEFT_SOURCE_DIR) + "/" + rel; }

/// max|a - b| / max|b| (0 when both are zero).
inline double max_rel_diff(const at::Tensor& a, const at::Tensor& b) {
  auto fa = a.to(at::kDouble), fb = b.to(at::kDouble);
  double scale = fb.abs().max().item<double>();
  double diff = (fa - fb).abs().max().item<double>();
  return scale > 0 ? diff / scale : diff;
}

/// Writes `text` to `path` as is (test inputs: TSV rows, JSON, corrupt files).
inline void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

/// A fresh empty folder under the system temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() {
    auto base = std::filesystem::temp_directory_path();
    for (int i = 0;; ++i) {
      path_ = base / ("bipeft_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++) + "_" + std::to_string(i));
      if (std::filesystem::create_directory(path_)) break;
    }
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& rel) const { return (path_ / rel).string(); }

 private:
  static int& counter() {
    static int c = 0;
    return c;
  }
  std::filesystem::path path_;
};

}  // namespace bipeft::test

/// Expects `stmt` to throw `type` with a message containing `substr`.
#define EXPECT_THROW_WITH(stmt, type, substr)                                                   \
  do {                                                                                          \
    try {                                                                                       \
      stmt;                                                                                     \
      ADD_FAILURE() << "expected " #type " containing '" << (substr) << "', nothing thrown";  \
    } catch (const type& e_) {                                                                  \
      EXPECT_NE(std::string(e_.what()).find(substr), std::string::npos)                         \
          << "message: " << e_.what() << "\nexpected to contain: " << (substr);                 \
    } catch (const std::exception& e_) {                                                        \
      ADD_FAILURE() << "expected " #type ", got other exception: " << e_.what();                \
    }                                                                                           \
  } while (0)
