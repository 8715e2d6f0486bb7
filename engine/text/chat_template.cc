#include "engine/text/chat_template.h"

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include "engine/core/error.h"
#include "engine/text/jinja/builtins.h"

namespace ember::text {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) fail("{}: cannot open", p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

jinja::Value read_json(const std::filesystem::path& p) {
  try {
    return jinja::from_json(read_file(p));
  } catch (const Error& e) {
    fail("{}: {}", p.string(), e.what());
  }
}

std::optional<std::string> token_text(const jinja::Value& config, const char* key) {
  const jinja::Value* v = config.dict_data().find(jinja::Value(key));
  if (!v) return std::nullopt;
  if (v->is_string()) return v->as_string();
  if (v->is_dict())
    if (const jinja::Value* c = v->dict_data().find(jinja::Value("content")); c && c->is_string())
      return c->as_string();
  return std::nullopt;
}

SpecialTokens tokens_from_config(const jinja::Value& config) {
  return SpecialTokens{token_text(config, "bos_token"), token_text(config, "eos_token"),
                       token_text(config, "unk_token"), token_text(config, "pad_token")};
}

// tokenizer_config.json's chat_template: a string, or named templates of which "default" is used.
std::optional<std::string> template_from_config(const jinja::Value& config, const std::string& where) {
  const jinja::Value* t = config.dict_data().find(jinja::Value("chat_template"));
  if (!t || t->is_none()) return std::nullopt;
  if (t->is_string()) return t->as_string();
  if (t->is_list()) {
    for (const auto& entry : t->items()) {
      if (!entry.is_dict()) continue;
      const jinja::Value* name = entry.dict_data().find(jinja::Value("name"));
      const jinja::Value* body = entry.dict_data().find(jinja::Value("template"));
      if (name && body && name->is_string() && body->is_string() && name->as_string() == "default")
        return body->as_string();
    }
    fail("{}: chat_template lists several templates but none named \"default\"", where);
  }
  fail("{}: chat_template must be a string or a list of {{name, template}}", where);
}

std::tm fixed_time(const std::string& date) {
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  int n = std::sscanf(date.c_str(), "%d-%d-%d%*[T ]%d:%d:%d", &y, &mo, &d, &h, &mi, &s);
  if (n != 3 && n != 6) fail("template date '{}': expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS", date);
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  std::time_t t = timegm(&tm);  // fills in weekday and day of year
  std::tm out{};
  gmtime_r(&t, &out);
  return out;
}

std::tm now_time(const std::string& date) {
  if (!date.empty()) return fixed_time(date);
  if (const char* e = std::getenv("EMBER_TEMPLATE_DATE"); e && *e) return fixed_time(e);
  std::time_t t = std::time(nullptr);
  std::tm out{};
  localtime_r(&t, &out);
  return out;
}

std::string message_text(const jinja::Value& content) {
  if (content.is_string()) return content.as_string();
  if (content.is_list()) {
    std::string out;
    for (const auto& part : content.items()) {
      if (part.is_string()) out += part.as_string();
      else if (part.is_dict())
        if (const jinja::Value* t = part.dict_data().find(jinja::Value("text")); t && t->is_string()) out += t->as_string();
    }
    return out;
  }
  return content.is_none() || content.is_undefined() ? "" : jinja::to_str(content);
}

}  // namespace

ChatTemplate ChatTemplate::from_source(std::string source, SpecialTokens tokens) {
  ChatTemplate t;
  t.template_ = std::make_shared<jinja::Template>(source);
  t.source_ = std::move(source);
  t.tokens_ = std::move(tokens);
  return t;
}

ChatTemplate ChatTemplate::from_tokenizer_config(const std::filesystem::path& file) {
  jinja::Value config = read_json(file);
  if (!config.is_dict()) fail("{}: expected a JSON object", file.string());
  auto source = template_from_config(config, file.string());
  if (!source) fail("{}: no chat_template", file.string());
  return from_source(std::move(*source), tokens_from_config(config));
}

