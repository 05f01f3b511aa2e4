#pragma once
// Everything that belongs to one SQLite connection: its trace, its settings, and the stores its
// tables read (one per distinct set of module arguments, so every eponymous table shares one).
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "engine/table.hpp"
#include "model/store.hpp"
#include "session/config.hpp"
#include "util/statement_memo.hpp"

namespace mfsql {

class Session {
 public:
  // `interrupted` is polled while a store waits on the network (see session/interrupt.hpp).
  explicit Session(std::function<bool()> interrupted = {})
      : trace_(std::make_shared<Trace>()), settings_(std::make_shared<StoreSettings>()),
        interrupted_(std::move(interrupted)) {}
  ~Session();

  Trace& trace() { return *trace_; }
  StatementMemo& memo() { return memo_; }
  // Live: every store of the connection reads these, so a change applies to the next row read.
  StoreSettings& settings() { return *settings_; }

  // The store a table with these module arguments reads; opened once and kept. Throws UserError.
  std::shared_ptr<Store> store(const engine::ModuleArgs& args);

  // The effective configuration for these module arguments (for metaflow_config).
  Config config(const engine::ModuleArgs& args) const;

  // The module arguments every store-reading table accepts.
  static const std::vector<std::string>& table_arguments();

 private:
  std::shared_ptr<Trace> trace_;
  StatementMemo memo_;
  std::shared_ptr<StoreSettings> settings_;
  std::function<bool()> interrupted_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Store>> stores_;
};

// What a table's row function receives (engine/table.hpp declares it): the connection's session
// and the module arguments of the table, from which its store is opened on first use.
struct TableSource {
  Session* session = nullptr;
  engine::ModuleArgs args;
  std::shared_ptr<Session> keep_alive;

  // Throws UserError when the arguments or the configuration name no readable store.
  Store& store() {
    if (!store_) store_ = session->store(args);
    return *store_;
  }

 private:
  std::shared_ptr<Store> store_;
};

}  // namespace mfsql
