#include "storegen/storegen.hpp"

#include <atomic>
#include <cstdio>
#include <map>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "storegen/scenarios.hpp"

namespace fs = std::filesystem;

namespace mfsql::storegen {

namespace {

constexpr int64_t kSecond = 1000000;
constexpr int64_t kMinute = 60 * kSecond;

class Generator {
 public:
  Generator(StoreWriter& store, const GenerateOptions& options) : store_(store), options_(options) {}

  GenerateSummary run() {
    std::vector<std::function<void()>> jobs;
    if (options_.foreach_width > 0) jobs.push_back([this] { bench_foreach(); });  // the longest job first
    if (options_.sample) jobs.push_back([this] { sample(); });
    if (options_.runs > 0) add_bench_runs(jobs);
    if (options_.recursive_iterations > 0) jobs.push_back([this] { bench_recursive(); });
    run_jobs(jobs);
    GenerateSummary summary;
    summary.metaflow_root = store_.root();
    summary.flows = flows_;
    summary.runs = runs_;
    summary.tasks = tasks_;
    for (const auto& flow : {"HelloFlow", "TrainingFlow", "FanOutFlow", "BenchFlow", "BenchForeachFlow", "BenchRecursiveFlow",
                              "BenchRecursiveForeachFlow"})
      if (blob_stores_.count(flow)) summary.blobs += blob_stores_.at(flow)->blob_count();
    return summary;
  }

 private:
  BlobStore& blobs(const std::string& flow, int64_t first_run_us) {
    std::lock_guard lock(mutex_);
    BlobStore& b = store_.blobs(flow, static_cast<uint32_t>(first_run_us / kSecond));
    blob_stores_[flow] = &b;
    return b;
  }

  // The flow's own files, from its first run (its _self.json) and last fresh run (latest_run).
  void write_flow(const std::string& flow, int64_t first_run_us, const std::string& latest_run) {
    store_.write_flow_self(flow, first_run_us / 1000 + 1);
    store_.write_latest_run(flow, latest_run);
    ++flows_;
  }

  RunRecord play(const FlowSpec& flow, RunPlan plan) {
    plan.identity.flow = flow.name;
    plan.identity.run_id = std::to_string(plan.start_us);
    plan.seed = options_.seed;
    RunRecord record = simulate_run(store_, flow, plan, blobs(flow.name, plan.start_us));
    ++runs_;
    tasks_ += record.tasks.size();
    return record;
  }

  static RunPlan plan(int64_t start_us, std::string user, std::vector<std::string> tags,
                      std::vector<std::pair<std::string, PyRef>> parameters, StepScript script) {
    RunPlan p;
    p.start_us = start_us;
    p.identity.user = std::move(user);
    p.identity.tags = std::move(tags);
    p.parameters = std::move(parameters);
    p.script = std::move(script);
    return p;
  }

  uint64_t sub_seed(uint64_t n) const { return Rng::derive(options_.seed, "sample-script", n).next(); }

