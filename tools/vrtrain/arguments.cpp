// The shared argument reader (see arguments.h).
#include "vrtrain/arguments.h"

#include <cstdio>
#include <memory>

#include "vr/train/run_config.h"

namespace vr::cli {

namespace {

// CLI11's formatter with vrtrain's layout: description, a blank line, the usage line(s), options, footer.
class Formatter : public CLI::Formatter {
 public:
  std::string usage;  // empty: "<name> [OPTIONS] <positionals>"

  std::string make_description(const CLI::App* app) const override {
    const std::string d = app->get_description();
    return d.empty() ? std::string() : d + (d.back() == '\n' ? "\n" : "\n\n");
  }
  std::string make_usage(const CLI::App* app, std::string name) const override {
    if (usage.empty()) return CLI::Formatter::make_usage(app, std::move(name));
    // Continuation lines line up under the first form.
    std::string out = "Usage: ";
    for (char c : usage) out += c == '\n' ? std::string("\n       ") : std::string(1, c);
    return out + "\n";
  }
};

// CLI::App can be neither copied nor moved, so make_app returns a freshly constructed one (a prvalue) and the
// rest of the set-up happens on first use (set_usage or parse): the footer travels in the description behind
// this separator until then.
constexpr char kFooterMark = '\x1f';

Formatter& configure(CLI::App& app) {
  if (auto f = std::dynamic_pointer_cast<Formatter>(app.get_formatter())) return *f;
  const std::string d = app.get_description();
  const size_t mark = d.find(kFooterMark);
  if (mark != std::string::npos) {
    app.description(d.substr(0, mark));
    if (mark + 1 < d.size()) app.footer(d.substr(mark + 1));
  }
  auto f = std::make_shared<Formatter>();
  f->column_width(30);
  app.formatter(f);
  return *f;
}

}  // namespace

CLI::App make_app(const std::string& command, const std::string& description, const std::string& footer) {
  const std::string name = "vrtrain " + command;
  // Every help starts "vrtrain <command>: ..." (added where the description does not say it itself).
  const std::string head = description.rfind(name + ":", 0) == 0 ? description : name + ": " + description;
  return CLI::App{head + kFooterMark + footer, name};  // -h,--help: CLI11's own help flag
}

void set_usage(CLI::App& app, const std::string& usage) { configure(app).usage = usage; }

std::optional<int> parse(CLI::App& app, const std::vector<std::string>& args) {
  // CLI11 parses a reversed vector (it pops from the back).
  configure(app);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    // CLI11 checks required flags before unknown ones; an unknown flag is the likelier mistake, so name it.
    const std::vector<std::string> unknown = app.get_allow_extras() ? std::vector<std::string>{} : app.remaining();
    if (!unknown.empty()) {
      std::string list;
      for (const auto& a : unknown) list += (list.empty() ? "" : " ") + a;
      return usage_error(app, (unknown.size() == 1 ? "The following argument was not expected: "
                                                   : "The following arguments were not expected: ") + list);
    }
    return usage_error(app, e.what());
  }
  return std::nullopt;
}

int usage_error(const CLI::App& app, const std::string& what) {
  std::fprintf(stderr, "%s: error: %s (see `%s --help`)\n", app.get_name().c_str(), what.c_str(),
               app.get_name().c_str());
  std::fflush(stderr);
  return kExitUsage;
}

CLI::Option* add_int_option(CLI::App& app, const std::string& name, int64_t& value, const std::string& help) {
  CLI::Option* opt = app.add_option_function<std::string>(name, [&value, name](const std::string& s) {
    // The long name as typed on the command line, for the message.
    std::string flag = name.substr(name.rfind(',') == std::string::npos ? 0 : name.rfind(',') + 1);
    size_t used = 0;
    try {
      value = std::stoll(s, &used);
    } catch (const std::exception&) {
      used = std::string::npos;
    }
    if (used != s.size()) throw CLI::ValidationError(flag + " needs an integer, got '" + s + "'");
  }, help);
  return opt->type_name("N");
}

void add_config_flags(CLI::App& app, ConfigFlags& flags) {
  app.add_option("--config", flags.files, "YAML run config (repeatable: later files override earlier ones)")
      ->type_name("FILE")
      ->allow_extra_args(false)
      ->check(CLI::ExistingFile.description(""));  // no ":FILE" after the type name in --help
  app.add_option("--set", flags.sets, "override one config key, repeatable (e.g. --set train.max_steps=20)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
}

void apply_config_flags(vr::train::RunConfig& cfg, const ConfigFlags& flags, const std::vector<std::string>& extra) {
  for (const auto& f : flags.files) vr::train::load_run_config_file(cfg, f);
  std::vector<std::string> assignments = flags.sets;
  assignments.insert(assignments.end(), extra.begin(), extra.end());
  vr::train::apply_run_overrides(cfg, assignments);
  cfg.validate();
}

vr::train::RunConfig load_run_config(const ConfigFlags& flags, const std::vector<std::string>& extra) {
  vr::train::RunConfig cfg;
  apply_config_flags(cfg, flags, extra);
  return cfg;
}

}  // namespace vr::cli
