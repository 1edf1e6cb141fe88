#include "bipeft/train/run_state.h"

#include <cstring>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "bipeft/core/error.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/safetensors.h"

namespace bipeft::train {

Checkpointing Checkpointing::at(const std::string& dir, const std::string& state_file, int64_t every, bool resume) {
  Checkpointing ck;
  ck.path = io::join_path(dir, state_file);
  ck.every = every;
  ck.resume = resume;
  return ck;
}

namespace {

constexpr const char* kStateKey = "bipeft_state";

at::Tensor bytes_tensor(const std::string& bytes) {
  auto t = at::empty({static_cast<int64_t>(bytes.size())}, at::kByte);
  if (!bytes.empty()) std::memcpy(t.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  return t;
}

// The save count of this process, and the fault-injection seam (set_save_fault_hook).
int g_saves = 0;
SaveFaultHook g_fault_hook;

}  // namespace

void RunState::put(const std::string& name, const at::Tensor& t) {
  tensors_[name] = t.detach().to(at::kCPU).contiguous().clone();
}

at::Tensor RunState::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    throw FormatError(source_ + ": the " + kind_ + " state has no entry '" + name +
                      "'; the file is damaged or from another bipeft version: start the run again");
  return it->second;
}

void RunState::put_list(const std::string& prefix, const std::vector<at::Tensor>& ts) {
  meta["lists"][prefix] = ts.size();
  for (size_t i = 0; i < ts.size(); ++i) put(prefix + "." + std::to_string(i), ts[i]);
}

std::vector<at::Tensor> RunState::get_list(const std::string& prefix) const {
  if (!meta.contains("lists") || !meta["lists"].contains(prefix))
    throw FormatError(source_ + ": the " + kind_ + " state has no list '" + prefix + "'; start the run again");
  const auto n = meta["lists"][prefix].get<size_t>();
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < n; ++i) out.push_back(get(prefix + "." + std::to_string(i)));
  return out;
}

void RunState::copy_list_into(const std::string& prefix, std::vector<at::Tensor>& dst) const {
  auto src = get_list(prefix);
  if (src.size() != dst.size())
    throw FormatError(source_ + ": '" + prefix + "' holds " + std::to_string(src.size()) + " tensors, the run has " +
                      std::to_string(dst.size()) + "; the options or the model differ from the saved run");
  at::NoGradGuard ng;
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i].sizes() != dst[i].sizes() || src[i].scalar_type() != dst[i].scalar_type())
      throw FormatError(source_ + ": '" + prefix + "." + std::to_string(i) + "' has shape " +
                        c10::str(src[i].sizes()) + ", the run has " + c10::str(dst[i].sizes()) +
                        "; the options or the model differ from the saved run");
    dst[i].copy_(src[i]);
  }
}

void RunState::put_grad_presence(const std::string& name, const std::vector<at::Tensor>& params) {
  std::vector<bool> present;
  for (const auto& p : params) present.push_back(p.grad().defined());
  meta["grads"][name] = present;
}

void RunState::restore_grad_presence(const std::string& name, std::vector<at::Tensor>& params) const {
  if (!meta.contains("grads") || !meta["grads"].contains(name))
    throw FormatError(source_ + ": the " + kind_ + " state has no gradient record '" + name + "'; start the run again");
  const auto present = meta["grads"][name].get<std::vector<bool>>();
  if (present.size() != params.size())
    throw FormatError(source_ + ": gradient record '" + name + "' covers " + std::to_string(present.size()) +
                      " tensors, the run has " + std::to_string(params.size()));
  for (size_t i = 0; i < params.size(); ++i)
    if (present[i]) params[i].mutable_grad() = at::zeros_like(params[i]);
}

void RunState::put_params(const std::string& name, const std::vector<at::Tensor>& params) {
  put_list(name, params);
  put_grad_presence(name, params);
}

void RunState::restore_params(const std::string& name, std::vector<at::Tensor>& params) const {
  copy_list_into(name, params);
  restore_grad_presence(name, params);
}

void RunState::put_default_generators(const c10::Device& device) {
  put_generator("rng_cpu", default_generator(c10::Device(c10::kCPU)));
  if (device.is_cuda()) put_generator("rng_device", default_generator(device));
}