ChatTemplate ChatTemplate::from_model_dir(const std::filesystem::path& dir) {
  SpecialTokens tokens;
  std::optional<std::string> source;
  const auto config_path = dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    jinja::Value config = read_json(config_path);
    if (!config.is_dict()) fail("{}: expected a JSON object", config_path.string());
    tokens = tokens_from_config(config);
    source = template_from_config(config, config_path.string());
  }
  if (std::filesystem::exists(dir / "chat_template.jinja")) {
    source = read_file(dir / "chat_template.jinja");
  } else if (std::filesystem::exists(dir / "chat_template.json")) {
    jinja::Value j = read_json(dir / "chat_template.json");
    if (!j.is_dict()) fail("{}: expected a JSON object", (dir / "chat_template.json").string());
    if (auto s = template_from_config(j, (dir / "chat_template.json").string())) source = std::move(s);
  }
  if (!source) {
    ChatTemplate t;
    t.tokens_ = std::move(tokens);
    return t;
  }
  try {
    return from_source(std::move(*source), std::move(tokens));
  } catch (const jinja::TemplateError& e) {
    fail("{}: {}", dir.string(), e.what());
  }
}

std::string ChatTemplate::render(const jinja::Value& messages, const ChatRenderOptions& options) const {
  if (!template_) return render_plain_chat(messages, options.add_generation_prompt);
  using jinja::Value;
  Value vars = Value::dict();
  auto& d = vars.dict_data();
  if (options.extra.is_dict())
    for (const auto& [k, v] : options.extra.dict_data().items) d.set(k, v);
  d.set(Value("messages"), messages);
  d.set(Value("tools"), options.tools);
  d.set(Value("documents"), Value::none());
  d.set(Value("add_generation_prompt"), Value(options.add_generation_prompt));
  auto token = [&](const char* name, const std::optional<std::string>& t) {
    if (t) d.set(Value(name), Value(*t));
  };
  token("bos_token", tokens_.bos);
  token("eos_token", tokens_.eos);
  token("unk_token", tokens_.unk);
  token("pad_token", tokens_.pad);
  d.set(Value("raise_exception"), Value::function("raise_exception", [](jinja::CallArgs& a) -> Value {
          const Value* m = a.get(0, "message");
          throw jinja::TemplateRaise(m ? jinja::to_str(*m) : std::string());
        }));
  std::tm now = now_time(options.date);
  d.set(Value("strftime_now"), Value::function("strftime_now", [now](jinja::CallArgs& a) -> Value {
          const Value* f = a.get(0, "format");
          if (!f || !f->is_string()) jinja::runtime_error("strftime_now() argument must be str");
          if (f->as_string().size() > 256) jinja::runtime_error("strftime_now() format too long");
          std::string buf(4096, '\0');
          size_t n = std::strftime(buf.data(), buf.size(), f->as_string().c_str(), &now);
          buf.resize(n);
          return Value(buf);
        }));
  return template_->render(vars, options.limits);
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options) const {
  return render(messages_value(messages), options);
}

jinja::Value messages_value(const std::vector<ChatMessage>& messages) {
  std::vector<jinja::Value> list;
  for (const auto& m : messages) {
    jinja::Value d = jinja::Value::dict();
    d.dict_data().set(jinja::Value("role"), jinja::Value(m.role));
    d.dict_data().set(jinja::Value("content"), jinja::Value(m.content));
    list.push_back(std::move(d));
  }
  return jinja::Value::list(std::move(list));
}

std::string render_plain_chat(const jinja::Value& messages, bool add_generation_prompt) {
  std::string out;
  for (const auto& m : jinja::iterate(messages)) {
    if (!m.is_dict()) fail("chat message must be an object, got {}", m.type_name());
    const jinja::Value* role = m.dict_data().find(jinja::Value("role"));
    const jinja::Value* content = m.dict_data().find(jinja::Value("content"));
    out += role ? jinja::to_str(*role) : std::string("user");
    out += ": ";
    out += content ? message_text(*content) : std::string();
    out += "\n";
  }
  if (add_generation_prompt) out += "assistant: ";
  return out;
}

}  // namespace ember::text
