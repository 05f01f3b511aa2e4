// mfsql-storegen: writes a Metaflow local store for demos and benchmarks. See --help.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "storegen/storegen.hpp"

namespace {

const char* kUsage =
    "usage: mfsql-storegen --out DIR [--sample] [--runs N] [--foreach N] [--recursive N] [--seed S] [--force]\n"
    "                      [--start-time EPOCH_SECONDS] [--threads T]\n"
    "\n"
    "Writes DIR/.metaflow in Metaflow 2.19's exact local layout (metadata, datastore, logs).\n"
    "  --sample      a small demo store: HelloFlow, TrainingFlow (ok, tagged, @retry, failed,\n"
    "                resumed runs) and FanOutFlow (a 5-way foreach)\n"
    "  --runs N      N runs of BenchFlow (start -> a -> b -> c -> end)\n"
    "  --foreach N   one run of BenchForeachFlow with an N-way foreach\n"
    "  --recursive N one run of BenchRecursiveFlow: start -> loop (a switch back to itself, N times) -> end,\n"
    "                and one of BenchRecursiveForeachFlow: a 12-way foreach whose body loops N times\n"
    "  --seed S      the same seed writes the same store (default 1)\n"
    "  --force       replace DIR/.metaflow when it exists (deletes it first)\n"
    "  --start-time  when the first run starts (default 1748854800 = 2025-06-02T09:00:00Z)\n"
    "  --threads T   worker threads (default: one per core)\n";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "mfsql-storegen: %s\n\n%s", message.c_str(), kUsage);
  std::exit(2);
}

long long number(const char* flag, const char* text) {
  char* end = nullptr;
  long long value = std::strtoll(text, &end, 10);
  if (!text[0] || *end || value < 0) usage_error(std::string(flag) + " needs a non-negative integer, not '" + text + "'");
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  mfsql::storegen::GenerateOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--out") options.out_dir = value();
    else if (arg == "--sample") options.sample = true;
    else if (arg == "--force") options.force = true;
    else if (arg == "--runs") options.runs = static_cast<int>(number("--runs", value()));
    else if (arg == "--foreach") options.foreach_width = static_cast<int>(number("--foreach", value()));
    else if (arg == "--recursive") options.recursive_iterations = static_cast<int>(number("--recursive", value()));
    else if (arg == "--seed") options.seed = static_cast<uint64_t>(number("--seed", value()));
    else if (arg == "--start-time") options.start_time_s = number("--start-time", value());
    else if (arg == "--threads") options.threads = static_cast<unsigned>(number("--threads", value()));
    else usage_error("unknown argument '" + arg + "'");
  }
  if (options.out_dir.empty()) usage_error("--out DIR is required");
  if (!options.sample && options.runs == 0 && options.foreach_width == 0 && options.recursive_iterations == 0)
    usage_error("nothing to write: give --sample, --runs N, --foreach N and/or --recursive N");

  auto started = std::chrono::steady_clock::now();
  try {
    auto summary = mfsql::storegen::generate_store(options);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("wrote %s: %zu flows, %zu runs, %zu tasks, %zu blobs in %.1f s\n", summary.metaflow_root.c_str(),
                summary.flows, summary.runs, summary.tasks, summary.blobs, seconds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mfsql-storegen: %s\n", e.what());
    return 1;
  }
  return 0;
}
