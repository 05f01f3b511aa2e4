#include <cmath>
#include <cstdio>
#include <memory>

#include "storegen/scenarios.hpp"

namespace mfsql::storegen {

namespace {

std::string format(const char* pattern, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, pattern, a, b, c);
  return buf;
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

double round_to(double v, int places) {
  double scale = std::pow(10.0, places);
  return std::round(v * scale) / scale;
}

// Everything one training run "computes", drawn up front so later steps agree with earlier ones.
struct TrainingRun {
  TrainingParams params;
  FailurePlan failure;
  std::array<std::string, 5> steps;
  std::string model;
  int64_t batch_size = 64, seed = 0, rows = 0, train_rows = 0, valid_rows = 0, test_rows = 0;
  double positive_share = 0.5, accuracy = 0, precision = 0, recall = 0, auc = 0, final_loss = 0;
  std::vector<double> losses;
  double train_seconds = 0;
};

std::shared_ptr<TrainingRun> draw_run(const FlowSpec& flow, const TrainingParams& params, FailurePlan failure, uint64_t seed) {
  auto run = std::make_shared<TrainingRun>();
  Rng rng(seed);
  run->params = params;
  run->failure = std::move(failure);
  for (size_t i = 0; i < 5; ++i) run->steps[i] = flow.steps[i].name;
  run->model = rng.pick(std::vector<std::string>{"distilbert-base", "roberta-small", "logreg-tfidf", "xgboost-hist"});
  run->batch_size = rng.pick(std::vector<int64_t>{32, 64, 128, 256});
  run->seed = rng.between(1, 99999);
  run->rows = rng.between(20000, 2500000);
  run->test_rows = run->rows / 10;
  run->valid_rows = run->rows / 10;
  run->train_rows = run->rows - run->test_rows - run->valid_rows;
  run->positive_share = round_to(rng.uniform(0.35, 0.65), 4);
  double loss = rng.uniform(0.65, 0.72);
  for (int64_t e = 0; e < params.epochs; ++e) {
    loss *= rng.uniform(0.80, 0.97);
    run->losses.push_back(round_to(loss, 5));
  }
  run->final_loss = run->losses.empty() ? loss : run->losses.back();
  run->accuracy = round_to(std::min(0.995, 0.98 - run->final_loss * 0.3 + rng.uniform(-0.03, 0.01)), 4);
  run->precision = round_to(std::min(0.999, run->accuracy + rng.uniform(-0.03, 0.03)), 4);
  run->recall = round_to(std::min(0.999, run->accuracy + rng.uniform(-0.04, 0.02)), 4);
  run->auc = round_to(std::min(0.999, run->accuracy + rng.uniform(0.01, 0.05)), 4);
  run->train_seconds = round_to(static_cast<double>(params.epochs) * rng.uniform(6, 40), 2);
  return run;
}

StepOutcome start_step(const TrainingRun& run) {
  StepOutcome out;
  out.artifacts = {{"config", py_dict({{"model", py_str(run.model)},
                                       {"optimizer", py_str("adamw")},
                                       {"batch_size", py_int(run.batch_size)},
                                       {"learning_rate", py_float(run.params.learning_rate)},
                                       {"epochs", py_int(run.params.epochs)},
                                       {"seed", py_int(run.seed)}})},
                   {"seed", py_int(run.seed)}};
  out.stdout_lines = {"Training " + run.model + " on " + run.params.dataset,
                      format("batch_size=%.0f learning_rate=%g epochs=%.0f", static_cast<double>(run.batch_size),
                             run.params.learning_rate, static_cast<double>(run.params.epochs))};
  out.seconds = 0.4;
  return out;
}

StepOutcome load_step(const TrainingRun& run, Rng& rng) {
  StepOutcome out;
  out.artifacts = {
      {"n_rows", py_int(run.rows)},
      {"columns", py_list(py_str_list({"review_id", "text", "label", "source", "created_at"}))},
      {"split_sizes", py_dict({{"train", py_int(run.train_rows)}, {"validation", py_int(run.valid_rows)},
                               {"test", py_int(run.test_rows)}})},
      {"class_balance", py_dict({{"negative", py_float(round_to(1 - run.positive_share, 4))},
                                 {"positive", py_float(run.positive_share)}})},
  };
  out.stdout_lines = {"Loading s3://datasets/" + run.params.dataset + "/v3/part-*.parquet",
                      "Loaded " + with_commas(run.rows) + " rows, 5 columns",
                      "train=" + with_commas(run.train_rows) + " validation=" + with_commas(run.valid_rows) +
                          " test=" + with_commas(run.test_rows)};
  if (rng.chance(0.3))
    out.stderr_lines = {"/usr/lib/python3/dist-packages/pyarrow/pandas_compat.py:373: FutureWarning: "
                        "is_sparse is deprecated and will be removed in a future version."};
  out.seconds = static_cast<double>(run.rows) / 90000.0 + rng.uniform(2, 6);
  return out;
}

StepOutcome train_step(const TrainingRun& run, int attempt, Rng& rng) {
  StepOutcome out;
  out.artifacts = {{"model_name", py_str(run.model + "-" + std::to_string(run.seed))}};
  out.stdout_lines = {"attempt " + std::to_string(attempt) + ": training " + run.model};
  if (run.failure.step == run.steps[2] && attempt < run.failure.failing_attempts) {
    out.stdout_lines.push_back(format("epoch 1/%.0f loss=%.4f", static_cast<double>(run.params.epochs), 0.69));
    out.error = UserError{"builtins", "ConnectionResetError",
                          "[Errno 104] Connection reset by peer while reading s3://datasets/" + run.params.dataset +
                              "/v3/part-00007.parquet",
                          "batch = next(loader)", 7};
    out.seconds = rng.uniform(4, 20);
    return out;
  }
  std::vector<PyRef> history;
  for (double l : run.losses) history.push_back(py_float(l));
  size_t every = std::max<size_t>(1, run.losses.size() / 5);
  for (size_t e = 0; e < run.losses.size(); ++e)
    if ((e + 1) % every == 0 || e + 1 == run.losses.size())
      out.stdout_lines.push_back(format("epoch %.0f/%.0f loss=%.4f", static_cast<double>(e + 1),
                                        static_cast<double>(run.losses.size()), run.losses[e]));
  int64_t best = 1;
  for (size_t e = 0; e < run.losses.size(); ++e)
    if (run.losses[e] <= run.losses[static_cast<size_t>(best - 1)]) best = static_cast<int64_t>(e) + 1;
  out.artifacts.push_back({"loss_history", py_list(std::move(history))});
  out.artifacts.push_back({"best_epoch", py_int(best)});
  out.artifacts.push_back({"train_seconds", py_float(run.train_seconds)});
  out.artifacts.push_back({"checkpoint", py_str("s3://models/" + run.model + "/" + std::to_string(run.seed) + "/model.pt")});
  out.seconds = run.train_seconds / 20.0;
  return out;
}

StepOutcome evaluate_step(const TrainingRun& run, int attempt, Rng& rng) {
  StepOutcome out;
  int64_t positives = static_cast<int64_t>(static_cast<double>(run.test_rows) * run.positive_share);
  int64_t negatives = run.test_rows - positives;
  int64_t tp = static_cast<int64_t>(static_cast<double>(positives) * run.recall);
  int64_t tn = static_cast<int64_t>(static_cast<double>(negatives) * run.accuracy);
  out.stdout_lines = {"Evaluating on " + with_commas(run.test_rows) + " held-out rows"};
  if (run.failure.step == run.steps[3] && attempt < run.failure.failing_attempts) {
    out.error = UserError{"builtins", "ValueError",
                          "Only one class present in y_true. ROC AUC score is not defined in that case.",
                          "auc = roc_auc_score(labels, scores)", 5};
    out.seconds = rng.uniform(3, 9);
    return out;
  }
  double f1 = round_to(2 * run.precision * run.recall / (run.precision + run.recall), 4);
  out.artifacts = {
      {"metrics", py_dict({{"accuracy", py_float(run.accuracy)}, {"precision", py_float(run.precision)},
                           {"recall", py_float(run.recall)}, {"f1", py_float(f1)}, {"auc", py_float(run.auc)},
                           {"loss", py_float(run.final_loss)}})},
      {"confusion_matrix", py_list({py_list({py_int(tn), py_int(negatives - tn)}),
                                    py_list({py_int(positives - tp), py_int(tp)})})},
      {"passed_threshold", py_bool(run.accuracy >= 0.85)},
  };
  out.stdout_lines.push_back(format("accuracy=%.4f f1=%.4f auc=%.4f", run.accuracy, f1, run.auc));
  if (run.accuracy < 0.85) out.stderr_lines = {format("WARNING: accuracy %.4f is below the 0.85 release threshold", run.accuracy)};
  out.seconds = rng.uniform(4, 25);
  return out;
}

StepOutcome end_step(const TrainingRun& run) {
  StepOutcome out;
  std::string summary = run.model + " on " + run.params.dataset + format(": accuracy %.4f after %.0f epochs", run.accuracy,
                                                                          static_cast<double>(run.params.epochs));
  out.artifacts = {{"summary", py_str(summary)}};
  out.stdout_lines = {summary, "Done."};
  out.seconds = 0.2;
  return out;
}

}  // namespace

FlowSpec training_flow(std::string name, std::string script, const std::array<std::string, 5>& steps) {
  FlowSpec flow = linear_flow(std::move(name), std::move(script), {steps.begin(), steps.end()});
  flow.parameters = {{"learning_rate"}, {"epochs"}, {"dataset"}};
  flow.steps[2].decorators.push_back(retry_decorator(2));
  return flow;
}

TrainingParams draw_training_params(Rng& rng) {
  TrainingParams p;
  p.learning_rate = rng.pick(std::vector<double>{0.0001, 0.0003, 0.001, 0.003, 0.01});
  p.epochs = rng.pick(std::vector<int64_t>{5, 8, 10, 12, 20, 30});
  p.dataset = rng.pick(std::vector<std::string>{"imdb-reviews", "sst2", "yelp-polarity", "amazon-reviews"});
  return p;
}

std::vector<std::pair<std::string, PyRef>> training_parameters(const TrainingParams& params) {
  return {{"learning_rate", py_float(params.learning_rate)}, {"epochs", py_int(params.epochs)},
          {"dataset", py_str(params.dataset)}};
}

StepScript training_script(const FlowSpec& flow, const TrainingParams& params, FailurePlan failure, uint64_t seed) {
  auto run = draw_run(flow, params, std::move(failure), seed);
  return [run](const TaskInput& in) -> StepOutcome {
    const auto& s = run->steps;
    if (in.step.name == s[0]) return start_step(*run);
    if (in.step.name == s[1]) return load_step(*run, in.rng);
    if (in.step.name == s[2]) return train_step(*run, in.attempt, in.rng);
    if (in.step.name == s[3]) return evaluate_step(*run, in.attempt, in.rng);
    return end_step(*run);
  };
}

FlowSpec hello_flow() {
  FlowSpec flow = linear_flow("HelloFlow", "hello_flow.py", {"start", "hello", "end"});
  flow.parameters = {{"greeting"}};
  return flow;
}

StepScript hello_script(uint64_t seed) {
  return [seed](const TaskInput& in) -> StepOutcome {
    StepOutcome out;
    Rng rng(seed);
    if (in.step.name == "start") {
      out.stdout_lines = {"HelloFlow is starting."};
      out.seconds = 0.1;
    } else if (in.step.name == "hello") {
      out.artifacts = {{"message", py_str("Hello from Metaflow! ✓")}, {"lucky_number", py_int(rng.between(1, 100))}};
      out.stdout_lines = {"Hello from Metaflow! ✓"};
      out.seconds = 0.3;
    } else {
      out.stdout_lines = {"HelloFlow is all done."};
      out.seconds = 0.1;
    }
    return out;
  };
}

}  // namespace mfsql::storegen
