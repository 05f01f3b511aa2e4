#pragma once
// mfsql-storegen: writes a local Metaflow store (`<out>/.metaflow`) in Metaflow 2.19's exact
// layout, for the README's demo (`sample`) and for benchmarks (`runs`, `foreach_width`).
#include <cstdint>
#include <filesystem>
#include <string>

namespace mfsql::storegen {

struct GenerateOptions {
  std::filesystem::path out_dir;  // the store goes to out_dir/.metaflow
  bool force = false;             // replace an existing out_dir/.metaflow
  bool sample = false;            // HelloFlow, TrainingFlow, FanOutFlow: a few runs of each kind
  int runs = 0;                   // BenchFlow runs (start -> a -> b -> c -> end)
  int foreach_width = 0;          // one BenchForeachFlow run with this many foreach tasks
  int recursive_iterations = 0;   // one BenchRecursiveFlow run: start -> loop (a switch back to
                                  // itself, run this many times) -> end; and one
                                  // BenchRecursiveForeachFlow run: a 12-way foreach whose body
                                  // `process` loops back to itself as many times per item
  bool code_packages = false;     // BenchFlow runs upload a code package (named by every task but start)
  uint64_t seed = 1;
  int64_t start_time_s = 1748854800;  // 2025-06-02T09:00:00Z: the first run starts here
  unsigned threads = 0;               // 0: one per core
};

struct GenerateSummary {
  std::filesystem::path metaflow_root;
  size_t flows = 0, runs = 0, tasks = 0, blobs = 0;
};

// Throws std::runtime_error (e.g. when the store exists and `force` is off).
GenerateSummary generate_store(const GenerateOptions& options);

// A benchmark's store of `runs` BenchFlow runs and a `foreach_width` foreach, written to `dir`
// unless it holds one already (saying so on stderr, as `who`); returns dir.
std::string ensure_bench_store(const std::filesystem::path& dir, int runs, int foreach_width, const char* who);

}  // namespace mfsql::storegen
