#include "providers/local/flat_json.hpp"

#include <algorithm>

namespace mfsql::flat_json {
namespace {

// A strict JSON scanner over one text. Every method returns false for text it will not judge
// (invalid JSON, escapes, non-ASCII, deep nesting): the general decoder then takes over.
class Scanner {
 public:
  Scanner(std::string_view s, std::vector<std::string_view>& items) : s_(s), items_(items) {}

  bool at_end() {
    ws();
    return i_ == s_.size();
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    ws();
    return i_ < s_.size() && s_[i_] == c;
  }

  bool string(std::string_view& out) {
    if (!eat('"')) return false;
    const size_t start = i_;
    for (; i_ < s_.size(); ++i_) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        out = s_.substr(start, i_ - start);
        ++i_;
        return true;
      }
      if (c == '\\' || c < 0x20 || c >= 0x80) return false;
    }
    return false;
  }

  // A member's value, classified into `f`; nested containers are validated and marked kOther.
  bool value(Field& f, int depth) {
    ws();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '"') {
      f.kind = Field::kString;
      return string(f.text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return number(f);
    if (c == '[') return array(f, depth);
    if (c == '{') {
      f.kind = Field::kOther;
      return object(depth);
    }
    for (auto [word, kind] : {std::pair{std::string_view("null"), Field::kNull}, std::pair{std::string_view("true"), Field::kBool},
                              std::pair{std::string_view("false"), Field::kBool}})
      if (s_.substr(i_, word.size()) == word) {
        i_ += word.size();
        f.kind = kind;
        return true;
      }
    return false;
  }

 private:
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool digit() const { return i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9'; }

  bool number(Field& f) {
    const size_t start = i_;
    const bool negative = s_[i_] == '-';
    if (negative) ++i_;
    if (!digit()) return false;
    if (s_[i_] == '0') {
      ++i_;
    } else {
      while (digit()) ++i_;
    }
    const size_t int_digits = i_ - start - (negative ? 1 : 0);
    bool integral = true;
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digit()) return false;
      while (digit()) ++i_;
      integral = false;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digit()) return false;
      while (digit()) ++i_;
      integral = false;
    }
    // Floats and huge integers are the general decoder's business, even in fields nobody reads:
    // it refuses a float that overflows to infinity, and so must this path.
    if (!integral || int_digits > 18) return false;
    int64_t n = 0;
    for (size_t k = start + (negative ? 1 : 0); k < i_; ++k) n = n * 10 + (s_[k] - '0');
    f.kind = Field::kInt;
    f.number = negative ? -n : n;
    return true;
  }

  bool array(Field& f, int depth) {
    if (depth > 16 || !eat('[')) return false;
    f.kind = Field::kStringArray;
    f.first_item = items_.size();
    f.item_count = 0;
    if (eat(']')) return true;
    do {
      Field item;
      if (!value(item, depth + 1)) return false;
      if (item.kind == Field::kString && f.kind == Field::kStringArray) {
        items_.push_back(item.text);
        ++f.item_count;
      } else {
        f.kind = Field::kOther;
      }
    } while (eat(','));
    if (f.kind != Field::kStringArray) f.item_count = 0;
    return eat(']');
  }

  bool object(int depth) {
    if (depth > 16 || !eat('{')) return false;
    if (eat('}')) return true;
    do {
      std::string_view key;
      Field member;
      if (!string(key) || !eat(':') || !value(member, depth + 1)) return false;
    } while (eat(','));
    return eat('}');
  }

  std::string_view s_;
  size_t i_ = 0;
  std::vector<std::string_view>& items_;
};

// string_or of model/json_fields: absent or null is "", a string is itself; other kinds undecided.
bool text_of(const Object& o, std::string_view key, std::string& out) {
  const Field* f = o.find(key);
  if (!f || f->kind == Field::kNull) {
    out.clear();
    return true;
  }
  if (f->kind != Field::kString) return false;
  out.assign(f->text);
  return true;
}

std::optional<int64_t> ts_of(const Object& o) {
  const Field* f = o.find("ts_epoch");
  if (!f || f->kind != Field::kInt) return std::nullopt;
  return f->number;
}

