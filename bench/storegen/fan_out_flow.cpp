#include <cstdio>
#include <memory>

#include "storegen/scenarios.hpp"

namespace mfsql::storegen {

namespace {

bool looks_like_int(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return s.size() < 18;
}

PyRef item_value(const std::string& text) { return looks_like_int(text) ? py_int(std::stoll(text)) : py_str(text); }

std::string hex8(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

struct FanOutRun {
  std::vector<std::string> items;
  FailurePlan failure;
  std::string batch_date;
  std::vector<int64_t> records, errors;
};

}  // namespace

FlowSpec fan_out_flow(std::string name, std::string script) {
  FlowSpec flow = foreach_flow(std::move(name), std::move(script), "fan_out", "shards", "process", "combine");
  flow.parameters = {{"batch_date"}};
  return flow;
}

StepScript fan_out_script(const FlowSpec& flow, std::vector<std::string> items, FailurePlan failure, uint64_t seed) {
  auto run = std::make_shared<FanOutRun>();
  Rng rng(seed);
  run->items = std::move(items);
  run->failure = std::move(failure);
  for (size_t i = 0; i < run->items.size(); ++i) {
    run->records.push_back(rng.between(800, 60000));
    run->errors.push_back(rng.chance(0.2) ? rng.between(1, 40) : 0);
  }
  const std::string split = flow.steps[1].name, body = flow.steps[2].name, join = flow.steps[3].name;
  return [run, split, body, join](const TaskInput& in) -> StepOutcome {
    StepOutcome out;
    const std::string& step = in.step.name;
    if (step == "start") {
      out.artifacts = {{"source", py_str("s3://events/clickstream/")}};
      out.stdout_lines = {"Partitioning s3://events/clickstream/ into " + std::to_string(run->items.size()) + " shards"};
      out.seconds = 0.5;
    } else if (step == split) {
      std::vector<PyRef> shards;
      for (const auto& item : run->items) shards.push_back(item_value(item));
      out.artifacts = {{"shards", py_list(std::move(shards))}};
      out.foreach_values = run->items;
      out.stdout_lines = {"Fanning out over " + std::to_string(run->items.size()) + " shards"};
      out.seconds = 0.3;
    } else if (step == body) {
      size_t i = static_cast<size_t>(in.frame ? in.frame->index : 0);
      const std::string& item = run->items[i];
      out.stdout_lines = {"shard " + item + ": reading " + std::to_string(run->records[i]) + " records"};
      if (run->failure.step == body && in.attempt < run->failure.failing_attempts && i == 2) {
        out.artifacts = {{"shard", item_value(item)}};
        out.error = UserError{"builtins", "TimeoutError", "shard " + item + " did not answer within 30 s",
                              "rows = fetch(self.shard, timeout=30)", 4};
        out.seconds = in.rng.uniform(1, 3);
        return out;
      }
      double mean = in.rng.uniform(20, 400);
      out.artifacts = {
          {"shard", item_value(item)},
          {"records", py_int(run->records[i])},
          {"errors", py_int(run->errors[i])},
          {"checksum", py_str(hex8(in.rng.next()))},
          {"latency_ms", py_dict({{"mean", py_float(mean)}, {"p95", py_float(mean * in.rng.uniform(1.8, 3.5))}})},
      };
      out.stdout_lines.push_back("shard " + item + ": done, " + std::to_string(run->errors[i]) + " bad rows");
      if (run->errors[i] > 0) out.stderr_lines = {"shard " + item + ": skipped " + std::to_string(run->errors[i]) + " malformed rows"};
      out.seconds = in.rng.uniform(0.5, 6);
    } else if (step == join) {
      int64_t records = 0, errors = 0;
      for (size_t i = 0; i < run->items.size(); ++i) {
        records += run->records[i];
        errors += run->errors[i];
      }
      out.artifacts = {{"total_records", py_int(records)}, {"total_errors", py_int(errors)},
                       {"shard_count", py_int(in.num_inputs)}};
      out.stdout_lines = {"Combined " + std::to_string(in.num_inputs) + " shards: " + std::to_string(records) + " records"};
      out.seconds = 0.5 + static_cast<double>(in.num_inputs) * 0.01;
    } else {
      out.artifacts = {{"report", py_dict({{"status", py_str("ok")}, {"shards", py_int(static_cast<int64_t>(run->items.size()))}})}};
      out.stdout_lines = {"Report published."};
      out.seconds = 0.2;
    }
    return out;
  };
}

}  // namespace mfsql::storegen
