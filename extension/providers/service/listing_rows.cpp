#include "providers/service/listing_rows.hpp"

#include <vector>

namespace mfsql::service {

namespace {

using nlohmann::json;

// Depth 1 is inside the list, 2 inside a row; a kept field's value is built whole (stack_), any
// other field is skipped as it is read.
class RowReader final : public nlohmann::json_sax<json> {
 public:
  RowReader(const std::function<bool(const std::string&)>& keep, const std::function<void(const json&)>& row)
      : keep_(keep), row_(row) {}
  bool saw_list = false;

  bool null() override { return put(json()); }
  bool boolean(bool v) override { return put(json(v)); }
  bool number_integer(number_integer_t v) override { return put(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return put(json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return put(json(v)); }
  bool string(string_t& v) override { return put(json(std::move(v))); }
  bool binary(binary_t&) override { return put(json()); }
  bool key(string_t& k) override {
    if (depth_ == 2) {
      keeping_ = keep_(k);
      key_ = std::move(k);
    } else if (!stack_.empty()) {
      inner_key_ = std::move(k);
    }
    return true;
  }
  bool start_object(std::size_t) override { return open(json::object()); }
  bool start_array(std::size_t) override {
    if (depth_ == 0) saw_list = true;
    return open(json::array());
  }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  // Where a value read at the current depth goes, or null when it is skipped.
  json* slot() {
    if (depth_ == 2) return keeping_ ? &current_[key_] : nullptr;
    if (stack_.empty()) return nullptr;
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(json());
      return &top.back();
    }
    return &top[inner_key_];
  }
  bool put(json v) {
    if (depth_ <= 1) return depth_ == 1;  // a scalar answer is not a list; a scalar row is skipped
    if (json* s = slot()) *s = std::move(v);
    return true;
  }
  bool open(json empty) {
    if (depth_ == 0 && !empty.is_array()) return false;  // not a list: parsed the usual way
    if (depth_ == 1) {  // a row; one that is not an object is skipped
      keeping_ = false;
      current_ = empty.is_object() ? json::object() : json();
    }
    if (depth_ >= 2)
      if (json* s = slot()) {
        *s = std::move(empty);
        stack_.push_back(s);
      }
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    if (depth_ >= 2 && !stack_.empty() && depth_ - 2 < static_cast<int>(stack_.size())) stack_.pop_back();
    if (depth_ == 1 && current_.is_object()) {
      row_(current_);
      current_ = json();
    }
    return true;
  }

  const std::function<bool(const std::string&)>& keep_;
  const std::function<void(const json&)>& row_;
  int depth_ = 0;
  bool keeping_ = false;
  std::string key_, inner_key_;
  json current_;
  std::vector<json*> stack_;  // the kept field's open containers, outermost first
};

}  // namespace

bool for_each_row(const std::string& text, const std::function<bool(const std::string&)>& keep,
                  const std::function<void(const json&)>& row) {
  RowReader reader(keep, row);
  return json::sax_parse(text, &reader) && reader.saw_list;
}

}  // namespace mfsql::service
