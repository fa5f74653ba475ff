// Metadata: insertion order, replacement, and typed getters that name the key on failure.
#include <gtest/gtest.h>

#include "format/metadata.h"
#include "format_test_util.h"

namespace llmr {
namespace {

using testing::expect_error;

TEST(Metadata, KeepsInsertionOrderAndReplacesInPlace) {
  Metadata m;
  m.set("b", MetaValue::u32(1));
  m.set("a", MetaValue::str("x"));
  m.set("b", MetaValue::u32(7));
  ASSERT_EQ(m.entries().size(), 2u);
  EXPECT_EQ(m.entries()[0].first, "b");
  EXPECT_EQ(m.entries()[1].first, "a");
  EXPECT_EQ(m.get_int("b"), 7);
  EXPECT_TRUE(m.has("a"));
  EXPECT_FALSE(m.has("c"));
  EXPECT_EQ(m.find("c"), nullptr);
}

TEST(Metadata, IntegerGetterAcceptsEveryIntegerWidthOnly) {
  std::uniform_int_distribution<int32_t> d(-1000000, 1000000);
  int32_t v = d(testing::rng());
  Metadata m;
  m.set("i8", {MetaType::I8, int64_t(int8_t(v))});
  m.set("u16", {MetaType::U16, uint64_t(uint16_t(v))});
  m.set("i32", MetaValue::i32(v));
  m.set("u64", MetaValue::u64(uint64_t(uint32_t(v))));
  m.set("i64", {MetaType::I64, int64_t(v) * 3});
  m.set("big", MetaValue::u64(~uint64_t(0)));
  m.set("f", MetaValue::f32(1.5f));
  m.set("b", MetaValue::boolean(true));
  EXPECT_EQ(m.get_int("i8"), int8_t(v));
  EXPECT_EQ(m.get_int("u16"), uint16_t(v));
  EXPECT_EQ(m.get_int("i32"), v);
  EXPECT_EQ(m.get_int("u64"), int64_t(uint32_t(v)));
  EXPECT_EQ(m.get_int("i64"), int64_t(v) * 3);
  expect_error([&] { m.get_int("big"); }, {"'big'", "int64"});
  expect_error([&] { m.get_int("f"); }, {"'f'", "f32", "integer"});
  expect_error([&] { m.get_int("b"); }, {"'b'", "bool"});
  expect_error([&] { m.get_int("nope"); }, {"'nope'", "missing"});
}

TEST(Metadata, FloatGetterAcceptsFloatsAndIntegers) {
  float f = testing::random_floats(1, -100, 100)[0];
  Metadata m;
  m.set("f32", MetaValue::f32(f));
  m.set("f64", {MetaType::F64, double(f) * 2});
  m.set("u32", MetaValue::u32(12));
  m.set("i32", MetaValue::i32(-5));
  m.set("s", MetaValue::str("1.0"));
  EXPECT_EQ(m.get_float("f32"), double(f));
  EXPECT_EQ(m.get_float("f64"), double(f) * 2);
  EXPECT_EQ(m.get_float("u32"), 12.0);
  EXPECT_EQ(m.get_float("i32"), -5.0);
  expect_error([&] { m.get_float("s"); }, {"'s'", "string", "number"});
}

TEST(Metadata, StringBoolArrayGetters) {
  Metadata m;
  m.set("s", MetaValue::str("hello"));
  m.set("b", MetaValue::boolean(false));
  m.set("tokens", MetaValue::array(MetaType::STRING, {MetaValue::str("a"), MetaValue::str(""), MetaValue::str("c")}));
  m.set("ints", MetaValue::array(MetaType::I32, {MetaValue::i32(1)}));
  EXPECT_EQ(m.get_string("s"), "hello");
  EXPECT_FALSE(m.get_bool("b"));
  EXPECT_EQ(m.get_string_array("tokens"), (std::vector<std::string>{"a", "", "c"}));
  EXPECT_EQ(m.get_array("ints").values.size(), 1u);
  expect_error([&] { m.get_string("b"); }, {"'b'", "bool", "string"});
  expect_error([&] { m.get_bool("s"); }, {"'s'", "string", "bool"});
  expect_error([&] { m.get_array("s"); }, {"'s'", "array"});
  expect_error([&] { m.get_string_array("ints"); }, {"'ints'", "i32"});
}

TEST(Metadata, OptionalGettersAreEmptyOnlyWhenMissing) {
  Metadata m;
  m.set("n", MetaValue::u32(3));
  m.set("s", MetaValue::str("x"));
  EXPECT_EQ(m.int_or("n"), 3);
  EXPECT_FALSE(m.int_or("missing").has_value());
  EXPECT_FALSE(m.float_or("missing").has_value());
  EXPECT_FALSE(m.string_or("missing").has_value());
  EXPECT_EQ(m.string_or("s"), "x");
  EXPECT_EQ(m.float_or("n"), 3.0);
  expect_error([&] { m.int_or("s"); }, {"'s'"});
  expect_error([&] { m.string_or("n"); }, {"'n'"});
}

}  // namespace
}  // namespace llmr