// A list of strings where the general decoder keeps the strings of an array and ignores any
// other scalar: false only for arrays holding non-strings (kOther).
bool strings_of(const Object& o, std::string_view key, std::vector<std::string>& out) {
  out.clear();
  const Field* f = o.find(key);
  if (!f) return true;
  if (f->kind == Field::kOther) return false;
  for (size_t i = 0; i < f->item_count; ++i) out.emplace_back(o.item(*f, i));
  return true;
}

// One Object per thread, reused: its buffers outlive each record.
Object& scratch() {
  thread_local Object o;
  return o;
}

}  // namespace

bool Object::parse(std::string_view text) {
  fields_.clear();
  items_.clear();
  Scanner s(text, items_);
  if (!s.eat('{')) return false;
  if (!s.eat('}')) {
    do {
      Field f;
      if (!s.string(f.key) || !s.eat(':') || !s.value(f, 1)) return false;
      fields_.push_back(std::move(f));
    } while (s.eat(','));
    if (!s.eat('}')) return false;
  }
  return s.at_end();
}

const Field* Object::find(std::string_view key) const {
  for (auto it = fields_.rbegin(); it != fields_.rend(); ++it)
    if (it->key == key) return &*it;
  return nullptr;
}

std::optional<int64_t> ts_epoch(std::string_view text) {
  Object& o = scratch();
  if (!o.parse(text)) return std::nullopt;
  return ts_of(o);
}

std::optional<RunRecord> run(std::string_view text, const ObjectPath& path) {
  Object& o = scratch();
  if (!o.parse(text)) return std::nullopt;
  RunRecord r;
  r.path = path;
  auto ts = ts_of(o);
  if (!ts || !text_of(o, "user_name", r.user_name) || !strings_of(o, "tags", r.tags) ||
      !strings_of(o, "system_tags", r.system_tags))
    return std::nullopt;
  r.ts_ms = *ts;
  for (auto* tags : {&r.tags, &r.system_tags}) {
    std::sort(tags->begin(), tags->end());
    tags->erase(std::unique(tags->begin(), tags->end()), tags->end());
  }
  if (const Field* hb = o.find("last_heartbeat_ts")) {
    if (hb->kind == Field::kOther) return std::nullopt;  // perhaps a float
    if (hb->kind == Field::kInt) r.last_heartbeat_s = hb->number;
  }
  return r;
}

std::optional<ArtifactRecord> artifact(std::string_view text, const ObjectPath& task, int attempt) {
  Object& o = scratch();
  if (!o.parse(text)) return std::nullopt;
  ArtifactRecord a;
  a.task = task;
  a.attempt = attempt;
  auto ts = ts_of(o);
  if (!ts || !text_of(o, "name", a.name) || !text_of(o, "sha", a.sha) || !text_of(o, "content_type", a.content_type) ||
      !text_of(o, "location", a.location) || !text_of(o, "ds_type", a.ds_type))
    return std::nullopt;
  if (a.name.empty() || a.sha.empty()) return std::nullopt;  // damaged: the general decoder says why
  a.ts_ms = *ts;
  return a;
}

std::optional<MetadataEntry> metadata(std::string_view text, const ObjectPath& task) {
  Object& o = scratch();
  if (!o.parse(text)) return std::nullopt;
  MetadataEntry m;
  m.task = task;
  auto ts = ts_of(o);
  if (!ts || !text_of(o, "field_name", m.field_name) || !text_of(o, "value", m.value) || !text_of(o, "type", m.type) ||
      !text_of(o, "user_name", m.user_name) || !strings_of(o, "tags", m.tags))
    return std::nullopt;
  m.ts_ms = *ts;
  if (const Field* id = o.find("id")) {
    if (id->kind == Field::kOther) return std::nullopt;
    if (id->kind == Field::kInt) m.id = id->number;
  }
  return m;
}

std::optional<std::optional<int>> attempt_done(std::string_view text) {
  Object& o = scratch();
  std::string v;
  if (!o.parse(text) || !text_of(o, "value", v)) return std::nullopt;
  try {
    size_t used = 0;
    int n = std::stoi(v, &used);
    if (used == v.size() && n >= 0) return std::optional<int>(n);
  } catch (const std::exception&) {
  }
  return std::optional<int>();
}

}  // namespace mfsql::flat_json