void RunState::restore_default_generators(const c10::Device& device) const {
  auto cpu = default_generator(c10::Device(c10::kCPU));
  get_generator("rng_cpu", cpu);
  if (device.is_cuda()) {
    auto dev = default_generator(device);
    get_generator("rng_device", dev);
  }
}

void RunState::put_optimizer(const std::string& name, torch::optim::Optimizer& opt) {
  torch::serialize::OutputArchive ar;
  opt.save(ar);
  std::ostringstream os;
  ar.save_to(os);
  put(name, bytes_tensor(os.str()));
}

void RunState::get_optimizer(const std::string& name, torch::optim::Optimizer& opt) const {
  auto bytes = get(name);
  c10::optional<c10::Device> device;
  if (!opt.param_groups().empty() && !opt.param_groups().front().params().empty())
    device = opt.param_groups().front().params().front().device();
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(bytes.numel()), device);
    opt.load(ar);
  } catch (const c10::Error& e) {
    throw FormatError(source_ + ": cannot restore the optimizer state '" + name + "' (" +
                      std::string(e.what_without_backtrace()).substr(0, 200) + "); start the run again");
  }
}

void RunState::put_generator(const std::string& name, const at::Generator& gen) {
  put(name, gen.get_state());
}

void RunState::get_generator(const std::string& name, at::Generator& gen) const {
  auto s = get(name);
  try {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(s);
  } catch (const c10::Error& e) {
    throw FormatError(source_ + ": cannot restore the generator state '" + name + "' (" +
                      std::string(e.what_without_backtrace()).substr(0, 200) + ")");
  }
}

void RunState::save(const std::string& path) const {
  io::NamedTensors named(tensors_.begin(), tensors_.end());
  nlohmann::json doc = {{"kind", kind_}, {"meta", meta}};
  const std::string bytes = io::safetensors_bytes(named, {{"format", "pt"}, {kStateKey, doc.dump()}});
  ++g_saves;
  io::AtomicFile f(path);
  if (g_fault_hook) {
    const size_t half = bytes.size() / 2;
    f.write(bytes.data(), half);
    g_fault_hook(g_saves);
    f.write(bytes.data() + half, bytes.size() - half);
  } else {
    f.write(bytes);
  }
  f.commit();
}

void set_save_fault_hook(SaveFaultHook hook) { g_fault_hook = std::move(hook); }

RunState RunState::load(const std::string& path, const std::string& kind) {
  auto reader = io::SafetensorsReader::open(path);
  auto it = reader.metadata().find(kStateKey);
  if (it == reader.metadata().end())
    throw FormatError(path + ": not a bipeft run state (no '" + std::string(kStateKey) + "' metadata)");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path + ": the run-state metadata is not valid JSON (" + e.what() + ")");
  }
  if (!doc.is_object() || doc.value("kind", "") != kind || !doc.contains("meta") || !doc["meta"].is_object())
    throw FormatError(path + ": holds a '" + (doc.is_object() ? doc.value("kind", "?") : std::string("?")) +
                      "' state, expected '" + kind + "'");
  RunState s(kind);
  s.source_ = path;
  s.meta = doc["meta"];
  for (auto& [name, t] : reader.load_all()) s.tensors_[name] = t;
  return s;
}

at::Generator default_generator(const c10::Device& device) {
  return at::globalContext().defaultGenerator(device.is_cuda() ? device : c10::Device(c10::kCPU));
}

void rewind_log(const std::string& log, const std::string& state, const std::string& kind) {
  if (!io::is_file(state)) {
    io::write_file_atomic(log, "");
    return;
  }
  const int64_t step = train::RunState::load(state, kind).meta.at("step").get<int64_t>();
  std::string kept;
  bool found = false;
  if (io::is_file(log)) {
    std::istringstream in(io::read_file(log));
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      nlohmann::json e = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      kept += line + "\n";
      if (e.is_object() && e.value("event", "") == "checkpoint" && e.value("step", int64_t{-1}) == step) {
        found = true;
        break;
      }
    }
  }
  if (!found)
    throw FormatError(log + ": has no checkpoint event for step " + std::to_string(step) + " of " + state +
                      "; the log was edited or lost. Move it aside to resume without it");
  io::write_file_atomic(log, kept);
}

}  // namespace bipeft::train
