#pragma once
// The flows the generator writes and what their steps do: realistic artifacts, printed lines,
// durations and failures, drawn from a seeded Rng so every store is reproducible.
#include <array>
#include <string>
#include <vector>

#include "storegen/run_simulator.hpp"

namespace mfsql::storegen {

// Which step fails, and on how many attempts: {"train", 1} with @retry(times=2) on train is a
// transient failure the retry absorbs; {"evaluate", 1} without a retry fails the run.
struct FailurePlan {
  std::string step;
  int failing_attempts = 0;
};

// --- a five-step linear training flow: start -> load -> train -> evaluate -> end ----------------
// `steps` names the five steps; the third (train) carries @retry(times=2).
FlowSpec training_flow(std::string name, std::string script, const std::array<std::string, 5>& steps);

struct TrainingParams {
  double learning_rate = 0.001;
  int64_t epochs = 10;
  std::string dataset = "imdb-reviews";
};
TrainingParams draw_training_params(Rng& rng);
std::vector<std::pair<std::string, PyRef>> training_parameters(const TrainingParams& params);

StepScript training_script(const FlowSpec& flow, const TrainingParams& params, FailurePlan failure, uint64_t seed);

// --- a tiny two-step flow: start -> hello -> end --------------------------------------------------
FlowSpec hello_flow();
StepScript hello_script(uint64_t seed);

// --- start -> fan_out (foreach) -> process -> combine -> end ----------------------------------
FlowSpec fan_out_flow(std::string name, std::string script);
// `items`: the foreach values as str() shows them; integer-looking items are processed as ints.
StepScript fan_out_script(const FlowSpec& flow, std::vector<std::string> items, FailurePlan failure, uint64_t seed);

}  // namespace mfsql::storegen