  // A demo store: each kind of run a reader has to get right, in three small flows.
  void sample() {
    Rng rng = Rng::derive(options_.seed, "sample");
    int64_t t = options_.start_time_s * kSecond + rng.between(0, kSecond - 1);

    FlowSpec hello = hello_flow();
    std::vector<std::pair<std::string, PyRef>> hello_params = {{"greeting", py_str("Hello")}};
    int64_t hello_first = t;
    play(hello, plan(t, "alice", {}, hello_params, hello_script(sub_seed(1))));
    t += 47 * kMinute + rng.between(0, kSecond);
    RunPlan packaged = plan(t, "bob", {"demo"}, hello_params, hello_script(sub_seed(2)));
    packaged.code_package = true;  // so that code_files has rows to show
    auto hello_last = play(hello, packaged);
    write_flow("HelloFlow", hello_first, hello_last.run_id);

    FlowSpec training = training_flow("TrainingFlow", "training_flow.py", {"start", "load_data", "train", "evaluate", "end"});
    t += 3 * 60 * kMinute + rng.between(0, kSecond);
    int64_t training_first = t;
    TrainingParams p1{0.001, 10, "imdb-reviews"}, p2{0.0003, 12, "imdb-reviews"}, p3{0.003, 8, "sst2"};
    auto r1 = play(training, plan(t, "alice", {}, training_parameters(p1), training_script(training, p1, {}, sub_seed(11))));
    t = r1.end_us + 26 * kMinute + rng.between(0, kSecond);
    play(training, plan(t, "alice", {"team:ml", "release:v1.2"}, training_parameters(p2),
                        training_script(training, p2, {"train", 1}, sub_seed(12))));  // @retry absorbs attempt 0
    t += 2 * 60 * kMinute + rng.between(0, kSecond);
    RunRecord failed = play(training, plan(t, "alice", {"nightly"}, training_parameters(p3),
                                           training_script(training, p3, {"evaluate", 1}, sub_seed(13))));
    t = failed.end_us + 18 * kMinute + rng.between(0, kSecond);
    RunPlan resume = plan(t, "alice", {"nightly", "resumed"}, training_parameters(p3), training_script(training, p3, {}, sub_seed(13)));
    resume.resume_of = &failed;
    play(training, resume);
    write_flow("TrainingFlow", training_first, failed.run_id);  // `resume` does not move latest_run

    FlowSpec fan_out = fan_out_flow("FanOutFlow", "fan_out_flow.py");
    t += 5 * 60 * kMinute + rng.between(0, kSecond);
    std::vector<std::string> regions = {"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1"};
    auto fan = play(fan_out, plan(t, "alice", {"team:data"}, {{"batch_date", py_str("2025-06-01")}},
                                  fan_out_script(fan_out, regions, {}, sub_seed(21))));
    write_flow("FanOutFlow", t, fan.run_id);
  }

  // BenchFlow: runs spread over weeks, by three users, some tagged, some retried, some failed.
  void add_bench_runs(std::vector<std::function<void()>>& jobs) {
    bench_flow_ = training_flow("BenchFlow", "bench_flow.py", {"start", "a", "b", "c", "end"});
    Rng rng = Rng::derive(options_.seed, "bench");
    int64_t t = options_.start_time_s * kSecond + 24 * 60 * kMinute + rng.between(0, kSecond - 1);
    const std::vector<std::string> users = {"alice", "alice", "alice", "bob", "bob", "carol"};
    const std::vector<std::string> tag_pool = {"team:ml", "team:data", "nightly", "experiment:baseline",
                                               "experiment:wide", "release:v1.2", "owner:bob"};
    std::vector<RunPlan> plans;
    for (int i = 0; i < options_.runs; ++i) {
      Rng run_rng = Rng::derive(options_.seed, "bench-run", static_cast<uint64_t>(i));
      std::vector<std::string> tags;
      if (run_rng.chance(0.35)) tags.push_back(run_rng.pick(tag_pool));
      if (run_rng.chance(0.15)) {
        std::string extra = run_rng.pick(tag_pool);
        if (tags.empty() || tags[0] != extra) tags.push_back(extra);
      }
      double roll = run_rng.unit();
      FailurePlan failure = roll < 0.06 ? FailurePlan{"b", 1} : roll < 0.07 ? FailurePlan{"b", 3}
                                                              : roll < 0.10 ? FailurePlan{"c", 1} : FailurePlan{};
      TrainingParams params = draw_training_params(run_rng);
      plans.push_back(plan(t, run_rng.pick(users), tags, training_parameters(params),
                           training_script(bench_flow_, params, failure, run_rng.next())));
      plans.back().code_package = options_.code_packages;
      t += run_rng.between(20, 90) * kMinute + run_rng.between(0, kSecond - 1);
    }
    write_flow("BenchFlow", plans.front().start_us, std::to_string(plans.back().start_us));
    auto shared = std::make_shared<std::vector<RunPlan>>(std::move(plans));
    // Batches of runs per job: few enough jobs to be cheap, enough to balance two cores.
    const size_t batch = 25;
    for (size_t first = 0; first < shared->size(); first += batch)
      jobs.push_back([this, shared, first, batch] {
        for (size_t i = first; i < std::min(shared->size(), first + batch); ++i) play(bench_flow_, (*shared)[i]);
      });
  }

  void bench_foreach() {
    FlowSpec flow = fan_out_flow("BenchForeachFlow", "bench_foreach_flow.py");
    Rng rng = Rng::derive(options_.seed, "bench-foreach");
    int64_t t = options_.start_time_s * kSecond + 12 * 60 * kMinute + rng.between(0, kSecond - 1);
    std::vector<std::string> items;
    for (int i = 0; i < options_.foreach_width; ++i) items.push_back(std::to_string(i));
    auto record = play(flow, plan(t, "alice", {"scale:" + std::to_string(options_.foreach_width)},
                                  {{"batch_date", py_str("2025-06-02")}}, fan_out_script(flow, items, {}, rng.next())));
    write_flow("BenchForeachFlow", t, record.run_id);
  }

