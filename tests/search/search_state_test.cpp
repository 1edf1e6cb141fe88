#include "bipeft/search/search_state.h"

#include <gtest/gtest.h>

#include "bipeft/core/error.h"

namespace bipeft::search {
namespace {

SearchState sample_state() {
  SearchState s;
  s.step = 17;
  s.epoch = 2;
  s.batch = 3;
  s.done = false;
  s.epochs_run = 3;
  s.total_steps = 40;
  s.seconds = 1.5;
  s.remaining_triggers = 4;
  s.triggers = 6;
  s.last_trigger_step = 15;
  s.stage = 1;
  s.filled = 2;
  s.decisions = {{true, true, 0}, {false, true, 2}, {false, false, -1}};
  s.sizes = {0, 96, 72.5};
  s.beta_choice = {0, 1, -1};
  s.curve = {{1, 300, 280}, {2, 290, 200}};
  s.sensitivity = {0.1, 0.2, 0.3};
  s.sensitivity_spread = {0.01, 0.02, 0.0};
  s.detector_recent = {{1, 0, 1}, {1, 1, 0}};
  s.detector_seen = 9;
  s.rank_gains = {0.5, 0.25};
  s.gate_effect_samples = 12;
  return s;
}

TEST(SearchState, JsonRoundTripKeepsEveryField) {
  const auto s = sample_state();
  const auto j = s.to_json();
  // The key names earlier releases wrote (a saved search of theirs stays resumable).
  for (const char* key : {"step", "epoch", "batch", "done", "total_steps", "modules", "state", "sizes", "sensitivity",
                          "detector", "detector_seen", "k_rem", "last_trigger_step", "stage", "triggers", "filled",
                          "beta_choice", "rank_gains", "epochs_run", "curve", "seconds", "gate_effect_samples",
                          "sensitivity_spread"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j.at("modules"), 3);
  const auto r = SearchState::from_json(j, "state.safetensors");
  EXPECT_EQ(r.to_json(), j);
  ASSERT_EQ(r.decisions.size(), 3u);
  EXPECT_TRUE(r.decisions[0].removed);
  EXPECT_EQ(r.decisions[1].fixed_index, 2);
  EXPECT_EQ(r.remaining_triggers, 4);
  EXPECT_EQ(r.detector_recent.size(), 2u);
  ASSERT_TRUE(r.gate_effect_samples.has_value());
  EXPECT_EQ(*r.gate_effect_samples, 12);
}

TEST(SearchState, FieldsNewerThanAStateTakeTheirDefaults) {
  auto j = sample_state().to_json();
  for (const char* key : {"last_trigger_step", "filled", "rank_gains", "gate_effect_samples", "sensitivity_spread"})
    j.erase(key);
  const auto r = SearchState::from_json(j, "old.safetensors");
  EXPECT_EQ(r.last_trigger_step, -1);
  EXPECT_EQ(r.filled, 0);
  EXPECT_TRUE(r.rank_gains.empty());
  EXPECT_TRUE(r.sensitivity_spread.empty());
  EXPECT_FALSE(r.gate_effect_samples.has_value());
  EXPECT_FALSE(r.to_json().contains("gate_effect_samples"));
}

TEST(SearchState, AMissingOrDamagedFieldIsNamed) {
  auto j = sample_state().to_json();
  j.erase("k_rem");
  try {
    SearchState::from_json(j, "run/search_state.safetensors");
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("run/search_state.safetensors"), std::string::npos) << what;
    EXPECT_NE(what.find("\"k_rem\""), std::string::npos) << what;
  }
  auto k = sample_state().to_json();
  k["modules"] = 5;  // disagrees with the three decisions
  EXPECT_THROW(SearchState::from_json(k, "x"), FormatError);
  auto m = sample_state().to_json();
  m["sizes"] = "many";
  try {
    SearchState::from_json(m, "x");
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("\"sizes\""), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bipeft::search
