// The restricted pickle interpreter on hand-assembled byte streams: what torch.save writes parses; cycles,
// runaway nesting and sparse memo indices cannot hurt the reader.
#include "bipeft/io/pickle_reader.h"

#include <gtest/gtest.h>

#include <string>

#include "bipeft/core/error.h"
#include "test_util.h"

namespace bipeft::io {
namespace {

/// A string literal with its embedded NUL bytes.
template <size_t N>
std::string bytes(const char (&s)[N]) {
  return std::string(s, N - 1);
}

PyRef parse(const std::string& bytes) {
  size_t pos = 0;
  return read_pickle(bytes.data(), bytes.size(), pos, "x.pkl");
}

TEST(PickleReader, ParsesNestedContainersAndMemoReferences) {
  // {"a": [1, "s"], "b": <the same list>}, protocol 2 with memo entries.
  const std::string p = bytes("\x80\x02}q\x00(X\x01\x00\x00\x00" "a]q\x01(K\x01X\x01\x00\x00\x00" "se"
                               "X\x01\x00\x00\x00" "bh\x01u.");
  auto root = parse(p);
  ASSERT_EQ(root->kind, PyObj::Kind::Dict);
  ASSERT_EQ(root->dict.size(), 2u);
  EXPECT_EQ(root->dict[0].second, root->dict[1].second);  // shared, not copied
  EXPECT_EQ(root->dict[0].second->items.size(), 2u);
}

TEST(PickleReader, AContainerCannotBeAppendedToItself) {
  // EMPTY_LIST, BINPUT 0, BINGET 0, APPEND: a list that contains itself (a reference cycle that leaks).
  EXPECT_THROW_WITH(parse(bytes("\x80\x02]q\x00h\x00" "a.")), FormatError, "already inside another one");
}

TEST(PickleReader, AContainerInsideAnotherOneCannotChangeSoNoCyclesForm) {
  // L0 = [], L1 = [], L0.append(L1), then L1.append(L0) would close the cycle L0 -> L1 -> L0.
  const std::string p = bytes("\x80\x02]q\x00]q\x01" "a" "h\x01h\x00" "a.");
  EXPECT_THROW_WITH(parse(p), FormatError, "already inside another one");
}

TEST(PickleReader, NestingIsLimitedSoDestructionCannotOverflowTheStack) {
  auto nested = [](int depth) {
    return "\x80\x02" + std::string(static_cast<size_t>(depth) + 1, ']') + std::string(static_cast<size_t>(depth), 'a') + ".";
  };
  EXPECT_NO_THROW(parse(nested(64)));
  EXPECT_THROW_WITH(parse(nested(65)), FormatError, "nested more than 64 levels deep");
  // A real file can hold a million APPENDs; the limit stops it early.
  EXPECT_THROW_WITH(parse(nested(100000)), FormatError, "nested more than 64 levels deep");
}

TEST(PickleReader, SparseMemoIndicesNeedNoTable) {
  // LONG_BINPUT/LONG_BINGET at a large index: the memo used to be a table resized to index + 1 (256 MB for
  // index 2^24 - 1, from a 6-byte input); it is a map now, so any index costs one entry.
  const std::string p = bytes("\x80\x02N" "r\xfe\xff\xff\xff" "0" "j\xfe\xff\xff\xff" ".");
  EXPECT_EQ(parse(p)->kind, PyObj::Kind::None);
  EXPECT_THROW_WITH(parse(bytes("\x80\x02j\x05\x00\x00\x00.")), FormatError, "memo index 5 was never stored");
}

TEST(PickleReader, ForbiddenGlobalsAndTruncationAreFormatErrors) {
  EXPECT_THROW_WITH(parse("\x80\x02" "cos\nsystem\n."), FormatError, "refusing to load global 'os.system'");
  EXPECT_THROW_WITH(parse(bytes("\x80\x02X\xff\x00\x00\x00" "ab")), FormatError, "unexpected end of data");
}

}  // namespace
}  // namespace bipeft::io