  void bench_recursive() {
    FlowSpec flow = linear_flow("BenchRecursiveFlow", "bench_recursive_flow.py", {"start", "loop", "end"});
    StepSpec& loop = flow.steps[1];
    loop.type = "split-switch";
    loop.next = {"loop", "end"};
    loop.iterations = options_.recursive_iterations;
    Rng rng = Rng::derive(options_.seed, "bench-recursive");
    int64_t t = options_.start_time_s * kSecond + 13 * 60 * kMinute + rng.between(0, kSecond - 1);
    auto iteration = std::make_shared<int64_t>(0);
    StepScript script = [iteration](const TaskInput& in) -> StepOutcome {
      StepOutcome out;
      if (in.step.name == "loop") {
        out.artifacts = {{"iteration", py_int(++*iteration)}};
        out.stdout_lines = {"iteration " + std::to_string(*iteration)};
      }
      out.seconds = 0.2;
      return out;
    };
    auto record = play(flow, plan(t, "alice", {"loop"}, {}, std::move(script)));
    write_flow("BenchRecursiveFlow", t, record.run_id);

    FlowSpec in_foreach = fan_out_flow("BenchRecursiveForeachFlow", "bench_recursive_foreach_flow.py");
    StepSpec& body = in_foreach.steps[2];
    body.type = "split-switch";
    body.next = {body.name, in_foreach.steps[3].name};
    body.iterations = options_.recursive_iterations;
    std::vector<std::string> items;
    for (int i = 0; i < 12; ++i) items.push_back(std::to_string(i));  // 12: "process:1" is a prefix of "process:10"
    t += 30 * kMinute;
    auto looped = play(in_foreach, plan(t, "alice", {"loop"}, {{"batch_date", py_str("2025-06-02")}},
                                        fan_out_script(in_foreach, items, {}, rng.next())));
    write_flow("BenchRecursiveForeachFlow", t, looped.run_id);
  }

  void run_jobs(std::vector<std::function<void()>>& jobs) {
    unsigned threads = options_.threads ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
    std::atomic<size_t> next{0};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    auto worker = [&] {
      for (size_t i; (i = next++) < jobs.size();) {
        try {
          jobs[i]();
        } catch (...) {
          std::lock_guard lock(failure_mutex);
          if (!failure) failure = std::current_exception();
        }
      }
    };
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back(worker);
    worker();
    for (auto& th : pool) th.join();
    if (failure) std::rethrow_exception(failure);
  }

  StoreWriter& store_;
  const GenerateOptions& options_;
  FlowSpec bench_flow_;
  std::mutex mutex_;
  std::map<std::string, BlobStore*> blob_stores_;
  std::atomic<size_t> flows_{0}, runs_{0}, tasks_{0};
};

}  // namespace

GenerateSummary generate_store(const GenerateOptions& options) {
  if (options.out_dir.empty()) throw std::runtime_error("no output folder given");
  fs::path root = options.out_dir / ".metaflow";
  if (fs::exists(fs::symlink_status(root))) {
    if (!options.force) throw std::runtime_error(root.string() + " already exists (use --force to replace it)");
    if (!fs::is_directory(fs::symlink_status(root))) throw std::runtime_error(root.string() + " is not a folder");
    fs::remove_all(root);
  }
  fs::create_directories(root);
  Environment env;
  env.ds_root = fs::canonical(root).string();
  StoreWriter store(env.ds_root, env);
  return Generator(store, options).run();
}

std::string ensure_bench_store(const std::filesystem::path& dir, int runs, int foreach_width, const char* who) {
  if (!std::filesystem::exists(dir / ".metaflow")) {
    std::fprintf(stderr, "%s: writing %s (%d runs, %d-task foreach)...\n", who, dir.c_str(), runs, foreach_width);
    GenerateOptions o;
    o.out_dir = dir;
    o.runs = runs;
    o.foreach_width = foreach_width;
    generate_store(o);
  }
  return dir.string();
}

}  // namespace mfsql::storegen
